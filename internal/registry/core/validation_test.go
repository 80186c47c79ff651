package core

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// wantErr names one expected error; detail is matched as a substring.
type wantErr struct {
	typ    field.ErrorType
	field  string
	detail string
}

// checkErrs fails unless errs holds exactly the wanted errors (in any
// order); an empty want means the object must be valid.
func checkErrs(t *testing.T, errs field.ErrorList, want []wantErr) {
	t.Helper()
	matched := make([]bool, len(errs))
	for _, w := range want {
		found := false
		for i, e := range errs {
			if !matched[i] && e.Type == w.typ && e.Field == w.field && strings.Contains(e.Detail, w.detail) {
				matched[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing error %s %s %q", w.typ, w.field, w.detail)
		}
	}
	for i, e := range errs {
		if !matched[i] {
			t.Errorf("unexpected error: %v", e)
		}
	}
}

func testPod(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "nginx:1.27",
				Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data"}},
		},
	}
	if mutate != nil {
		mutate(pod)
	}
	defaultPod(pod)
	return pod
}

func TestValidatePod(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []wantErr
	}{
		{"valid", nil, nil},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil; p.Spec.Volumes = nil }, []wantErr{
			{field.ErrorTypeRequired, "spec.containers", ""},
		}},
		{"duplicate container names", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app", Image: "busybox"})
		}, []wantErr{{field.ErrorTypeDuplicate, "spec.containers[1].name", ""}}},
		{"init container name clashes with a container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "app", Image: "busybox"}}
		}, []wantErr{{field.ErrorTypeDuplicate, "spec.initContainers[0].name", ""}}},
		{"missing image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []wantErr{
			{field.ErrorTypeRequired, "spec.containers[0].image", ""},
		}},
		{"image with whitespace", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, []wantErr{
			{field.ErrorTypeInvalid, "spec.containers[0].image", "must not have leading or trailing whitespace"},
		}},
		{"mount of a missing volume", func(p *corev1.Pod) { p.Spec.Volumes = nil }, []wantErr{
			{field.ErrorTypeNotFound, "spec.containers[0].volumeMounts[0].name", ""},
		}},
		{"volume with two sources", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{},
				HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"},
			}
		}, []wantErr{
			{field.ErrorTypeForbidden, "spec.volumes[0].emptyDir", "may not specify more than 1 volume type"},
			// The invalid volume is left out, so its mount is not found.
			{field.ErrorTypeNotFound, "spec.containers[0].volumeMounts[0].name", ""},
		}},
		{"bad volume name", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "Bad_Name"}, corev1.Volume{Name: "data"})
		}, []wantErr{
			{field.ErrorTypeInvalid, "spec.volumes[1].name", "RFC 1123"},
			{field.ErrorTypeDuplicate, "spec.volumes[2].name", ""},
		}},
		{"port out of range and duplicate name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 70000})
		}, []wantErr{
			{field.ErrorTypeDuplicate, "spec.containers[0].ports[1].name", ""},
			{field.ErrorTypeInvalid, "spec.containers[0].ports[1].containerPort", "between 1 and 65535"},
		}},
		{"host port conflict", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox",
				Ports: []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080}}})
		}, []wantErr{{field.ErrorTypeDuplicate, "spec.containers[1].ports[0].hostPort", ""}}},
		{"probe without handler", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{} }, []wantErr{
			{field.ErrorTypeRequired, "spec.containers[0].readinessProbe", "must specify a handler type"},
		}},
		{"probe with two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec:      &corev1.ExecAction{Command: []string{"true"}},
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)},
			}}
		}, []wantErr{{field.ErrorTypeForbidden, "spec.containers[0].livenessProbe.tcpSocket", "may not specify more than 1 handler type"}}},
		{"liveness success threshold", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{SuccessThreshold: 2, ProbeHandler: corev1.ProbeHandler{
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")},
			}}
		}, []wantErr{{field.ErrorTypeInvalid, "spec.containers[0].livenessProbe.successThreshold", "must be 1"}}},
		{"probe on plain init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox",
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, []wantErr{{field.ErrorTypeForbidden, "spec.initContainers[0].readinessProbe", "restartPolicy=Always"}}},
		{"requests above limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			}
		}, []wantErr{{field.ErrorTypeInvalid, "spec.containers[0].resources.requests", "must be less than or equal to cpu limit of 1"}}},
		{"unknown resource name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"gpus": resource.MustParse("1")}
		}, []wantErr{{field.ErrorTypeInvalid, "spec.containers[0].resources.requests[gpus]", "must be a standard resource for containers"}}},
		{"extended resource needs equal limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}
		}, []wantErr{{field.ErrorTypeRequired, "spec.containers[0].resources.limits", "Limit must be set for non overcommitable resources"}}},
		{"restart and dns policy enums", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = "Sometimes"
			p.Spec.DNSPolicy = "Google"
		}, []wantErr{
			{field.ErrorTypeNotSupported, "spec.restartPolicy", ""},
			{field.ErrorTypeNotSupported, "spec.dnsPolicy", ""},
		}},
		{"env name and valueFrom", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{
				{Name: "A=B"},
				{Name: "X", Value: "v", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "Y", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.bogus"}}},
			}
		}, []wantErr{
			{field.ErrorTypeInvalid, "spec.containers[0].env[0].name", "other than '='"},
			{field.ErrorTypeInvalid, "spec.containers[0].env[1].valueFrom", "may not be specified when `value` is not empty"},
			{field.ErrorTypeNotSupported, "spec.containers[0].env[2].valueFrom.fieldRef.fieldPath", ""},
		}},
		{"bad name", func(p *corev1.Pod) { p.Name = "Web" }, []wantErr{
			{field.ErrorTypeInvalid, "metadata.name", "RFC 1123 subdomain"},
		}},
		{"activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(0)) }, []wantErr{
			{field.ErrorTypeInvalid, "spec.activeDeadlineSeconds", "must be between 1 and 2147483647"},
		}},
		{"toleration Exists with value", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, []wantErr{{field.ErrorTypeInvalid, "spec.tolerations[0].operator", "value must be empty"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, validatePodCreate(testPod(tt.mutate)), tt.want)
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []wantErr
	}{
		{"labels may change", func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }, nil},
		{"image may change", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"tolerations may be added", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}, nil},
		{"deadline may be set", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(60)) }, nil},
		{"ports are immutable", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8080 }, []wantErr{
			{field.ErrorTypeForbidden, "spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"},
		}},
		{"containers may not be added", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
		}, []wantErr{{field.ErrorTypeForbidden, "spec.containers", "pod updates may not add or remove containers"}}},
		{"image may not be cleared", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []wantErr{
			{field.ErrorTypeRequired, "spec.containers[0].image", ""},
			{field.ErrorTypeRequired, "spec.containers[0].image", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := testPod(nil)
			pod := old.DeepCopy()
			tt.mutate(pod)
			defaultPod(pod) // the server defaults update bodies too
			checkErrs(t, validatePodUpdate(pod, old), tt.want)
		})
	}

	t.Run("deadline may only shrink", func(t *testing.T) {
		old := testPod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(60)) })
		pod := old.DeepCopy()
		pod.Spec.ActiveDeadlineSeconds = ptrTo(int64(120))
		checkErrs(t, validatePodUpdate(pod, old), []wantErr{
			{field.ErrorTypeInvalid, "spec.activeDeadlineSeconds", "must be less than or equal to previous value"},
		})
	})
	t.Run("existing tolerations are fixed", func(t *testing.T) {
		old := testPod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		})
		pod := old.DeepCopy()
		pod.Spec.Tolerations[0].Key = "other"
		checkErrs(t, validatePodUpdate(pod, old), []wantErr{
			{field.ErrorTypeForbidden, "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"},
		})
	})
	t.Run("status update may not resurrect a finished container", func(t *testing.T) {
		old := testPod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever })
		old.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}}
		pod := old.DeepCopy()
		pod.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		checkErrs(t, validatePodStatusUpdate(pod, old), []wantErr{
			{field.ErrorTypeForbidden, "status.containerStatuses[0].state", "may not be transitioned to non-terminated state"},
		})
	})
}

func testRC(mutate func(*corev1.ReplicationController)) *corev1.ReplicationController {
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ReplicationControllerSpec{
			Selector: map[string]string{"app": "web"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
			},
		},
	}
	if mutate != nil {
		mutate(rc)
	}
	defaultRC(rc)
	return rc
}

func TestValidateRC(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.ReplicationController)
		want   []wantErr
	}{
		{"valid", nil, nil},
		{"selector does not match template", func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "api"} }, []wantErr{
			{field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		}},
		{"negative replicas", func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptrTo(int32(-1)) }, []wantErr{
			{field.ErrorTypeInvalid, "spec.replicas", "must be greater than or equal to 0"},
		}},
		{"restartPolicy must be Always", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, []wantErr{
			{field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
		}},
		{"template errors carry the template path", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.Containers = append(rc.Spec.Template.Spec.Containers, corev1.Container{Name: "app", Image: "x"})
		}, []wantErr{{field.ErrorTypeDuplicate, "spec.template.spec.containers[1].name", ""}}},
		{"no template", func(rc *corev1.ReplicationController) { rc.Spec.Template = nil }, []wantErr{
			{field.ErrorTypeRequired, "spec.template", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := testRC(tt.mutate)
			errs := validateMeta(&rc.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
			checkErrs(t, append(errs, validateRCSpec(&rc.Spec, field.NewPath("spec"))...), tt.want)
		})
	}
	t.Run("empty selector", func(t *testing.T) {
		rc := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Replicas: ptrTo(int32(1))}}
		checkErrs(t, validateRCSpec(&rc.Spec, field.NewPath("spec")), []wantErr{
			{field.ErrorTypeRequired, "spec.selector", ""},
			{field.ErrorTypeRequired, "spec.template", ""},
		})
	})
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"bad key!": "x"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: " spaced "}}},
	}
	SetDefaultsPodSpec(&tmpl.Spec)
	// Templates tolerate whitespace around images, unlike pods.
	checkErrs(t, ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")), []wantErr{
		{field.ErrorTypeInvalid, "spec.template.labels", "name part must consist of alphanumeric characters"},
	})
	checkErrs(t, ValidatePodTemplateSpec(nil, field.NewPath("template")), []wantErr{{field.ErrorTypeRequired, "template", ""}})
}

func TestValidateConfigMapsAndSecrets(t *testing.T) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default", ResourceVersion: "1"},
		Data:       map[string]string{"bad/key": "x", "big": strings.Repeat("x", corev1.MaxSecretSize)},
		BinaryData: map[string][]byte{"big": []byte("y")},
	}
	checkErrs(t, validateConfigMap(cm), []wantErr{
		{field.ErrorTypeInvalid, "data[bad/key]", "a valid config key"},
		{field.ErrorTypeInvalid, "data[big]", "duplicate of key present in binaryData"},
		{field.ErrorTypeTooLong, "[]", "may not be more than 1048576 bytes"},
	})

	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default", ResourceVersion: "1"},
		Data: map[string]string{"a": "1"}, Immutable: ptrTo(true)}
	upd := old.DeepCopy()
	upd.Data["a"] = "2"
	checkErrs(t, validateConfigMapUpdate(upd, old), []wantErr{
		{field.ErrorTypeForbidden, "data", "field is immutable when `immutable` is set"},
	})

	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "default"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("c")}}
	checkErrs(t, validateSecret(sec), []wantErr{{field.ErrorTypeRequired, "data[tls.key]", ""}})
}

func TestValidateNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}}
	checkErrs(t, validateNamespace(ns), []wantErr{{field.ErrorTypeInvalid, "metadata.name", "must not contain dots"}})

	ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	prepareNamespaceForCreate(ns)
	if ns.Status.Phase != corev1.NamespaceActive || len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != "kubernetes" {
		t.Errorf("prepared namespace = %+v", ns)
	}
	checkErrs(t, validateNamespace(ns), nil)
}

func TestValidatePVCUpdate(t *testing.T) {
	old := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	defaultPVCSpec(&old.Spec)
	checkErrs(t, validatePVCSpec(&old.Spec, field.NewPath("spec")), nil)

	bind := old.DeepCopy()
	bind.Spec.VolumeName = "pv-1"
	checkErrs(t, validatePVCUpdate(bind, old), nil)

	modes := old.DeepCopy()
	modes.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	checkErrs(t, validatePVCUpdate(modes, old), []wantErr{{field.ErrorTypeForbidden, "spec", "spec is immutable after creation"}})

	bound := bind.DeepCopy()
	bound.Status.Phase = corev1.ClaimBound
	grow := bound.DeepCopy()
	grow.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	checkErrs(t, validatePVCUpdate(grow, bound), nil)
}
