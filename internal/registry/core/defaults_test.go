package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultPod(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "nginx",
				Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
				Env:           []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "scratch"},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
			},
			DeprecatedServiceAccount: "builder",
		},
	}
	defaultPod(pod)

	spec := pod.Spec
	c := spec.Containers[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"restartPolicy", spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"dnsPolicy", spec.DNSPolicy, corev1.DNSClusterFirst},
		{"terminationGracePeriodSeconds", *spec.TerminationGracePeriodSeconds, int64(30)},
		{"schedulerName", spec.SchedulerName, "default-scheduler"},
		{"securityContext set and empty", equality.Semantic.DeepEqual(spec.SecurityContext, &corev1.PodSecurityContext{}), true},
		{"enableServiceLinks", *spec.EnableServiceLinks, true},
		{"serviceAccountName from deprecated field", spec.ServiceAccountName, "builder"},
		{"terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"imagePullPolicy (untagged)", c.ImagePullPolicy, corev1.PullAlways},
		{"port protocol", c.Ports[0].Protocol, corev1.ProtocolTCP},
		{"probe timeout", c.LivenessProbe.TimeoutSeconds, int32(1)},
		{"probe period", c.LivenessProbe.PeriodSeconds, int32(10)},
		{"probe success", c.LivenessProbe.SuccessThreshold, int32(1)},
		{"probe failure", c.LivenessProbe.FailureThreshold, int32(3)},
		{"httpGet path", c.LivenessProbe.HTTPGet.Path, "/"},
		{"httpGet scheme", c.LivenessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"empty volume becomes emptyDir", spec.Volumes[0].EmptyDir != nil, true},
		{"configMap defaultMode", *spec.Volumes[1].ConfigMap.DefaultMode, int32(0644)},
		{"secret defaultMode", *spec.Volumes[2].Secret.DefaultMode, int32(0644)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if !equality.Semantic.DeepEqual(c.Resources.Requests, c.Resources.Limits) {
		t.Errorf("requests = %v, want copied from limits %v", c.Resources.Requests, c.Resources.Limits)
	}
	if pod.Spec.Tolerations != nil {
		t.Errorf("tolerations = %v, want none (admission adds them)", pod.Spec.Tolerations)
	}
}

func TestSetDefaultsPodSpecLeavesPodOnlyDefaults(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []corev1.Container{{
		Name: "app", Image: "app:v1",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
	}}}
	SetDefaultsPodSpec(spec)
	if spec.EnableServiceLinks != nil {
		t.Errorf("enableServiceLinks defaulted on a template")
	}
	if spec.Containers[0].Resources.Requests != nil {
		t.Errorf("requests defaulted from limits on a template")
	}
	if spec.RestartPolicy != corev1.RestartPolicyAlways || spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("template spec not defaulted: %+v", spec)
	}
	SetDefaultsPodSpec(nil) // must not panic
}

func TestPullPolicyFor(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"localhost:5000/app", corev1.PullAlways},
		{"localhost:5000/app:v2", corev1.PullIfNotPresent},
		{"app@sha256:0123456789abcdef", corev1.PullIfNotPresent},
		{"app:latest@sha256:0123456789abcdef", corev1.PullAlways},
		{"", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		if got := pullPolicyFor(tt.image); got != tt.want {
			t.Errorf("pullPolicyFor(%q) = %s, want %s", tt.image, got, tt.want)
		}
	}
}

func TestDefaultService(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{
		Type:  corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{{Port: 80}, {Port: 443, TargetPort: intstr.FromString("https")}},
	}}
	defaultService(svc)
	s := svc.Spec
	if s.SessionAffinity != corev1.ServiceAffinityNone || s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster ||
		*s.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
		t.Errorf("service spec not defaulted: %+v", s)
	}
	if s.Ports[0].Protocol != corev1.ProtocolTCP || s.Ports[0].TargetPort != intstr.FromInt32(80) {
		t.Errorf("port 0 = %+v, want TCP targeting 80", s.Ports[0])
	}
	if s.Ports[1].TargetPort != intstr.FromString("https") {
		t.Errorf("named targetPort overwritten: %+v", s.Ports[1])
	}

	clusterIP := &corev1.Service{}
	defaultService(clusterIP)
	if clusterIP.Spec.Type != corev1.ServiceTypeClusterIP || clusterIP.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("ClusterIP defaults = %+v", clusterIP.Spec)
	}
	lb := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP}}
	defaultService(lb)
	if !*lb.Spec.AllocateLoadBalancerNodePorts || *lb.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds != 10800 {
		t.Errorf("LoadBalancer defaults = %+v", lb.Spec)
	}
}

func TestDefaultRC(t *testing.T) {
	rc := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{
		Template: &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v1"}}},
		},
	}}
	defaultRC(rc)
	if *rc.Spec.Replicas != 1 || rc.Spec.Selector["app"] != "web" || rc.Labels["app"] != "web" {
		t.Errorf("rc defaults = replicas %d selector %v labels %v", *rc.Spec.Replicas, rc.Spec.Selector, rc.Labels)
	}
	if rc.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("template spec not defaulted")
	}
	// The selector must not alias the template labels.
	rc.Spec.Template.Labels["app"] = "changed"
	if rc.Spec.Selector["app"] != "web" {
		t.Errorf("selector aliases template labels")
	}
}

func TestDefaultOthers(t *testing.T) {
	s := &corev1.Secret{StringData: map[string]string{"user": "admin"}}
	defaultSecret(s)
	if s.Type != corev1.SecretTypeOpaque || string(s.Data["user"]) != "admin" || s.StringData != nil {
		t.Errorf("secret defaults = %+v", s)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	defaultNamespace(ns)
	if ns.Labels[corev1.LabelMetadataName] != "team-a" {
		t.Errorf("namespace labels = %v", ns.Labels)
	}

	pvc := &corev1.PersistentVolumeClaim{}
	persistentVolumeClaimResource().Strategy.Default(pvc)
	if *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("pvc volumeMode = %v", *pvc.Spec.VolumeMode)
	}
	pv := &corev1.PersistentVolume{}
	persistentVolumeResource().Strategy.Default(pv)
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("pv defaults = %+v", pv.Spec)
	}

	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer,
		Max:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		Min:  corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}}}
	defaultLimitRange(lr)
	item := lr.Spec.Limits[0]
	if item.Default.Cpu().String() != "2" || item.DefaultRequest.Cpu().String() != "2" || item.DefaultRequest.Memory().String() != "64Mi" {
		t.Errorf("limit range defaults = %+v", item)
	}
}

func TestSyncPodIPs(t *testing.T) {
	st := corev1.PodStatus{PodIP: "10.0.0.5", HostIPs: []corev1.HostIP{{IP: "192.168.1.2"}}}
	syncPodIPs(&st)
	if len(st.PodIPs) != 1 || st.PodIPs[0].IP != "10.0.0.5" || st.HostIP != "192.168.1.2" {
		t.Errorf("synced status = %+v", st)
	}
}
