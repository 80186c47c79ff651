package daemonset

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
)

func (e *env) addNode(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	n, err := e.client.CoreV1().Nodes().Create(e.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := e.client.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) editNode(t *testing.T, name string, edit func(*corev1.Node)) {
	t.Helper()
	n, err := e.client.CoreV1().Nodes().Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edit(n)
	if _, err := e.client.CoreV1().Nodes().Update(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) editDS(t *testing.T, ns, name string, edit func(*appsv1.DaemonSet)) {
	t.Helper()
	eventually(t, "updating daemon set", func() error {
		ds, err := e.client.AppsV1().DaemonSets(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(ds)
		_, err = e.client.AppsV1().DaemonSets(ns).Update(e.ctx, ds, metav1.UpdateOptions{})
		return err
	})
}

func newDaemonSet(ns string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"role": "worker"},
					Containers:   []corev1.Container{{Name: "agent", Image: "agent:1"}},
				},
			},
		},
	}
}

// podsByNode lists the namespace's live pods keyed by target node.
func (e *env) podsByNode(ns string) (map[string][]corev1.Pod, error) {
	list, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string][]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		node, err := targetNode(&p)
		if err != nil {
			return nil, err
		}
		out[node] = append(out[node], p)
	}
	return out, nil
}

// expectNodes waits until exactly one pod targets each of nodes.
func (e *env) expectNodes(t *testing.T, ns string, nodes ...string) map[string]corev1.Pod {
	t.Helper()
	var got map[string][]corev1.Pod
	eventually(t, fmt.Sprintf("one pod on each of %v", nodes), func() (err error) {
		if got, err = e.podsByNode(ns); err != nil {
			return err
		}
		var have []string
		for n, pods := range got {
			if len(pods) != 1 {
				return fmt.Errorf("node %s has %d pods", n, len(pods))
			}
			have = append(have, n)
		}
		sort.Strings(have)
		if !slices.Equal(have, nodes) {
			return fmt.Errorf("pods on %v", have)
		}
		return nil
	})
	out := map[string]corev1.Pod{}
	for n, pods := range got {
		out[n] = pods[0]
	}
	return out
}

// expectRolledOut waits for kubectl's rollout status to report success.
func (e *env) expectRolledOut(t *testing.T, ns, name string, desired int32) *appsv1.DaemonSet {
	t.Helper()
	var ds *appsv1.DaemonSet
	eventually(t, "rollout complete", func() (err error) {
		if ds, err = e.client.AppsV1().DaemonSets(ns).Get(e.ctx, name, metav1.GetOptions{}); err != nil {
			return err
		}
		if msg, done := rolloutStatus(t, ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet").GroupKind()); !done {
			return fmt.Errorf("kubectl rollout status: %s", msg)
		}
		if ds.Status.DesiredNumberScheduled != desired || ds.Status.NumberReady != desired || ds.Status.CurrentNumberScheduled != desired {
			return fmt.Errorf("status %+v", ds.Status)
		}
		return nil
	})
	return ds
}

func TestDaemonSetFollowsNodes(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t, "ds-nodes")
	worker := map[string]string{"role": "worker"}
	e.addNode(t, "n1", worker)
	e.addNode(t, "n2", worker)
	e.addNode(t, "n3", nil)
	e.kubelet(t, ns, 0)
	ds, err := e.client.AppsV1().DaemonSets(ns).Create(e.ctx, newDaemonSet(ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := e.expectNodes(t, ns, "n1", "n2")
	p := pods["n1"]
	ref := metav1.GetControllerOf(&p)
	if ref == nil || ref.UID != ds.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Fatalf("owner ref %+v", ref)
	}
	if p.Spec.NodeName != "" {
		t.Fatalf("pod bound to %q; the scheduler binds daemon pods", p.Spec.NodeName)
	}
	if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" || p.Labels[templateGenerationLabel] != "1" {
		t.Fatalf("labels %v", p.Labels)
	}
	if len(p.Spec.Tolerations) != len(daemonTolerations) {
		t.Fatalf("tolerations %v", p.Spec.Tolerations)
	}
	got := e.expectRolledOut(t, ns, "agent", 2)
	if got.Status.UpdatedNumberScheduled != 2 || got.Status.NumberAvailable != 2 || got.Status.NumberUnavailable != 0 || got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("status %+v", got.Status)
	}

	// A new eligible node gets a pod; a node relabelled eligible too.
	e.addNode(t, "n4", worker)
	e.editNode(t, "n3", func(n *corev1.Node) { n.Labels = worker })
	e.expectNodes(t, ns, "n1", "n2", "n3", "n4")
	// A removed node's pod goes; so does one evicted by a NoExecute taint.
	if err := e.client.CoreV1().Nodes().Delete(e.ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.editNode(t, "n2", func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "maintenance", Effect: corev1.TaintEffectNoExecute}}
	})
	// A NoSchedule taint keeps the running pod; a relabel away removes it.
	e.editNode(t, "n4", func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}}
	})
	e.editNode(t, "n3", func(n *corev1.Node) { n.Labels = nil })
	e.expectNodes(t, ns, "n4")
	eventually(t, "status after node changes", func() error {
		ds, err := e.client.AppsV1().DaemonSets(ns).Get(e.ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return err
		}
		// n4 runs a pod it would not get today: misscheduled, not desired.
		if s := ds.Status; s.DesiredNumberScheduled != 0 || s.NumberMisscheduled != 1 || s.CurrentNumberScheduled != 0 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	events, err := e.client.CoreV1().Events(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, ev := range events.Items {
		if ev.InvolvedObject.UID == ds.UID {
			reasons[ev.Reason] = true
		}
	}
	if !reasons["SuccessfulCreate"] || !reasons["SuccessfulDelete"] {
		t.Fatalf("event reasons on the daemon set: %v", reasons)
	}
}

// nodeWatcher follows pods and records the most nodes that were at once
// without a ready pod, among the nodes it is told to watch, and the most
// live pods at once.
type nodeWatcher struct {
	mu               sync.Mutex
	pods             map[string]*corev1.Pod
	nodes            []string
	maxDown, maxPods int
}

func (e *env) watchNodes(t *testing.T, ns string, nodes []string) *nodeWatcher {
	t.Helper()
	list, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.client.CoreV1().Pods(ns).Watch(e.ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	nw := &nodeWatcher{pods: map[string]*corev1.Pod{}, nodes: nodes}
	for i := range list.Items {
		nw.pods[list.Items[i].Name] = &list.Items[i]
	}
	go func() {
		for ev := range w.ResultChan() {
			nw.observe(ev)
		}
	}()
	return nw
}

func (w *nodeWatcher) peaks() (maxDown, maxPods int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxDown, w.maxPods
}

func (w *nodeWatcher) observe(ev watch.Event) {
	p, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
		delete(w.pods, p.Name)
	} else {
		w.pods[p.Name] = p
	}
	down := 0
	for _, n := range w.nodes {
		up := false
		for _, q := range w.pods {
			if tn, _ := targetNode(q); tn == n && isPodReady(q) {
				up = true
			}
		}
		if !up {
			down++
		}
	}
	w.maxDown = max(w.maxDown, down)
	w.maxPods = max(w.maxPods, len(w.pods))
}

func TestDaemonSetRollingUpdateAndOnDelete(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t, "ds-update")
	nodes := []string{"a", "b", "c"}
	for _, n := range nodes {
		e.addNode(t, n, map[string]string{"role": "worker"})
	}
	e.kubelet(t, ns, 50*time.Millisecond)
	if _, err := e.client.AppsV1().DaemonSets(ns).Create(e.ctx, newDaemonSet(ns), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.expectNodes(t, ns, nodes...)
	e.expectRolledOut(t, ns, "agent", 3)

	nw := e.watchNodes(t, ns, nodes)

	// RollingUpdate (the default: maxUnavailable 1, no surge).
	e.editDS(t, ns, "agent", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	eventually(t, "all pods at template generation 2", func() error {
		byNode, err := e.podsByNode(ns)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if len(byNode[n]) != 1 || byNode[n][0].Labels[templateGenerationLabel] != "2" || byNode[n][0].Spec.Containers[0].Image != "agent:2" {
				return fmt.Errorf("node %s: %d pods", n, len(byNode[n]))
			}
		}
		return nil
	})
	ds := e.expectRolledOut(t, ns, "agent", 3)
	if ds.Status.UpdatedNumberScheduled != 3 {
		t.Fatalf("status %+v", ds.Status)
	}
	if maxDown, _ := nw.peaks(); maxDown != 1 {
		t.Fatalf("at most %d nodes were without a ready pod during the update; want exactly maxUnavailable=1", maxDown)
	}
	revs, err := e.client.AppsV1().ControllerRevisions(ns).List(e.ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "agent"}.String()})
	if err != nil {
		t.Fatal(err)
	}
	byRev := map[int64]string{}
	for _, r := range revs.Items {
		if !metav1.IsControlledBy(&r, ds) {
			t.Fatalf("revision %s not controlled by the daemon set", r.Name)
		}
		byRev[r.Revision] = r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	}
	byNode, _ := e.podsByNode(ns)
	if len(byRev) != 2 || byRev[2] != byNode["a"][0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] || !strings.HasPrefix(revs.Items[0].Name, "agent-") {
		t.Fatalf("revisions %v, pod hash %s", byRev, byNode["a"][0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey])
	}
	checkOnDelete(t, e, ns)
}

// checkOnDelete switches the daemon set to OnDelete with a new template:
// nothing is replaced until a pod is deleted, and that pod comes back at
// the new template.
func checkOnDelete(t *testing.T, e *env, ns string) {
	t.Helper()
	byNode, err := e.podsByNode(ns)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for n, pods := range byNode {
		before[n] = string(pods[0].UID)
	}
	e.editDS(t, ns, "agent", func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		ds.Spec.Template.Spec.Containers[0].Image = "agent:3"
	})
	eventually(t, "OnDelete change observed", func() error {
		ds, err := e.client.AppsV1().DaemonSets(ns).Get(e.ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ds.Status.ObservedGeneration != ds.Generation || ds.Status.UpdatedNumberScheduled != 0 || ds.Status.NumberReady != 3 {
			return fmt.Errorf("status %+v (generation %d)", ds.Status, ds.Generation)
		}
		return nil
	})
	byNode, _ = e.podsByNode(ns)
	for n, pods := range byNode {
		if len(pods) != 1 || string(pods[0].UID) != before[n] {
			t.Fatalf("OnDelete replaced the pod on %s", n)
		}
	}
	if err := e.client.CoreV1().Pods(ns).Delete(e.ctx, byNode["b"][0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted pod replaced at the new template", func() error {
		byNode, err := e.podsByNode(ns)
		if err != nil {
			return err
		}
		if len(byNode["b"]) != 1 || byNode["b"][0].Spec.Containers[0].Image != "agent:3" || byNode["b"][0].Labels[templateGenerationLabel] != "3" {
			return fmt.Errorf("node b: %d pods", len(byNode["b"]))
		}
		if string(byNode["a"][0].UID) != before["a"] || string(byNode["c"][0].UID) != before["c"] {
			return fmt.Errorf("other pods replaced too")
		}
		return nil
	})
}

func TestDaemonSetSurgeKeepsEveryNodeServing(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t, "ds-surge")
	nodes := []string{"a", "b", "c"}
	for _, n := range nodes {
		e.addNode(t, n, map[string]string{"role": "worker"})
	}
	e.kubelet(t, ns, 100*time.Millisecond)
	ds := newDaemonSet(ns)
	surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &surge, MaxUnavailable: &unavailable}}
	if _, err := e.client.AppsV1().DaemonSets(ns).Create(e.ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.expectNodes(t, ns, nodes...)
	e.expectRolledOut(t, ns, "agent", 3)

	nw := e.watchNodes(t, ns, nodes)
	e.editDS(t, ns, "agent", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	eventually(t, "all pods replaced", func() error {
		byNode, err := e.podsByNode(ns)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if len(byNode[n]) != 1 || byNode[n][0].Spec.Containers[0].Image != "agent:2" {
				var desc []string
				for _, p := range byNode[n] {
					desc = append(desc, fmt.Sprintf("%s(%s ready=%v %s)", p.Name, p.Spec.Containers[0].Image, isPodReady(&p), p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]))
				}
				return fmt.Errorf("node %s: pods %v", n, desc)
			}
		}
		return nil
	})
	e.expectRolledOut(t, ns, "agent", 3)
	maxDown, maxPods := nw.peaks()
	if maxDown != 0 {
		t.Fatalf("%d nodes were without a ready pod during a surge update", maxDown)
	}
	if maxPods != 4 {
		t.Fatalf("at most %d pods at once; maxSurge=1 over 3 nodes means 4", maxPods)
	}
}
