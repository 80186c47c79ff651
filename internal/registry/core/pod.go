package core

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubectl/pkg/util/qos"

	"github.com/skiff-sh/skiff/internal/registry"
)

func podResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("pods"),
		Kind:       "Pod",
		Singular:   "pod",
		ShortNames: []string{"po"},
		Categories: []string{"all"},
		Namespaced: true,
		HasStatus:  true,
		// Since 1.33 upstream sets metadata.generation on pods and bumps it
		// on spec changes (status.observedGeneration reports it back).
		TracksGeneration: true,
		Strategy: registry.Strategy{
			Default:              defaulter(defaultPod),
			PrepareForCreate:     defaulter(preparePodForCreate),
			Validate:             validator(validatePodCreate),
			ValidateUpdate:       updateValidator(validatePodUpdate),
			ValidateStatusUpdate: updateValidator(validatePodStatusUpdate),
			Columns:              podColumns(),
			Row:                  rower(podRow),
			Fields:               fielder(podFields),
		},
	}
}

// defaultPod is SetDefaults_Pod plus the pod spec defaults, plus the
// effects of upstream's v1<->internal round trip on the status IP fields.
func defaultPod(pod *corev1.Pod) {
	// Requests default to limits on pods only, not on templates, so that
	// templates read back exactly as written.
	defaultRequestsFromLimits(pod.Spec.Containers)
	defaultRequestsFromLimits(pod.Spec.InitContainers)
	if pod.Spec.EnableServiceLinks == nil {
		pod.Spec.EnableServiceLinks = ptrTo(corev1.DefaultEnableServiceLinks)
	}
	if pod.Spec.HostNetwork {
		defaultHostNetworkPorts(pod.Spec.Containers)
		defaultHostNetworkPorts(pod.Spec.InitContainers)
	}
	defaultPodSpec(&pod.Spec)
	syncPodIPs(&pod.Status)
}

func defaultRequestsFromLimits(containers []corev1.Container) {
	for i := range containers {
		r := &containers[i].Resources
		if r.Limits == nil {
			continue
		}
		if r.Requests == nil {
			r.Requests = corev1.ResourceList{}
		}
		for name, q := range r.Limits {
			if _, ok := r.Requests[name]; !ok {
				r.Requests[name] = q.DeepCopy()
			}
		}
	}
}

// defaultHostNetworkPorts: on the host network a container port is a host
// port.
func defaultHostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			if p := &containers[i].Ports[j]; p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

// syncPodIPs keeps podIP/podIPs and hostIP/hostIPs consistent the way
// upstream's conversion does: the singular field wins when both are set
// and disagree (old kubelets only write it).
func syncPodIPs(st *corev1.PodStatus) {
	if st.PodIP != "" && (len(st.PodIPs) == 0 || st.PodIPs[0].IP != st.PodIP) {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if len(st.PodIPs) > 0 {
		st.PodIP = st.PodIPs[0].IP
	}
	if st.HostIP != "" && (len(st.HostIPs) == 0 || st.HostIPs[0].IP != st.HostIP) {
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	if len(st.HostIPs) > 0 {
		st.HostIP = st.HostIPs[0].IP
	}
}

func preparePodForCreate(pod *corev1.Pod) {
	pod.Status = corev1.PodStatus{
		Phase:    corev1.PodPending,
		QOSClass: qos.ComputePodQOS(pod),
	}
	// Scheduling gates hold a pod back from the scheduler; upstream says so
	// in a condition from the start.
	if len(pod.Spec.SchedulingGates) > 0 {
		pod.Status.Conditions = []corev1.PodCondition{{
			Type:    corev1.PodScheduled,
			Status:  corev1.ConditionFalse,
			Reason:  corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		}}
	}
	pod.Generation = 1
}

func validatePodCreate(pod *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	allErrs := validatePodMetadataAndSpec(pod)
	if len(pod.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if pod.Spec.NodeName != "" && len(pod.Spec.SchedulingGates) != 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return allErrs
}

// validatePodMetadataAndSpec is what create and update share.
func validatePodMetadataAndSpec(pod *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	allErrs := validateMeta(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	allErrs = append(allErrs, validatePodSpec(&pod.Spec, specPath)...)
	// A token projected for "no service account" would be a token for
	// nobody.
	if pod.Spec.ServiceAccountName == "" {
		for vi, v := range pod.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for si, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					p := specPath.Child("volumes").Index(vi).Child("projected", "sources").Index(si).Child("serviceAccountToken")
					allErrs = append(allErrs, field.Forbidden(p, "must not be specified when serviceAccountName is not set"))
				}
			}
		}
	}
	// Pods, unlike templates, may not carry stray whitespace around images
	// (templates keep tolerating it for tools that patch images later).
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"containers", pod.Spec.Containers}, {"initContainers", pod.Spec.InitContainers}} {
		for i, c := range list.containers {
			if strings.TrimSpace(c.Image) != c.Image {
				allErrs = append(allErrs, field.Invalid(specPath.Child(list.name).Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
			}
		}
	}
	return allErrs
}

func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	allErrs := validateMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	statusPath := field.NewPath("status")
	if pod.Spec.NodeName != old.Spec.NodeName {
		allErrs = append(allErrs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := pod.Status.NominatedNodeName; n != old.Status.NominatedNodeName && n != "" {
		allErrs = append(allErrs, validateName(apivalidation.NameIsDNSSubdomain, n, statusPath.Child("nominatedNodeName"))...)
	}
	allErrs = append(allErrs, validateContainerStateTransition(pod.Status.ContainerStatuses, old.Status.ContainerStatuses, statusPath.Child("containerStatuses"), old.Spec.RestartPolicy)...)
	allErrs = append(allErrs, validateContainerStateTransition(pod.Status.InitContainerStatuses, old.Status.InitContainerStatuses, statusPath.Child("initContainerStatuses"), old.Spec.RestartPolicy)...)
	for i, ip := range pod.Status.PodIPs {
		allErrs = append(allErrs, validation.IsValidIP(statusPath.Child("podIPs").Index(i).Child("ip"), ip.IP)...)
	}
	for i, ip := range pod.Status.HostIPs {
		allErrs = append(allErrs, validation.IsValidIP(statusPath.Child("hostIPs").Index(i).Child("ip"), ip.IP)...)
	}
	return allErrs
}

// validateContainerStateTransition: a container that finished for good
// (per the restart policy) may not come back to life in the status.
func validateContainerStateTransition(statuses, oldStatuses []corev1.ContainerStatus, fldPath *field.Path, policy corev1.RestartPolicy) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	var allErrs field.ErrorList
	for i, old := range oldStatuses {
		t := old.State.Terminated
		if t == nil || (t.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure) {
			continue
		}
		for _, s := range statuses {
			if s.Name == old.Name && s.State.Terminated == nil {
				allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return allErrs
}

// podFields are upstream's pod field selectors.
func podFields(pod *corev1.Pod) fields.Set {
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	return fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}
}
