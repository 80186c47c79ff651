package limitranger

import (
	"context"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-sh/skiff/internal/admission"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func limitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "limits"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

// newPlugin returns a plugin whose informer never starts, so it reads the
// fake API through its live-lookup path, as on a fresh server.
func newPlugin(objs ...runtime.Object) *Plugin {
	client := fake.NewClientset(objs...)
	return New(client, informers.NewSharedInformerFactory(client, 0))
}

func podAttrs(pod *corev1.Pod) *admission.Attributes {
	return &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
		Namespace: "ns", Name: pod.Name, Object: pod}
}

func testPod(cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: corev1.PodSpec{Containers: cs},
		Status: corev1.PodStatus{QOSClass: corev1.PodQOSBestEffort}}
}

func withResources(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func TestDefaults(t *testing.T) {
	p := newPlugin(limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Default: rl("cpu", "500m", "memory", "256Mi"), DefaultRequest: rl("cpu", "250m", "memory", "256Mi")}))
	pod := testPod(withResources("app", nil, nil), withResources("set", rl("cpu", "100m"), rl("cpu", "200m")))
	pod.Spec.InitContainers = []corev1.Container{withResources("init", nil, nil)}
	if err := p.Admit(context.Background(), podAttrs(pod)); err != nil {
		t.Fatal(err)
	}
	app := pod.Spec.Containers[0].Resources
	if app.Limits.Cpu().String() != "500m" || app.Requests.Cpu().String() != "250m" || app.Limits.Memory().String() != "256Mi" {
		t.Fatalf("app resources = %+v", app)
	}
	set := pod.Spec.Containers[1].Resources
	if set.Limits.Cpu().String() != "200m" || set.Requests.Cpu().String() != "100m" || set.Requests.Memory().String() != "256Mi" {
		t.Fatalf("explicit values overridden or memory not defaulted: %+v", set)
	}
	if pod.Spec.InitContainers[0].Resources.Limits.Cpu().String() != "500m" {
		t.Fatal("init container not defaulted")
	}
	want := "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app; " +
		"memory request for container set; memory limit for container set; " +
		"cpu, memory request for init container init; cpu, memory limit for init container init"
	if got := pod.Annotations[annotation]; got != want {
		t.Fatalf("annotation\n got %q\nwant %q", got, want)
	}
	if pod.Status.QOSClass != corev1.PodQOSBurstable {
		t.Fatalf("QoS class = %s, want recomputed Burstable", pod.Status.QOSClass)
	}
}

func TestGuaranteedAfterDefaults(t *testing.T) {
	p := newPlugin(limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Default: rl("cpu", "1", "memory", "1Gi"), DefaultRequest: rl("cpu", "1", "memory", "1Gi")}))
	pod := testPod(withResources("app", nil, nil))
	if err := p.Admit(context.Background(), podAttrs(pod)); err != nil {
		t.Fatal(err)
	}
	if pod.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Fatalf("QoS = %s", pod.Status.QOSClass)
	}
}

func TestViolations(t *testing.T) {
	tests := []struct {
		name string
		item corev1.LimitRangeItem
		pod  *corev1.Pod
		want string
	}{
		{"max limit", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1")},
			testPod(withResources("app", rl("cpu", "500m"), rl("cpu", "2"))),
			`pods "web" is forbidden: maximum cpu usage per Container is 1, but limit is 2`},
		{"max without limit", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "1Gi")},
			testPod(withResources("app", rl("memory", "10Mi"), nil)),
			`pods "web" is forbidden: maximum memory usage per Container is 1Gi.  No limit is specified`},
		{"min request", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("memory", "64Mi")},
			testPod(withResources("app", rl("memory", "32Mi"), rl("memory", "128Mi"))),
			`pods "web" is forbidden: minimum memory usage per Container is 64Mi, but request is 32Mi`},
		{"ratio", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: rl("cpu", "2")},
			testPod(withResources("app", rl("cpu", "250m"), rl("cpu", "1"))),
			`pods "web" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000`},
		{"pod max over containers", corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("cpu", "1")},
			testPod(withResources("a", rl("cpu", "600m"), rl("cpu", "600m")), withResources("b", rl("cpu", "600m"), rl("cpu", "600m"))),
			`pods "web" is forbidden: maximum cpu usage per Pod is 1, but limit is 1200m`},
		{"two violations, stable order", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1", "memory", "1Gi")},
			testPod(withResources("app", nil, rl("cpu", "2", "memory", "2Gi"))),
			`pods "web" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, maximum memory usage per Container is 1Gi, but limit is 2Gi]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newPlugin(limitRange(tt.item)).Admit(context.Background(), podAttrs(tt.pod))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
			if code := apierrors.ReasonForError(err); code != metav1.StatusReasonForbidden || err.(apierrors.APIStatus).Status().Code != http.StatusForbidden {
				t.Fatalf("reason %s, want 403 Forbidden", code)
			}
		})
	}
}

func TestClaimsAndUpdates(t *testing.T) {
	p := newPlugin(limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim,
		Min: rl("storage", "1Gi"), Max: rl("storage", "10Gi")}))
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "20Gi")}}}
	attrs := &admission.Attributes{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"),
		Namespace: "ns", Name: "data", Object: pvc, OldObject: pvc.DeepCopy()}
	err := p.Admit(context.Background(), attrs)
	want := `persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v", err)
	}
	pvc.Spec.Resources.Requests = rl("storage", "5Gi")
	if err := p.Admit(context.Background(), attrs); err != nil {
		t.Fatalf("5Gi claim: %v", err)
	}
	// Pod updates are not checked: containers cannot change.
	pod := testPod(withResources("app", nil, rl("cpu", "100")))
	upd := podAttrs(pod)
	upd.Operation, upd.OldObject = admission.Update, pod.DeepCopy()
	if err := newPlugin(limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1")})).Admit(context.Background(), upd); err != nil {
		t.Fatalf("pod update checked: %v", err)
	}
	// No LimitRange: nothing happens.
	plain := testPod(withResources("app", nil, nil))
	if err := newPlugin().Admit(context.Background(), podAttrs(plain)); err != nil || plain.Annotations != nil {
		t.Fatalf("no limit range: err %v, annotations %v", err, plain.Annotations)
	}
}
