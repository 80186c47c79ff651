package endpointslice

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/controller/controllertest"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

func startController(t *testing.T) kubernetes.Interface {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	controllertest.Start(t, s, New)
	return s.Client
}

// kubelet creates a pod bound to a node and reports its IP and readiness.
func kubelet(t *testing.T, client kubernetes.Interface, name, ip string, port int32, ready bool) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Image: "img:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}},
	}
	pod, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return setReady(t, client, pod, ip, ready)
}

func setReady(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, ip string, ready bool) *corev1.Pod {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}}
	out, err := client.CoreV1().Pods("default").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func listSlices(t *testing.T, client kubernetes.Interface, svc string) []discoveryv1.EndpointSlice {
	t.Helper()
	list, err := client.DiscoveryV1().EndpointSlices("default").List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// summary renders slices as "port:name(ready serving terminating),...;"
// with conditions as r/s/t letters, upper case when true.
func summary(slices []discoveryv1.EndpointSlice) string {
	var parts []string
	for _, s := range slices {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprint(*p.Port))
		}
		var eps []string
		for _, ep := range s.Endpoints {
			flag := func(b *bool, c string) string {
				if b != nil && *b {
					return strings.ToUpper(c)
				}
				return c
			}
			c := ep.Conditions
			eps = append(eps, ep.TargetRef.Name+"("+flag(c.Ready, "r")+flag(c.Serving, "s")+flag(c.Terminating, "t")+")")
		}
		sort.Strings(eps)
		parts = append(parts, strings.Join(ports, ",")+":"+strings.Join(eps, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

func waitSlices(t *testing.T, client kubernetes.Interface, svc, want string) []discoveryv1.EndpointSlice {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got []discoveryv1.EndpointSlice
	for time.Now().Before(deadline) {
		got = listSlices(t, client, svc)
		if summary(got) == want {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("slices of %s: got %q, want %q", svc, summary(got), want)
	return nil
}

func versions(slices []discoveryv1.EndpointSlice) map[string]string {
	out := map[string]string{}
	for _, s := range slices {
		out[s.Name] = s.ResourceVersion
	}
	return out
}

func TestSlicesTrackPods(t *testing.T) {
	client := startController(t)
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	svc, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Before any pod: one empty placeholder slice.
	waitSlices(t, client, "web", ":")

	a := kubelet(t, client, "a", "10.42.0.1", 8080, true)
	b := kubelet(t, client, "b", "10.42.0.2", 8080, false)
	kubelet(t, client, "c", "10.42.0.3", 8080, true)
	kubelet(t, client, "d", "10.42.0.4", 9090, true)
	if err := client.CoreV1().Pods("default").Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// c is terminating but still passes its readiness probe.
	slices := waitSlices(t, client, "web", "8080:a(RSt),b(rst),c(rST);9090:d(RSt)")
	for _, s := range slices {
		if s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.AddressType != discoveryv1.AddressTypeIPv4 ||
			len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != svc.UID {
			t.Fatalf("slice %s meta: labels %v type %s owners %v", s.Name, s.Labels, s.AddressType, s.OwnerReferences)
		}
		if s.Endpoints[0].NodeName == nil || *s.Endpoints[0].NodeName != "node1" {
			t.Fatalf("nodeName missing: %+v", s.Endpoints[0])
		}
	}
	before := versions(slices)
	gen8080 := int64(0)
	for _, s := range slices {
		if *s.Ports[0].Port == 8080 {
			gen8080 = s.Generation
		}
	}

	// An annotation on a pod changes no endpoint: no slice is written.
	a.Annotations = map[string]string{"note": "x"}
	if _, err := client.CoreV1().Pods("default").Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// b turns ready: only the 8080 slice is rewritten.
	setReady(t, client, b, "10.42.0.2", true)
	slices = waitSlices(t, client, "web", "8080:a(RSt),b(RSt),c(rST);9090:d(RSt)")
	after := versions(slices)
	changed := 0
	for name, rv := range after {
		if before[name] != rv {
			changed++
		}
	}
	if changed != 1 || len(after) != len(before) {
		t.Fatalf("slices rewritten: before %v after %v; want exactly one change", before, after)
	}
	for _, s := range slices {
		if *s.Ports[0].Port == 8080 && s.Generation != gen8080+1 {
			t.Fatalf("8080 slice generation %d -> %d: want exactly one write", gen8080, s.Generation)
		}
	}

	// A headless Service gets slices too, marked headless.
	headless := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-headless"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "web"}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, headless, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hs := waitSlices(t, client, "web-headless", ":a(RSt),b(RSt),c(rST),d(RSt)")
	if _, ok := hs[0].Labels[corev1.IsHeadlessService]; !ok {
		t.Fatalf("headless label missing: %v", hs[0].Labels)
	}
}
