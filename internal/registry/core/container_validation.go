package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// notForPlainInitMsg is upstream's message for probes and lifecycle hooks
// on init containers that are not sidecars.
const notForPlainInitMsg = "may not be set for init containers without restartPolicy=Always"

func validateContainers(containers []corev1.Container, vols map[string]corev1.VolumeSource, grace *int64, fldPath *field.Path) field.ErrorList {
	if len(containers) == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	names := map[string]bool{}
	for i := range containers {
		c := &containers[i]
		idxPath := fldPath.Index(i)
		allErrs = append(allErrs, validateContainerCommon(c, vols, idxPath)...)
		// Collisions with init container names are reported on the init
		// container, so each duplicate is reported once.
		if names[c.Name] {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), c.Name))
		}
		names[c.Name] = true
		if c.RestartPolicy != nil {
			allErrs = append(allErrs, field.Forbidden(idxPath.Child("restartPolicy"), "may not be set for non-init containers"))
		}
		allErrs = append(allErrs, validateContainerProbes(c, grace, idxPath)...)
	}
	return append(allErrs, validateHostPortConflicts(containers, fldPath)...)
}

func validateInitContainers(inits, regular []corev1.Container, vols map[string]corev1.VolumeSource, grace *int64, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names := map[string]bool{}
	for _, c := range regular {
		names[c.Name] = true
	}
	for i := range inits {
		c := &inits[i]
		idxPath := fldPath.Index(i)
		allErrs = append(allErrs, validateContainerCommon(c, vols, idxPath)...)
		if names[c.Name] {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), c.Name))
		}
		if c.Name != "" {
			names[c.Name] = true
		}
		sidecar := false
		if c.RestartPolicy != nil {
			if *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				sidecar = true
			} else {
				allErrs = append(allErrs, field.NotSupported(idxPath.Child("restartPolicy"), *c.RestartPolicy,
					[]corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
			}
		}
		if sidecar {
			allErrs = append(allErrs, validateContainerProbes(c, grace, idxPath)...)
			continue
		}
		// Plain init containers run to completion: probes and hooks have no
		// meaning for them.
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"lifecycle", c.Lifecycle != nil}, {"livenessProbe", c.LivenessProbe != nil},
			{"readinessProbe", c.ReadinessProbe != nil}, {"startupProbe", c.StartupProbe != nil},
		} {
			if f.set {
				allErrs = append(allErrs, field.Forbidden(idxPath.Child(f.name), notForPlainInitMsg))
			}
		}
	}
	return append(allErrs, validateHostPortConflicts(inits, fldPath)...)
}

// validateContainerCommon checks what every kind of container shares.
func validateContainerCommon(c *corev1.Container, vols map[string]corev1.VolumeSource, idxPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if c.Name == "" {
		allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateDNS1123Label(c.Name, idxPath.Child("name"))...)
	}
	if c.Image == "" {
		allErrs = append(allErrs, field.Required(idxPath.Child("image"), ""))
	}
	switch c.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	case "":
		allErrs = append(allErrs, field.Required(idxPath.Child("imagePullPolicy"), ""))
	default:
		valid := []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
		allErrs = append(allErrs, field.NotSupported(idxPath.Child("imagePullPolicy"), c.ImagePullPolicy, valid))
	}
	switch c.TerminationMessagePolicy {
	case corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError:
	case "":
		allErrs = append(allErrs, field.Required(idxPath.Child("terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'"))
	default:
		allErrs = append(allErrs, field.Invalid(idxPath.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, "must be 'File' or 'FallbackToLogsOnError'"))
	}
	allErrs = append(allErrs, validateContainerPorts(c.Ports, idxPath.Child("ports"))...)
	allErrs = append(allErrs, validateEnv(c.Env, idxPath.Child("env"))...)
	allErrs = append(allErrs, validateEnvFrom(c.EnvFrom, idxPath.Child("envFrom"))...)
	allErrs = append(allErrs, validateVolumeMounts(c.VolumeMounts, vols, idxPath.Child("volumeMounts"))...)
	allErrs = append(allErrs, validateResourceRequirements(&c.Resources, idxPath.Child("resources"))...)
	return allErrs
}

func validateContainerPorts(ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names := map[string]bool{}
	for i, p := range ports {
		idxPath := fldPath.Index(i)
		if p.Name != "" {
			if msgs := validation.IsValidPortName(p.Name); len(msgs) != 0 {
				for _, msg := range msgs {
					allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), p.Name, msg))
				}
			} else if names[p.Name] {
				allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), p.Name))
			} else {
				names[p.Name] = true
			}
		}
		if p.ContainerPort == 0 {
			allErrs = append(allErrs, field.Required(idxPath.Child("containerPort"), ""))
		} else {
			allErrs = append(allErrs, validatePortNum(p.ContainerPort, idxPath.Child("containerPort"))...)
		}
		if p.HostPort != 0 {
			allErrs = append(allErrs, validatePortNum(p.HostPort, idxPath.Child("hostPort"))...)
		}
		allErrs = append(allErrs, validateProtocol(p.Protocol, idxPath.Child("protocol"))...)
	}
	return allErrs
}

// validateHostPortConflicts rejects two ports in one pod claiming the same
// host port, protocol and host IP: the node could bind only one of them.
func validateHostPortConflicts(containers []corev1.Container, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := map[string]bool{}
	for ci, c := range containers {
		for pi, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", p.Protocol, p.HostIP, p.HostPort)
			if seen[key] {
				allErrs = append(allErrs, field.Duplicate(fldPath.Index(ci).Child("ports").Index(pi).Child("hostPort"), key))
			}
			seen[key] = true
		}
	}
	return allErrs
}

func validateContainerProbes(c *corev1.Container, grace *int64, idxPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if c.Lifecycle != nil {
		allErrs = append(allErrs, validateLifecycle(c.Lifecycle, grace, idxPath.Child("lifecycle"))...)
	}
	allErrs = append(allErrs, validateProbe(c.LivenessProbe, idxPath.Child("livenessProbe"))...)
	allErrs = append(allErrs, validateProbe(c.ReadinessProbe, idxPath.Child("readinessProbe"))...)
	allErrs = append(allErrs, validateProbe(c.StartupProbe, idxPath.Child("startupProbe"))...)
	// Liveness and startup probes act on the first failure/success, so more
	// than one success in a row has no meaning for them.
	if p := c.LivenessProbe; p != nil && p.SuccessThreshold != 1 {
		allErrs = append(allErrs, field.Invalid(idxPath.Child("livenessProbe", "successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	if p := c.StartupProbe; p != nil && p.SuccessThreshold != 1 {
		allErrs = append(allErrs, field.Invalid(idxPath.Child("startupProbe", "successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	if p := c.ReadinessProbe; p != nil && p.TerminationGracePeriodSeconds != nil {
		allErrs = append(allErrs, field.Invalid(idxPath.Child("readinessProbe", "terminationGracePeriodSeconds"), *p.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
	}
	return allErrs
}

func validateProbe(p *corev1.Probe, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	h := handlers{exec: p.Exec, httpGet: p.HTTPGet, tcpSocket: p.TCPSocket, grpc: p.GRPC}
	allErrs := validateHandler(h, nil, fldPath)
	allErrs = append(allErrs, validateNonnegative(int64(p.InitialDelaySeconds), fldPath.Child("initialDelaySeconds"))...)
	allErrs = append(allErrs, validateNonnegative(int64(p.TimeoutSeconds), fldPath.Child("timeoutSeconds"))...)
	allErrs = append(allErrs, validateNonnegative(int64(p.PeriodSeconds), fldPath.Child("periodSeconds"))...)
	allErrs = append(allErrs, validateNonnegative(int64(p.SuccessThreshold), fldPath.Child("successThreshold"))...)
	allErrs = append(allErrs, validateNonnegative(int64(p.FailureThreshold), fldPath.Child("failureThreshold"))...)
	if p.TerminationGracePeriodSeconds != nil && *p.TerminationGracePeriodSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *p.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	return allErrs
}

func validateLifecycle(l *corev1.Lifecycle, grace *int64, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, hook := range []struct {
		name string
		h    *corev1.LifecycleHandler
	}{{"postStart", l.PostStart}, {"preStop", l.PreStop}} {
		if lh := hook.h; lh != nil {
			h := handlers{exec: lh.Exec, httpGet: lh.HTTPGet, tcpSocket: lh.TCPSocket, sleep: lh.Sleep}
			allErrs = append(allErrs, validateHandler(h, grace, fldPath.Child(hook.name))...)
		}
	}
	return allErrs
}

// handlers gathers the actions a probe or lifecycle hook may name; exactly
// one must be set.
type handlers struct {
	exec      *corev1.ExecAction
	httpGet   *corev1.HTTPGetAction
	tcpSocket *corev1.TCPSocketAction
	grpc      *corev1.GRPCAction
	sleep     *corev1.SleepAction
}

func validateHandler(h handlers, grace *int64, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	n := 0
	count := func(set bool, name string, check func(*field.Path) field.ErrorList) {
		if !set {
			return
		}
		if n > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(name), "may not specify more than 1 handler type"))
			return
		}
		n++
		allErrs = append(allErrs, check(fldPath.Child(name))...)
	}
	count(h.exec != nil, "exec", func(p *field.Path) field.ErrorList {
		if len(h.exec.Command) == 0 {
			return field.ErrorList{field.Required(p.Child("command"), "")}
		}
		return nil
	})
	count(h.httpGet != nil, "httpGet", func(p *field.Path) field.ErrorList { return validateHTTPGet(h.httpGet, p) })
	count(h.tcpSocket != nil, "tcpSocket", func(p *field.Path) field.ErrorList {
		return validatePortNumOrName(h.tcpSocket.Port, p.Child("port"))
	})
	count(h.grpc != nil, "grpc", func(p *field.Path) field.ErrorList { return validatePortNum(h.grpc.Port, p.Child("port")) })
	count(h.sleep != nil, "sleep", func(p *field.Path) field.ErrorList {
		if grace != nil && (h.sleep.Seconds < 0 || h.sleep.Seconds > *grace) {
			return field.ErrorList{field.Invalid(p, h.sleep.Seconds,
				fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", *grace))}
		}
		return nil
	})
	if n == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a handler type"))
	}
	return allErrs
}

func validateHTTPGet(h *corev1.HTTPGetAction, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if h.Path == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	}
	allErrs = append(allErrs, validatePortNumOrName(h.Port, fldPath.Child("port"))...)
	if h.Scheme != corev1.URISchemeHTTP && h.Scheme != corev1.URISchemeHTTPS {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("scheme"), h.Scheme, []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}))
	}
	for _, header := range h.HTTPHeaders {
		for _, msg := range validation.IsHTTPHeaderName(header.Name) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("httpHeaders"), header.Name, msg))
		}
	}
	return allErrs
}

// validateResourceRequirements checks names, quantities and that requests
// do not exceed limits (or equal them, for resources that cannot be
// overcommitted).
func validateResourceRequirements(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	for _, name := range sortedResourceNames(r.Limits) {
		q := r.Limits[name]
		p := limPath.Key(string(name))
		allErrs = append(allErrs, validateContainerResourceName(name, p)...)
		allErrs = append(allErrs, validateResourceQuantityValue(name, q, p)...)
	}
	for _, name := range sortedResourceNames(r.Requests) {
		q := r.Requests[name]
		p := reqPath.Key(string(name))
		allErrs = append(allErrs, validateContainerResourceName(name, p)...)
		allErrs = append(allErrs, validateResourceQuantityValue(name, q, p)...)
		limit, ok := r.Limits[name]
		switch {
		case ok && q.Cmp(limit) != 0 && !isOvercommitAllowed(name):
			allErrs = append(allErrs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case ok && q.Cmp(limit) > 0:
			allErrs = append(allErrs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case !ok && !isOvercommitAllowed(name):
			allErrs = append(allErrs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	return allErrs
}

func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateResourceName(name, fldPath)
	if !strings.Contains(string(name), "/") {
		if !isStandardContainerResourceName(name) {
			allErrs = append(allErrs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && !isExtendedResourceName(name) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, "doesn't follow extended resource name standard"))
	}
	return allErrs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	paths := map[string]bool{}
	for i, m := range mounts {
		idxPath := fldPath.Index(i)
		if m.Name == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
		}
		if _, ok := vols[m.Name]; !ok {
			allErrs = append(allErrs, field.NotFound(idxPath.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("mountPath"), ""))
		}
		if paths[m.MountPath] {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths[m.MountPath] = true
		// Upstream roots these two at volumeMounts, not at the item.
		if m.SubPath != "" {
			allErrs = append(allErrs, validateLocalDescendingPath(m.SubPath, fldPath.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			allErrs = append(allErrs, validateLocalDescendingPath(m.SubPathExpr, fldPath.Child("subPathExpr"))...)
		}
	}
	return allErrs
}
