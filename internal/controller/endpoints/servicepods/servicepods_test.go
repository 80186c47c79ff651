package servicepods

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func svc(ns, name string, sel map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: sel}}
}

func pod(ns, name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls, ResourceVersion: "1"}}
}

func TestSelectorCacheServicesFor(t *testing.T) {
	c := NewSelectorCache()
	c.Update(svc("a", "web", map[string]string{"app": "web"}))
	c.Update(svc("a", "all-web", map[string]string{"tier": "front"}))
	c.Update(svc("b", "web", map[string]string{"app": "web"}))
	c.Update(svc("a", "manual", nil)) // selectorless: never matches

	got := c.ServicesFor(pod("a", "p", map[string]string{"app": "web", "tier": "front"}))
	if want := []string{"a/all-web", "a/web"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ServicesFor = %v, want %v", got, want)
	}
	c.Delete("a", "all-web")
	got = c.ServicesFor(pod("a", "p", map[string]string{"app": "web", "tier": "front"}))
	if want := []string{"a/web"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after delete: %v, want %v", got, want)
	}
	// Dropping a Service's selector removes it.
	c.Update(svc("a", "web", nil))
	if got := c.ServicesFor(pod("a", "p", map[string]string{"app": "web"})); len(got) != 0 {
		t.Fatalf("selectorless service still matched: %v", got)
	}
}

func ready(p *corev1.Pod, ok bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ok {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func TestServicesToUpdate(t *testing.T) {
	c := NewSelectorCache()
	c.Update(svc("ns", "a", map[string]string{"app": "a"}))
	c.Update(svc("ns", "b", map[string]string{"app": "b"}))
	c.Update(svc("ns", "x", map[string]string{"x": "1"}))
	base := func() *corev1.Pod {
		p := pod("ns", "p", map[string]string{"app": "a", "x": "1"})
		p.Status.PodIP = "10.0.0.1"
		return p
	}
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{"annotation only", func(p *corev1.Pod) { p.Annotations = map[string]string{"k": "v"} }, nil},
		{"readiness", func(p *corev1.Pod) { ready(p, true) }, []string{"ns/a", "ns/x"}},
		{"ip", func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.2" }, []string{"ns/a", "ns/x"}},
		{"terminating", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }, []string{"ns/a", "ns/x"}},
		// Only the Services the pod left or joined: x sees the same endpoint.
		{"labels only", func(p *corev1.Pod) { p.Labels["app"] = "b" }, []string{"ns/a", "ns/b"}},
		// Labels and readiness: everything before and after.
		{"labels and readiness", func(p *corev1.Pod) { p.Labels["app"] = "b"; ready(p, true) }, []string{"ns/a", "ns/b", "ns/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, cur := base(), base()
			cur.ResourceVersion = "2"
			tt.mutate(cur)
			if got := c.ServicesToUpdate(old, cur); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	// A resync delivers the same version: nothing to do.
	p := base()
	if got := c.ServicesToUpdate(p, ready(p.DeepCopy(), true)); got != nil {
		t.Fatalf("same resourceVersion: got %v", got)
	}
}

func TestFindPort(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}},
		},
		InitContainers: []corev1.Container{
			{Name: "init", Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 9000}}},
			{Name: "proxy", RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}},
		},
	}}
	tests := []struct {
		name    string
		sp      corev1.ServicePort
		want    int32
		wantErr bool
	}{
		{"number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8081), Protocol: corev1.ProtocolTCP}, 8081, false},
		{"unset means port", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP}, 80, false},
		{"name", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}, 8080, false},
		{"name wrong protocol", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolUDP}, 0, true},
		{"udp name", corev1.ServicePort{Port: 53, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP}, 53, false},
		{"sidecar", corev1.ServicePort{Port: 90, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP}, 9090, false},
		{"plain init container", corev1.ServicePort{Port: 90, TargetPort: intstr.FromString("admin"), Protocol: corev1.ProtocolTCP}, 0, true},
		{"missing", corev1.ServicePort{Port: 90, TargetPort: intstr.FromString("nope"), Protocol: corev1.ProtocolTCP}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindPort(p, &tt.sp)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("FindPort = %d, %v; want %d, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestShouldBeEndpoint(t *testing.T) {
	withIP := func() *corev1.Pod { p := pod("ns", "p", nil); p.Status.PodIP = "10.0.0.1"; return p }
	term := withIP()
	term.DeletionTimestamp = &metav1.Time{}
	done := withIP()
	done.Status.Phase = corev1.PodSucceeded
	tests := []struct {
		name        string
		pod         *corev1.Pod
		includeTerm bool
		want        bool
	}{
		{"no ip", pod("ns", "p", nil), true, false},
		{"ip", withIP(), false, true},
		{"terminating excluded", term, false, false},
		{"terminating included", term, true, true},
		{"finished", done, true, false},
	}
	for _, tt := range tests {
		if got := ShouldBeEndpoint(tt.pod, tt.includeTerm); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTriggerTimeWorkedExample(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 1, 1, h, m, 0, 0, time.UTC) }
	s := svc("ns", "web", map[string]string{"app": "web"})
	s.CreationTimestamp = metav1.NewTime(at(10, 0))
	readyAt := func(name string, ts time.Time) *corev1.Pod {
		p := pod("ns", name, nil)
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(ts)}}
		return p
	}
	tr := NewTriggerTimeTracker()
	if got := tr.Compute(s, nil); !got.Equal(at(10, 0)) {
		t.Fatalf("first sync: %v, want service creation", got)
	}
	pods := []*corev1.Pod{readyAt("a", at(10, 5)), readyAt("b", at(10, 6))}
	if got := tr.Compute(s, pods); !got.Equal(at(10, 5)) {
		t.Fatalf("two transitions: %v, want the earlier 10:05", got)
	}
	if got := tr.Compute(s, pods); !got.IsZero() {
		t.Fatalf("nothing new: %v, want zero", got)
	}
	pods[1] = readyAt("b", at(10, 9))
	if got := tr.Compute(s, pods); !got.Equal(at(10, 9)) {
		t.Fatalf("b again: %v, want 10:09", got)
	}
}

// BenchmarkPodEvent measures the per-event cost of finding a pod's
// Services with 10,000 pods' worth of Services spread over namespaces: it
// is bounded by the Services of one namespace.
func BenchmarkPodEvent(b *testing.B) {
	c := NewSelectorCache()
	for ns := range 100 {
		for s := range 10 {
			c.Update(svc(fmt.Sprintf("ns%d", ns), fmt.Sprintf("s%d", s), map[string]string{"app": fmt.Sprintf("s%d", s)}))
		}
	}
	p := pod("ns7", "p", map[string]string{"app": "s3"})
	b.ResetTimer()
	for range b.N {
		if len(c.ServicesFor(p)) != 1 {
			b.Fatal("wrong match")
		}
	}
}
