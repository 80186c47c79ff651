package endpoints

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testService(ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, Ports: ports,
		},
	}
}

type podOpt func(*corev1.Pod)

func testPod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func unready(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) {
	now := metav1.Now()
	p.DeletionTimestamp = &now
}
func httpOn(port int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = port }
}

func addr(name, ip string) corev1.EndpointAddress {
	node := "node1"
	return corev1.EndpointAddress{IP: ip, NodeName: &node,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}}
}

var namedHTTP = corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}

func TestComputeSubsets(t *testing.T) {
	port := func(n int32) []corev1.EndpointPort {
		return []corev1.EndpointPort{{Name: "http", Port: n, Protocol: corev1.ProtocolTCP}}
	}
	tests := []struct {
		name string
		svc  func() *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{
		{
			name: "ready and unready, terminating and ip-less left out",
			svc:  func() *corev1.Service { return testService(namedHTTP) },
			pods: []*corev1.Pod{
				testPod("b", "10.0.0.2"), testPod("a", "10.0.0.1"),
				testPod("c", "10.0.0.3", unready), testPod("d", "10.0.0.4", terminating), testPod("e", ""),
			},
			want: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{addr("a", "10.0.0.1"), addr("b", "10.0.0.2")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("c", "10.0.0.3")},
				Ports:             port(8080),
			}},
		},
		{
			name: "publishNotReadyAddresses lists unready and terminating as ready",
			svc: func() *corev1.Service {
				s := testService(namedHTTP)
				s.Spec.PublishNotReadyAddresses = true
				return s
			},
			pods: []*corev1.Pod{testPod("a", "10.0.0.1", unready), testPod("d", "10.0.0.4", terminating)},
			want: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1"), addr("d", "10.0.0.4")},
				Ports:     port(8080),
			}},
		},
		{
			name: "named port resolves per pod",
			svc:  func() *corev1.Service { return testService(namedHTTP) },
			pods: []*corev1.Pod{testPod("a", "10.0.0.1"), testPod("b", "10.0.0.2", httpOn(9090))},
			want: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: port(8080)},
				{Addresses: []corev1.EndpointAddress{addr("b", "10.0.0.2")}, Ports: port(9090)},
			},
		},
		{
			name: "headless without ports, hostname for its subdomain",
			svc: func() *corev1.Service {
				s := testService()
				s.Spec.ClusterIP = corev1.ClusterIPNone
				return s
			},
			pods: []*corev1.Pod{testPod("a", "10.0.0.1", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a0", "web" })},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{func() corev1.EndpointAddress {
				a := addr("a", "10.0.0.1")
				a.Hostname = "a0"
				return a
			}()}}},
		},
		{
			name: "pod without the named port is skipped",
			svc:  func() *corev1.Service { return testService(namedHTTP) },
			pods: []*corev1.Pod{testPod("a", "10.0.0.1", func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })},
			want: []corev1.EndpointSubset{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _ := computeSubsets(tt.svc(), tt.pods)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("subsets:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestRepackGroupsPortsByAddresses checks upstream's packing: ports offered
// by exactly the same addresses share a subset.
func TestRepackGroupsPortsByAddresses(t *testing.T) {
	metrics := corev1.ServicePort{Name: "metrics", Port: 9100, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP}
	withMetrics := func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP})
	}
	got, _, _ := computeSubsets(testService(namedHTTP, metrics), []*corev1.Pod{
		testPod("a", "10.0.0.1", withMetrics), testPod("b", "10.0.0.2"),
	})
	want := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1"), addr("b", "10.0.0.2")},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}},
		{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")},
			Ports: []corev1.EndpointPort{{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestDesiredEndpoints(t *testing.T) {
	svc := testService(namedHTTP)
	subsets, _, _ := computeSubsets(svc, []*corev1.Pod{testPod("a", "10.0.0.1")})
	trigger := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	created := desiredEndpoints(svc, nil, subsets, trigger)
	if created == nil {
		t.Fatal("no Endpoints to create")
	}
	wantLabels := map[string]string{"team": "a", LabelManagedBy: ControllerName}
	if !reflect.DeepEqual(created.Labels, wantLabels) {
		t.Fatalf("labels = %v, want %v", created.Labels, wantLabels)
	}
	if got := created.Annotations[corev1.EndpointsLastChangeTriggerTime]; got != "2026-01-02T03:04:05Z" {
		t.Fatalf("trigger annotation = %q", got)
	}
	stored := created.DeepCopy()
	stored.ResourceVersion = "7"
	if again := desiredEndpoints(svc, stored, subsets, time.Time{}); again != nil {
		t.Fatalf("unchanged endpoints rewritten: %+v", again)
	}
	// Readiness flips: rewritten, annotation dropped with no trigger time.
	flipped, _, _ := computeSubsets(svc, []*corev1.Pod{testPod("a", "10.0.0.1", unready)})
	upd := desiredEndpoints(svc, stored, flipped, time.Time{})
	if upd == nil || len(upd.Subsets[0].NotReadyAddresses) != 1 {
		t.Fatalf("readiness change not written: %+v", upd)
	}
	if _, ok := upd.Annotations[corev1.EndpointsLastChangeTriggerTime]; ok {
		t.Fatal("stale trigger time kept")
	}
	headless := testService(namedHTTP)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	if h := desiredEndpoints(headless, nil, subsets, trigger); h.Labels[corev1.IsHeadlessService] != "" || len(h.Labels) != 3 {
		t.Fatalf("headless labels = %v", h.Labels)
	}
}

func addrs(prefix string, n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, n)
	for i := range out {
		out[i] = corev1.EndpointAddress{IP: fmt.Sprintf("%s.%d.%d", prefix, i/250, i%250)}
	}
	return out
}

func TestTruncateWorkedExamples(t *testing.T) {
	// 900 ready, 300 not ready in two subsets of 150: 50 not-ready each.
	subsets := []corev1.EndpointSubset{
		{Addresses: addrs("10.1", 450), NotReadyAddresses: addrs("10.2", 150)},
		{Addresses: addrs("10.3", 450), NotReadyAddresses: addrs("10.4", 150)},
	}
	got, over := truncateSubsets(subsets)
	if !over || len(got) != 2 {
		t.Fatalf("over=%v subsets=%d", over, len(got))
	}
	for i, ss := range got {
		if len(ss.Addresses) != 450 || len(ss.NotReadyAddresses) != 50 {
			t.Fatalf("subset %d: %d ready, %d not ready; want 450, 50", i, len(ss.Addresses), len(ss.NotReadyAddresses))
		}
	}
	// 1200 ready: cut to 1000, not-ready dropped, a not-ready-only subset
	// disappears.
	subsets = []corev1.EndpointSubset{
		{Addresses: addrs("10.1", 600)}, {Addresses: addrs("10.3", 600)}, {NotReadyAddresses: addrs("10.4", 5)},
	}
	got, over = truncateSubsets(subsets)
	total := 0
	for _, ss := range got {
		total += len(ss.Addresses) + len(ss.NotReadyAddresses)
	}
	if !over || len(got) != 2 || total != maxCapacity {
		t.Fatalf("over=%v subsets=%d total=%d", over, len(got), total)
	}
	if _, over := truncateSubsets([]corev1.EndpointSubset{{Addresses: addrs("10.1", 1000)}}); over {
		t.Fatal("exactly 1000 addresses truncated")
	}
}

// BenchmarkComputeSubsets10k measures one sync's computation for a
// Service of 10,000 pods.
func BenchmarkComputeSubsets10k(b *testing.B) {
	svc := testService(namedHTTP)
	pods := make([]*corev1.Pod, 10000)
	for i := range pods {
		pods[i] = testPod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
	}
	b.ResetTimer()
	for range b.N {
		if ss, _, _ := computeSubsets(svc, pods); len(ss) != 1 || len(ss[0].Addresses) != 10000 {
			b.Fatal("wrong subsets")
		}
	}
}
