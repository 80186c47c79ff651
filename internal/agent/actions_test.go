package agent

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func noBackOff(string, time.Time) (time.Duration, time.Duration) { return 0, 10 * time.Second }

func inBackOff(string, time.Time) (time.Duration, time.Duration) {
	return 3 * time.Second, 10 * time.Second
}

func TestComputePodActions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pod        *corev1.Pod
		noSandbox  bool
		sandbox    *SandboxStatus
		containers []ContainerStatus
		backOff    backOffFunc
		notStarted bool // the prober says running containers have not started
		wantCreate bool
		wantStart  []string
		wantStop   []string
		wantWait   []string
		wantRetry  time.Duration
	}{{
		name:       "new pod: sandbox and all containers",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "a", "b"),
		noSandbox:  true,
		wantCreate: true,
		wantStart:  []string{"a", "b"},
	}, {
		name:       "new pod with init containers: sandbox and the first init container",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1"), initC("i2")}, "app"),
		noSandbox:  true,
		wantCreate: true,
		wantStart:  []string{"i1"},
	}, {
		name:       "first init container done: the second",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1"), initC("i2")}, "app"),
		containers: []ContainerStatus{exited("i1", 0, 0)},
		wantStart:  []string{"i2"},
	}, {
		name:       "init container running: wait",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1")}, "app"),
		containers: []ContainerStatus{running("i1", 0)},
	}, {
		name:       "init containers done: regular containers",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1")}, "app"),
		containers: []ContainerStatus{exited("i1", 0, 0)},
		wantStart:  []string{"app"},
	}, {
		name:       "init container failed, Never: the pod is over",
		pod:        testPod(corev1.RestartPolicyNever, []corev1.Container{initC("i1")}, "app"),
		containers: []ContainerStatus{exited("i1", 0, 1)},
	}, {
		name:       "init container failed, OnFailure: retried",
		pod:        testPod(corev1.RestartPolicyOnFailure, []corev1.Container{initC("i1")}, "app"),
		containers: []ContainerStatus{exited("i1", 0, 1)},
		wantStart:  []string{"i1"},
	}, {
		name:       "init container failed, in back-off",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1")}, "app"),
		containers: []ContainerStatus{exited("i1", 0, 1)},
		backOff:    inBackOff,
		wantWait:   []string{"i1"},
		wantRetry:  3 * time.Second,
	}, {
		name:       "Always: exited 0 restarts",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "app"),
		containers: []ContainerStatus{exited("app", 0, 0)},
		wantStart:  []string{"app"},
	}, {
		name:       "Always: in back-off waits",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "app"),
		containers: []ContainerStatus{exited("app", 0, 1)},
		backOff:    inBackOff,
		wantWait:   []string{"app"},
		wantRetry:  3 * time.Second,
	}, {
		name:       "OnFailure: exited 0 stays down",
		pod:        testPod(corev1.RestartPolicyOnFailure, nil, "app"),
		containers: []ContainerStatus{exited("app", 0, 0)},
	}, {
		name:       "OnFailure: exited 1 restarts",
		pod:        testPod(corev1.RestartPolicyOnFailure, nil, "app"),
		containers: []ContainerStatus{exited("app", 0, 1)},
		wantStart:  []string{"app"},
	}, {
		name:       "Never: exited 1 stays down",
		pod:        testPod(corev1.RestartPolicyNever, nil, "a", "b"),
		containers: []ContainerStatus{exited("a", 0, 1), running("b", 0)},
	}, {
		name:       "sidecar first, then the next init container once it started",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{sidecarC("proxy"), initC("i1")}, "app"),
		containers: []ContainerStatus{running("proxy", 0)},
		wantStart:  []string{"i1"},
	}, {
		name:       "sidecar running but not started: wait",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{sidecarC("proxy"), initC("i1")}, "app"),
		containers: []ContainerStatus{running("proxy", 0)},
		notStarted: true,
	}, {
		name:       "sidecar died after initialization: restarted beside the app",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{sidecarC("proxy")}, "app"),
		containers: []ContainerStatus{exited("proxy", 0, 1), running("app", 0)},
		wantStart:  []string{"proxy"},
	}, {
		name:       "regular containers done for good: sidecars stop",
		pod:        testPod(corev1.RestartPolicyNever, []corev1.Container{sidecarC("proxy")}, "app"),
		containers: []ContainerStatus{running("proxy", 0), exited("app", 0, 0)},
		wantStop:   []string{"proxy"},
	}, {
		name:       "sandbox gone, Never, containers ran: no new sandbox",
		pod:        testPod(corev1.RestartPolicyNever, nil, "app"),
		sandbox:    &SandboxStatus{ID: "sb", State: SandboxNotReady},
		containers: []ContainerStatus{exited("app", 0, 0)},
	}, {
		name:       "sandbox gone, Always: everything again in a new one",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1")}, "app"),
		sandbox:    &SandboxStatus{ID: "sb", State: SandboxNotReady},
		containers: []ContainerStatus{exited("i1", 0, 0), exited("app", 0, 0)},
		wantCreate: true,
		wantStart:  []string{"i1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var sandboxes []SandboxStatus
			switch {
			case tc.sandbox != nil:
				sandboxes = []SandboxStatus{*tc.sandbox}
			case !tc.noSandbox:
				sandboxes = []SandboxStatus{*readySandbox}
			}
			backOff := tc.backOff
			if backOff == nil {
				backOff = noBackOff
			}
			a := computePodActions(tc.pod, newPodState(sandboxes, tc.containers), backOff, func(*ContainerStatus) bool { return !tc.notStarted })
			if a.createSandbox != tc.wantCreate {
				t.Errorf("createSandbox = %v, want %v", a.createSandbox, tc.wantCreate)
			}
			var start, stop, wait []string
			for _, c := range a.start {
				start = append(start, c.Name)
			}
			for _, c := range a.stop {
				stop = append(stop, c.Name)
			}
			for name, w := range a.waiting {
				wait = append(wait, name)
				if w.Reason != ReasonCrashLoopBackOff || w.Message != "back-off 10s restarting failed container="+name+" pod=p_ns(uid-1)" {
					t.Errorf("waiting = %+v", w)
				}
			}
			slices.Sort(wait)
			if !slices.Equal(start, tc.wantStart) || !slices.Equal(stop, tc.wantStop) || !slices.Equal(wait, tc.wantWait) {
				t.Errorf("start %v stop %v wait %v; want start %v stop %v wait %v", start, stop, wait, tc.wantStart, tc.wantStop, tc.wantWait)
			}
			if a.retryAfter != tc.wantRetry {
				t.Errorf("retryAfter = %v, want %v", a.retryAfter, tc.wantRetry)
			}
		})
	}
}

func TestShouldRestartDeletedPod(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	pod.DeletionTimestamp = &metav1.Time{Time: now}
	if shouldRestart(pod, nil) {
		t.Error("a deleted pod's containers must not start")
	}
}

func TestNextAttempt(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	if got := nextAttempt(pod, "app", nil); got != 0 {
		t.Errorf("first instance: attempt %d, want 0", got)
	}
	cur := exited("app", 4, 1)
	if got := nextAttempt(pod, "app", &cur); got != 5 {
		t.Errorf("after attempt 4: %d, want 5", got)
	}
	// The runtime lost the containers; the API remembers three restarts.
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 3,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	if got := nextAttempt(pod, "app", nil); got != 4 {
		t.Errorf("after a lost runtime: %d, want 4", got)
	}
}
