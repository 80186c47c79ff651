package simulated

import (
	"strconv"
	"time"
)

// Annotations that script what simulated containers do. Each may also be
// given for one container by appending "." and the container's name
// ("sim.skiff.dev/exit-code.worker"), which wins over the pod-wide value.
// Pod-wide values apply to regular containers and sidecars; regular init
// containers follow only their per-container values and otherwise complete
// at once with exit code 0.
const (
	// AnnotationRunDuration: containers exit after running this long (a
	// Go duration, "2s"). Unset: they run until stopped, unless
	// AnnotationExitCode is set, in which case they exit at once.
	AnnotationRunDuration = "sim.skiff.dev/run-duration"
	// AnnotationExitCode: the code containers exit with ("0" lets a Job
	// succeed, "1" fails it). Unset: 0.
	AnnotationExitCode = "sim.skiff.dev/exit-code"
	// AnnotationReady: "false" keeps containers unready for ever.
	AnnotationReady = "sim.skiff.dev/ready"
	// AnnotationReadyAfter: containers become ready this long after they
	// start (a Go duration).
	AnnotationReadyAfter = "sim.skiff.dev/ready-after"
	// AnnotationPullError: image pulls fail with this message (images
	// count as present, so only pull policy Always pulls).
	AnnotationPullError = "sim.skiff.dev/pull-error"
)

// behaviour is what one simulated container does once started.
type behaviour struct {
	// runFor is how long it runs before exiting on its own; negative:
	// until stopped.
	runFor   time.Duration
	exitCode int32
}

// lookup returns the per-container value of key, else the pod-wide one
// (unless podWide is false).
func lookup(annotations map[string]string, key, container string, podWide bool) (string, bool) {
	if v, ok := annotations[key+"."+container]; ok {
		return v, true
	}
	if !podWide {
		return "", false
	}
	v, ok := annotations[key]
	return v, ok
}

// behaviourFor reads a container's behaviour from its pod's annotations.
// Unparsable values count as unset: a typo never stops a pod from running.
func behaviourFor(annotations map[string]string, container string, regularInit bool) behaviour {
	b := behaviour{runFor: -1}
	if regularInit {
		b.runFor = 0
	}
	podWide := !regularInit
	code, codeSet := lookup(annotations, AnnotationExitCode, container, podWide)
	if n, err := strconv.ParseInt(code, 10, 32); codeSet && err == nil {
		b.exitCode = int32(n)
		b.runFor = 0
	}
	if v, ok := lookup(annotations, AnnotationRunDuration, container, podWide); ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			b.runFor = d
		}
	}
	return b
}

// readiness reads when a started container becomes ready: never
// (ok false), or after delay.
func readiness(annotations map[string]string, container string) (delay time.Duration, ok bool) {
	if v, set := lookup(annotations, AnnotationReady, container, true); set {
		if ready, err := strconv.ParseBool(v); err == nil && !ready {
			return 0, false
		}
	}
	if v, set := lookup(annotations, AnnotationReadyAfter, container, true); set {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d, true
		}
	}
	return 0, true
}
