package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

func testPod(i int) *corev1.Pod {
	name := fmt.Sprintf("p%03d", i)
	ip := fmt.Sprintf("10.0.%d.%d", i/200, i%200+1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func pods(n int) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = testPod(i)
	}
	return out
}

// store plays the API server: it names created slices and keeps them.
func store(p plan, existing []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range p.delete {
		delete(byName, s.Name)
	}
	for _, s := range p.update {
		byName[s.Name] = s
	}
	for i, s := range p.create {
		c := s.DeepCopy()
		c.Name = fmt.Sprintf("%s%d-%d", s.GenerateName, len(byName), i)
		byName[c.Name] = c
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	return out
}

func sizes(slices []*discoveryv1.EndpointSlice) (total int, max int) {
	for _, s := range slices {
		total += len(s.Endpoints)
		if len(s.Endpoints) > max {
			max = len(s.Endpoints)
		}
	}
	return total, max
}

func TestReconcileChunksAt100(t *testing.T) {
	svc := testService()
	p := reconcile(svc, pods(250), nil, maxEndpointsPerSlice)
	if len(p.create) != 3 || len(p.update)+len(p.delete) != 0 {
		t.Fatalf("plan: %d create, %d update, %d delete; want 3 creates", len(p.create), len(p.update), len(p.delete))
	}
	total, max := sizes(p.create)
	if total != 250 || max != 100 {
		t.Fatalf("endpoints %d (max %d per slice), want 250 (max 100)", total, max)
	}
	s := p.create[0]
	if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels["team"] != "a" {
		t.Fatalf("labels = %v", s.Labels)
	}
	if s.AddressType != discoveryv1.AddressTypeIPv4 || !ownedBy(s, svc) || s.GenerateName != "web-" {
		t.Fatalf("slice meta: type %s owned %v generateName %q", s.AddressType, ownedBy(s, svc), s.GenerateName)
	}
	if len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || *s.Ports[0].Name != "http" {
		t.Fatalf("ports = %+v", s.Ports)
	}
}

func TestReconcileMinimalUpdates(t *testing.T) {
	svc := testService()
	all := pods(250)
	slices := store(reconcile(svc, all, nil, maxEndpointsPerSlice), nil)

	if p := reconcile(svc, all, slices, maxEndpointsPerSlice); len(p.create)+len(p.update)+len(p.delete) != 0 {
		t.Fatalf("nothing changed but plan has %d/%d/%d writes", len(p.create), len(p.update), len(p.delete))
	}

	// One pod turns unready: exactly the slice holding it is rewritten,
	// in place.
	changed := make([]*corev1.Pod, len(all))
	copy(changed, all)
	changed[17] = all[17].DeepCopy()
	changed[17].Status.Conditions[0].Status = corev1.ConditionFalse
	p := reconcile(svc, changed, slices, maxEndpointsPerSlice)
	if len(p.create) != 0 || len(p.delete) != 0 || len(p.update) != 1 {
		t.Fatalf("readiness change: %d/%d/%d writes, want one update", len(p.create), len(p.update), len(p.delete))
	}
	found := false
	for _, ep := range p.update[0].Endpoints {
		if ep.TargetRef.Name == "p017" {
			found = true
			if *ep.Conditions.Ready || *ep.Conditions.Serving || *ep.Conditions.Terminating {
				t.Fatalf("conditions = %+v", ep.Conditions)
			}
		}
	}
	if !found {
		t.Fatal("updated slice does not hold the changed pod")
	}

	// A pod goes away and a new one comes: the new one fills the slice
	// being written anyway, still one write.
	swapped := append(append([]*corev1.Pod{}, all[:17]...), all[18:]...)
	swapped = append(swapped, testPod(900))
	p = reconcile(svc, swapped, slices, maxEndpointsPerSlice)
	if len(p.create) != 0 || len(p.delete) != 0 || len(p.update) != 1 {
		t.Fatalf("swap: %d/%d/%d writes, want one update", len(p.create), len(p.update), len(p.delete))
	}
	if total, _ := sizes(store(p, slices)); total != 250 {
		t.Fatalf("after swap %d endpoints, want 250", total)
	}
}

// TestReconcileBestFit is reconcilePorts' worked example: slices A(100)
// and B(50), a pod in A turns unready and three pods appear: A is updated
// in place, the three go to B.
func TestReconcileBestFit(t *testing.T) {
	svc := testService()
	all := pods(150)
	slices := store(reconcile(svc, all, nil, maxEndpointsPerSlice), nil)
	var full string
	for _, s := range slices {
		if len(s.Endpoints) == 100 {
			full = s.Name
		}
	}
	cur := append([]*corev1.Pod{}, all...)
	// Find a pod in the full slice.
	var inFull string
	for _, s := range slices {
		if s.Name == full {
			inFull = s.Endpoints[0].TargetRef.Name
		}
	}
	for i, p := range cur {
		if p.Name == inFull {
			cur[i] = p.DeepCopy()
			cur[i].Status.Conditions[0].Status = corev1.ConditionFalse
		}
	}
	cur = append(cur, testPod(500), testPod(501), testPod(502))
	p := reconcile(svc, cur, slices, maxEndpointsPerSlice)
	if len(p.create) != 0 || len(p.delete) != 0 || len(p.update) != 2 {
		t.Fatalf("%d/%d/%d writes, want two updates", len(p.create), len(p.update), len(p.delete))
	}
	for _, s := range p.update {
		want := 100
		if s.Name != full {
			want = 53
		}
		if len(s.Endpoints) != want {
			t.Fatalf("slice %s has %d endpoints, want %d", s.Name, len(s.Endpoints), want)
		}
	}
}

func TestReconcilePlaceholderAndRecycle(t *testing.T) {
	svc := testService()
	p := reconcile(svc, nil, nil, maxEndpointsPerSlice)
	if len(p.create) != 1 || len(p.create[0].Endpoints) != 0 {
		t.Fatalf("no pods: want one empty placeholder, got %d creates", len(p.create))
	}
	placeholder := store(p, nil)
	if p := reconcile(svc, nil, placeholder, maxEndpointsPerSlice); len(p.create)+len(p.update)+len(p.delete) != 0 {
		t.Fatalf("placeholder rewritten: %d/%d/%d", len(p.create), len(p.update), len(p.delete))
	}
	// Pods appear: the placeholder's ports differ, so its group goes away;
	// the delete plus create becomes one update of the placeholder.
	p = reconcile(svc, pods(3), placeholder, maxEndpointsPerSlice)
	if len(p.create) != 0 || len(p.delete) != 0 || len(p.update) != 1 || p.update[0].Name != placeholder[0].Name {
		t.Fatalf("%d/%d/%d writes, want the placeholder updated", len(p.create), len(p.update), len(p.delete))
	}
	// And back: all pods gone, the slice becomes the placeholder again.
	withPods := store(p, placeholder)
	p = reconcile(svc, nil, withPods, maxEndpointsPerSlice)
	if len(p.create) != 0 || len(p.delete) != 0 || len(p.update) != 1 || len(p.update[0].Endpoints) != 0 || len(p.update[0].Ports) != 0 {
		t.Fatalf("%d/%d/%d writes, want one update to an empty slice", len(p.create), len(p.update), len(p.delete))
	}
}

func TestReconcileForeignAndRelabel(t *testing.T) {
	svc := testService()
	slices := store(reconcile(svc, pods(3), nil, maxEndpointsPerSlice), nil)
	foreign := slices[0].DeepCopy()
	foreign.Name, foreign.UID = "web-old", "old"
	foreign.OwnerReferences[0].UID = "someone-else"
	p := reconcile(svc, pods(3), append(slices, foreign), maxEndpointsPerSlice)
	if len(p.delete) != 1 || p.delete[0].Name != "web-old" || len(p.update)+len(p.create) != 0 {
		t.Fatalf("foreign slice: %d/%d/%d writes", len(p.create), len(p.update), len(p.delete))
	}
	relabeled := svc.DeepCopy()
	relabeled.Labels["team"] = "b"
	p = reconcile(relabeled, pods(3), slices, maxEndpointsPerSlice)
	if len(p.update) != 1 || p.update[0].Labels["team"] != "b" {
		t.Fatalf("label change not written: %+v", p.update)
	}
}

func TestReconcileNamedPortsGroupSlices(t *testing.T) {
	svc := testService()
	ps := pods(4)
	ps[3].Spec.Containers[0].Ports[0].ContainerPort = 9090
	p := reconcile(svc, ps, nil, maxEndpointsPerSlice)
	if len(p.create) != 2 {
		t.Fatalf("two port sets want two slices, got %d", len(p.create))
	}
	got := map[int32]int{}
	for _, s := range p.create {
		got[*s.Ports[0].Port] = len(s.Endpoints)
	}
	if got[8080] != 3 || got[9090] != 1 {
		t.Fatalf("endpoints per port = %v", got)
	}
}

func TestPodToEndpointConditions(t *testing.T) {
	svc := testService()
	tests := []struct {
		name                        string
		ready, terminating, publish bool
		wantReady, wantServing      bool
	}{
		{"ready", true, false, false, true, true},
		{"unready", false, false, false, false, false},
		{"terminating but serving", true, true, false, false, true},
		{"terminating not serving", false, true, false, false, false},
		{"publish not ready", false, true, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPod(1)
			if !tt.ready {
				p.Status.Conditions[0].Status = corev1.ConditionFalse
			}
			if tt.terminating {
				p.DeletionTimestamp = &metav1.Time{}
			}
			s := svc.DeepCopy()
			s.Spec.PublishNotReadyAddresses = tt.publish
			ep := podToEndpoint(p, s, discoveryv1.AddressTypeIPv4)
			c := ep.Conditions
			if *c.Ready != tt.wantReady || *c.Serving != tt.wantServing || *c.Terminating != tt.terminating {
				t.Fatalf("conditions ready=%v serving=%v terminating=%v", *c.Ready, *c.Serving, *c.Terminating)
			}
			if *ep.NodeName != "node1" || ep.Zone != nil || ep.Addresses[0] != p.Status.PodIP {
				t.Fatalf("endpoint = %+v", ep)
			}
		})
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-a", UID: "a", Generation: 2,
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}}
	tr.written(s)
	if !tr.stale("ns/web", nil) {
		t.Fatal("a written slice missing from the cache is stale")
	}
	old := s.DeepCopy()
	old.Generation = 1
	if !tr.stale("ns/web", []*discoveryv1.EndpointSlice{old}) || tr.stale("ns/web", []*discoveryv1.EndpointSlice{s}) {
		t.Fatal("generation comparison wrong")
	}
	if tr.shouldSync(s) {
		t.Fatal("own write echoed back should not sync")
	}
	newer := s.DeepCopy()
	newer.Generation = 3
	if !tr.shouldSync(newer) {
		t.Fatal("someone else's change should sync")
	}
	tr.deleted(s)
	if !tr.stale("ns/web", []*discoveryv1.EndpointSlice{s}) {
		t.Fatal("a deleted slice still cached is stale")
	}
	if tr.handleDeletion(s) {
		t.Fatal("own deletion should not sync")
	}
	if !tr.handleDeletion(s) {
		t.Fatal("an unexpected deletion should sync")
	}
}

// BenchmarkReconcile10k measures one sync's planning for a Service of
// 10,000 pods (100 slices) after one pod changed readiness.
func BenchmarkReconcile10k(b *testing.B) {
	svc := testService()
	all := pods(10000)
	slices := store(reconcile(svc, all, nil, maxEndpointsPerSlice), nil)
	changed := append([]*corev1.Pod{}, all...)
	changed[5000] = all[5000].DeepCopy()
	changed[5000].Status.Conditions[0].Status = corev1.ConditionFalse
	b.ResetTimer()
	for range b.N {
		if p := reconcile(svc, changed, slices, maxEndpointsPerSlice); len(p.update) != 1 {
			b.Fatalf("%d updates", len(p.update))
		}
	}
}
