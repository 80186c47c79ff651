package core

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// This file mirrors upstream's generated v1 defaulter for a PodSpec
// (SetObjectDefaults_PodTemplateSpec minus the template metadata): the
// hand-written SetDefaults_* functions plus the +default markers of
// k8s.io/api, applied to every nested container, probe and volume.

func ptrTo[T any](v T) *T { return &v }

func defaultPodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptrTo(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	// The v1<->internal conversion keeps the deprecated serviceAccount field
	// in step with serviceAccountName; clients read either.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	if spec.Resources != nil {
		roundUpResources(&spec.Resources.Limits)
		roundUpResources(&spec.Resources.Requests)
	}
	roundUpResources(&spec.Overhead)
}

func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = pullPolicyFor(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil {
			defaultFieldSelector(vf.FieldRef)
		}
	}
	roundUpResources(&c.Resources.Limits)
	roundUpResources(&c.Resources.Requests)
	defaultProbe(c.LivenessProbe)
	defaultProbe(c.ReadinessProbe)
	defaultProbe(c.StartupProbe)
	if c.Lifecycle != nil {
		if h := c.Lifecycle.PostStart; h != nil {
			defaultHTTPGet(h.HTTPGet)
		}
		if h := c.Lifecycle.PreStop; h != nil {
			defaultHTTPGet(h.HTTPGet)
		}
	}
}

// pullPolicyFor is upstream's rule: Always for ":latest" or an untagged,
// undigested reference; IfNotPresent otherwise (including references that
// do not parse, which validation reports separately).
func pullPolicyFor(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag returns the tag of an image reference, "latest" when it has
// neither tag nor digest, and "" when it has only a digest or is empty.
func imageTag(image string) string {
	if image == "" || strings.TrimSpace(image) != image {
		return ""
	}
	name, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest && digest == "" {
		return ""
	}
	// A ':' after the last '/' separates the tag; an earlier one is a
	// registry port (localhost:5000/app).
	lastSlash := strings.LastIndex(name, "/")
	if colon := strings.LastIndex(name, ":"); colon > lastSlash {
		return name[colon+1:]
	}
	if hasDigest {
		return ""
	}
	return "latest"
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	defaultHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptrTo("")
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func defaultFieldSelector(fs *corev1.ObjectFieldSelector) {
	if fs.APIVersion == "" {
		fs.APIVersion = "v1"
	}
}

// roundUpResources rounds quantities up to milli precision, as upstream
// does to keep the stored form stable.
func roundUpResources(list *corev1.ResourceList) {
	for name, q := range *list {
		q.RoundUp(resource.Milli)
		(*list)[name] = q
	}
}

func defaultVolume(v *corev1.Volume) {
	if len(setPointerFields(&v.VolumeSource)) == 0 {
		v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	src := &v.VolumeSource
	if s := src.Secret; s != nil && s.DefaultMode == nil {
		s.DefaultMode = ptrTo(corev1.SecretVolumeSourceDefaultMode)
	}
	if s := src.ConfigMap; s != nil && s.DefaultMode == nil {
		s.DefaultMode = ptrTo(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if s := src.DownwardAPI; s != nil {
		if s.DefaultMode == nil {
			s.DefaultMode = ptrTo(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		defaultDownwardAPIItems(s.Items)
	}
	if s := src.Projected; s != nil {
		defaultProjected(s)
	}
	if s := src.HostPath; s != nil && s.Type == nil {
		s.Type = ptrTo(corev1.HostPathUnset)
	}
	if s := src.Ephemeral; s != nil && s.VolumeClaimTemplate != nil {
		defaultPVCSpec(&s.VolumeClaimTemplate.Spec)
	}
	if s := src.Image; s != nil && s.PullPolicy == "" {
		s.PullPolicy = pullPolicyFor(s.Reference)
	}
}

func defaultProjected(s *corev1.ProjectedVolumeSource) {
	if s.DefaultMode == nil {
		s.DefaultMode = ptrTo(corev1.ProjectedVolumeSourceDefaultMode)
	}
	for i := range s.Sources {
		p := &s.Sources[i]
		if p.DownwardAPI != nil {
			defaultDownwardAPIItems(p.DownwardAPI.Items)
		}
		if t := p.ServiceAccountToken; t != nil && t.ExpirationSeconds == nil {
			t.ExpirationSeconds = ptrTo(int64(3600))
		}
	}
}

func defaultDownwardAPIItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			defaultFieldSelector(items[i].FieldRef)
		}
	}
}

// defaultPVCSpec is shared by claims and ephemeral volume templates.
func defaultPVCSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
	}
	roundUpResources(&spec.Resources.Limits)
	roundUpResources(&spec.Resources.Requests)
}
