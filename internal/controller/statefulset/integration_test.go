package statefulset

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

func newSet(ns string, replicas int32, mut ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "web:1",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	for _, m := range mut {
		m(set)
	}
	return set
}

func (e *env) editSet(t *testing.T, ns string, edit func(*appsv1.StatefulSet)) {
	t.Helper()
	eventually(t, "updating stateful set", func() error {
		set, err := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(set)
		_, err = e.client.AppsV1().StatefulSets(ns).Update(e.ctx, set, metav1.UpdateOptions{})
		return err
	})
}

func scaleTo(n int32) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) { s.Spec.Replicas = &n }
}

// livePods returns the namespace's pods that are not terminating, by name.
func (e *env) livePods(ns string) (map[string]corev1.Pod, error) {
	list, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out, nil
}

// expectReady waits until exactly the named pods exist (none other, not
// even terminating) and are ready, and kubectl's rollout status reports
// success.
func (e *env) expectReady(t *testing.T, ns string, names ...string) map[string]corev1.Pod {
	t.Helper()
	pods := map[string]corev1.Pod{}
	eventually(t, fmt.Sprintf("pods %v ready", names), func() error {
		list, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		clear(pods)
		var have []string
		for _, p := range list.Items {
			if !isRunningAndReady(&p) || p.DeletionTimestamp != nil {
				return fmt.Errorf("%s not ready or terminating", p.Name)
			}
			pods[p.Name] = p
			have = append(have, p.Name)
		}
		slices.Sort(have)
		if !slices.Equal(have, names) {
			return fmt.Errorf("pods %v", have)
		}
		set, err := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if msg, done := rolloutStatus(t, set, appsv1.SchemeGroupVersion.WithKind("StatefulSet").GroupKind()); !done {
			return fmt.Errorf("kubectl rollout status: %s", msg)
		}
		return nil
	})
	return pods
}

// podLog records a namespace's pod watch events in order.
type podLog struct {
	mu     sync.Mutex
	events []podEvent
}

type podEvent struct {
	typ         watch.EventType
	name        string
	ready       bool
	terminating bool
}

func (e *env) watchPods(t *testing.T, ns string) *podLog {
	t.Helper()
	w, err := e.client.CoreV1().Pods(ns).Watch(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	l := &podLog{}
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				l.mu.Lock()
				gone := p.DeletionTimestamp != nil || ev.Type == watch.Deleted
				l.events = append(l.events, podEvent{ev.Type, p.Name, isRunningAndReady(p) && !gone, gone})
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// index returns the position of the first event matching, or -1.
func (l *podLog) index(match func(podEvent) bool) int { return l.indexAfter(-1, match) }

// indexAfter returns the position of the first event after from matching,
// or -1.
func (l *podLog) indexAfter(from int, match func(podEvent) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := from + 1; i < len(l.events); i++ {
		if match(l.events[i]) {
			return i
		}
	}
	return -1
}

func added(name string) func(podEvent) bool {
	return func(ev podEvent) bool { return ev.typ == watch.Added && ev.name == name }
}

func becameReady(name string) func(podEvent) bool {
	return func(ev podEvent) bool { return ev.name == name && ev.ready }
}

func deleted(name string) func(podEvent) bool {
	return func(ev podEvent) bool { return ev.typ == watch.Deleted && ev.name == name }
}

// terminatingEv matches the first sign of a pod's deletion: its
// deletionTimestamp (pods are bound, so deletion is graceful).
func terminatingEv(name string) func(podEvent) bool {
	return func(ev podEvent) bool { return ev.terminating && ev.name == name }
}

func (e *env) claims(t *testing.T, ns string) map[string]corev1.PersistentVolumeClaim {
	t.Helper()
	list, err := e.client.CoreV1().PersistentVolumeClaims(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.PersistentVolumeClaim{}
	for _, c := range list.Items {
		out[c.Name] = c
	}
	return out
}

func TestStatefulSetOrderedScaleUpAndDown(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t, "sts-ordered")
	e.kubelet(t, ns, 100*time.Millisecond)
	log := e.watchPods(t, ns)
	set, err := e.client.AppsV1().StatefulSets(ns).Create(e.ctx, newSet(ns, 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.editSet(t, ns, scaleTo(3))
	pods := e.expectReady(t, ns, "web-0", "web-1", "web-2")
	for i := 1; i <= 2; i++ {
		prevReady, add := log.index(becameReady(fmt.Sprintf("web-%d", i-1))), log.index(added(fmt.Sprintf("web-%d", i)))
		if prevReady < 0 || add < prevReady {
			t.Fatalf("web-%d created at event %d, before web-%d was ready (event %d)", i, add, i-1, prevReady)
		}
	}
	p := pods["web-1"]
	if p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "web" || p.Labels[appsv1.StatefulSetPodNameLabel] != "web-1" ||
		p.Labels[appsv1.PodIndexLabel] != "1" || p.Labels[appsv1.StatefulSetRevisionLabel] == "" {
		t.Fatalf("identity of web-1: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}
	if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != set.UID || !*ref.BlockOwnerDeletion {
		t.Fatalf("owner %+v", ref)
	}
	if len(p.Spec.Volumes) == 0 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-1" {
		t.Fatalf("volumes %+v", p.Spec.Volumes)
	}
	claims := e.claims(t, ns)
	for _, n := range []string{"data-web-0", "data-web-1", "data-web-2"} {
		if c, ok := claims[n]; !ok || c.Labels["app"] != "web" || len(c.OwnerReferences) != 0 {
			t.Fatalf("claim %s: %v %+v (Retain policy: no owners)", n, ok, c.ObjectMeta)
		}
	}
	got, _ := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, "web", metav1.GetOptions{})
	if s := got.Status; s.Replicas != 3 || s.ReadyReplicas != 3 || s.AvailableReplicas != 3 || s.CurrentReplicas != 3 ||
		s.UpdatedReplicas != 3 || s.CurrentRevision == "" || s.CurrentRevision != s.UpdateRevision || s.ObservedGeneration != got.Generation {
		t.Fatalf("status %+v", s)
	}

	e.editSet(t, ns, scaleTo(1))
	e.expectReady(t, ns, "web-0")
	// One at a time from the top: web-1 starts terminating only once
	// web-2 is completely gone.
	del2, term1 := log.index(deleted("web-2")), log.index(terminatingEv("web-1"))
	if del2 < 0 || term1 < del2 {
		t.Fatalf("scale-down order: web-2 gone at event %d, web-1 terminating at %d", del2, term1)
	}
	if n := len(e.claims(t, ns)); n != 3 {
		t.Fatalf("%d claims after scale-down, want all 3 kept", n)
	}
	events, _ := e.client.CoreV1().Events(ns).List(e.ctx, metav1.ListOptions{})
	var msgs []string
	for _, ev := range events.Items {
		if ev.InvolvedObject.UID == set.UID {
			msgs = append(msgs, ev.Reason+": "+ev.Message)
		}
	}
	if !slices.Contains(msgs, "SuccessfulCreate: create Pod web-0 in StatefulSet web successful") ||
		!slices.Contains(msgs, "SuccessfulDelete: delete Pod web-2 in StatefulSet web successful") {
		t.Fatalf("events %v", msgs)
	}
}

func TestStatefulSetPartitionedRollingUpdate(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t, "sts-rolling")
	e.kubelet(t, ns, 50*time.Millisecond)
	partition := int32(1)
	if _, err := e.client.AppsV1().StatefulSets(ns).Create(e.ctx, newSet(ns, 3, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition}}
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := e.expectReady(t, ns, "web-0", "web-1", "web-2")
	oldRev := before["web-0"].Labels[appsv1.StatefulSetRevisionLabel]
	log := e.watchPods(t, ns)
	e.editSet(t, ns, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "web:2" })
	var set *appsv1.StatefulSet
	eventually(t, "ordinals >= 1 updated", func() (err error) {
		if set, err = e.client.AppsV1().StatefulSets(ns).Get(e.ctx, "web", metav1.GetOptions{}); err != nil {
			return err
		}
		if msg, done := rolloutStatus(t, set, appsv1.SchemeGroupVersion.WithKind("StatefulSet").GroupKind()); !done {
			return fmt.Errorf("kubectl rollout status: %s", msg)
		}
		return nil
	})
	pods := e.expectReady(t, ns, "web-0", "web-1", "web-2")
	if s := set.Status; s.UpdatedReplicas != 2 || s.CurrentRevision != oldRev || s.UpdateRevision == oldRev {
		t.Fatalf("status %+v (old revision %s)", s, oldRev)
	}
	for name, p := range pods {
		wantImage, wantRev := "web:2", set.Status.UpdateRevision
		if name == "web-0" {
			wantImage, wantRev = "web:1", oldRev
		}
		if p.Spec.Containers[0].Image != wantImage || p.Labels[appsv1.StatefulSetRevisionLabel] != wantRev {
			t.Fatalf("%s: image %s revision %s", name, p.Spec.Containers[0].Image, p.Labels[appsv1.StatefulSetRevisionLabel])
		}
	}
	if pods["web-0"].UID != before["web-0"].UID {
		t.Fatal("web-0, below the partition, was replaced")
	}
	// The watch opens with the existing pods, all ready; count from
	// web-2's deletion.
	d2 := log.index(deleted("web-2"))
	r2 := log.indexAfter(d2, becameReady("web-2"))
	d1 := log.index(terminatingEv("web-1"))
	if d2 < 0 || r2 < 0 || d1 < r2 {
		t.Fatalf("update order: web-2 deleted %d, ready again %d, web-1 terminating %d", d2, r2, d1)
	}

	// Partition 0 finishes the rollout and makes the update current.
	e.editSet(t, ns, func(s *appsv1.StatefulSet) { zero := int32(0); s.Spec.UpdateStrategy.RollingUpdate.Partition = &zero })
	eventually(t, "rollout finished", func() error {
		set, err := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s := set.Status; s.CurrentRevision != s.UpdateRevision || s.UpdatedReplicas != 3 || s.CurrentReplicas != 3 || s.ReadyReplicas != 3 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	pods = e.expectReady(t, ns, "web-0", "web-1", "web-2")
	if pods["web-0"].Spec.Containers[0].Image != "web:2" {
		t.Fatal("web-0 not updated after partition 0")
	}
	revs, err := e.client.AppsV1().ControllerRevisions(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil || len(revs.Items) != 2 {
		t.Fatalf("revisions: %v %d", err, len(revs.Items))
	}
}

func TestStatefulSetParallel(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t, "sts-parallel")
	// No kubelet: nothing ever becomes ready, yet all pods are created.
	if _, err := e.client.AppsV1().StatefulSets(ns).Create(e.ctx, newSet(ns, 3, func(s *appsv1.StatefulSet) {
		s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three unready pods", func() error {
		pods, err := e.livePods(ns)
		if err != nil {
			return err
		}
		if len(pods) != 3 {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	e.editSet(t, ns, scaleTo(0))
	eventually(t, "all pods gone", func() error {
		pods, err := e.livePods(ns)
		if err != nil {
			return err
		}
		if len(pods) != 0 {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
}

func TestStatefulSetClaimRetentionAndFailedPods(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t, "sts-retention")
	e.kubelet(t, ns, 0)
	set, err := e.client.AppsV1().StatefulSets(ns).Create(e.ctx, newSet(ns, 3, func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := e.expectReady(t, ns, "web-0", "web-1", "web-2")
	// whenDeleted=Delete: every claim in range is owned by the set.
	eventually(t, "claims owned by the set", func() error {
		for name, c := range e.claims(t, ns) {
			if ref := metav1.GetControllerOf(&c); ref == nil || ref.UID != set.UID {
				return fmt.Errorf("%s owners %+v", name, c.OwnerReferences)
			}
		}
		return nil
	})

	web0 := pods["web-0"]
	checkFailedPodReplaced(t, e, &web0)

	// whenScaled=Delete: scaled-down claims move to their pod before it
	// goes, so the garbage collector removes them with it.
	pods = e.expectReady(t, ns, "web-0", "web-1", "web-2")
	podUID := map[string]types.UID{"data-web-1": pods["web-1"].UID, "data-web-2": pods["web-2"].UID}
	e.editSet(t, ns, scaleTo(1))
	e.expectReady(t, ns, "web-0")
	claims := e.claims(t, ns)
	for name, uid := range podUID {
		c := claims[name]
		ref := metav1.GetControllerOf(&c)
		if ref == nil || ref.Kind != "Pod" || ref.UID != uid || len(c.OwnerReferences) != 1 {
			t.Fatalf("%s owners %+v, want only its pod %s", name, c.OwnerReferences, uid)
		}
	}
	if c := claims["data-web-0"]; metav1.GetControllerOf(&c) == nil || metav1.GetControllerOf(&c).UID != set.UID {
		t.Fatalf("data-web-0 owners %+v", c.OwnerReferences)
	}

	// Scaling back up must not reuse a claim the collector is about to
	// delete: web-1 waits until the stale claim is gone (here we play the
	// garbage collector), then gets a fresh one.
	e.editSet(t, ns, scaleTo(2))
	eventually(t, "scale-up observed", func() error {
		s, err := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil || s.Status.ObservedGeneration != s.Generation {
			return fmt.Errorf("not observed: %v", err)
		}
		return nil
	})
	if pods, _ := e.livePods(ns); len(pods) != 1 {
		t.Fatalf("web-1 created over its stale claim: %d pods", len(pods))
	}
	for name := range podUID {
		if err := e.client.CoreV1().PersistentVolumeClaims(ns).Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.expectReady(t, ns, "web-0", "web-1")
	c := e.claims(t, ns)["data-web-1"]
	if ref := metav1.GetControllerOf(&c); ref == nil || ref.UID != set.UID {
		t.Fatalf("new data-web-1 owners %+v", c.OwnerReferences)
	}
}

// checkFailedPodReplaced marks pod Failed, as a kubelet would, and waits
// for a new pod of the same name to run.
func checkFailedPodReplaced(t *testing.T, e *env, pod *corev1.Pod) {
	t.Helper()
	failed := pod.DeepCopy()
	failed.Status.Phase = corev1.PodFailed
	if _, err := e.client.CoreV1().Pods(pod.Namespace).UpdateStatus(e.ctx, failed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "failed "+pod.Name+" replaced", func() error {
		pods, err := e.livePods(pod.Namespace)
		if err != nil {
			return err
		}
		if p, ok := pods[pod.Name]; !ok || p.UID == failed.UID || !isRunningAndReady(&p) {
			return fmt.Errorf("%s not replaced yet", pod.Name)
		}
		return nil
	})
}
