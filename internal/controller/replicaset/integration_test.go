package replicaset

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func newReplicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func (r *rig) createRS(t *testing.T, rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	t.Helper()
	out, err := r.client.AppsV1().ReplicaSets(r.ns).Create(context.Background(), rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *rig) scaleRS(t *testing.T, name string, replicas int32) {
	t.Helper()
	ctx := context.Background()
	s, err := r.client.AppsV1().ReplicaSets(r.ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Replicas = replicas
	if _, err := r.client.AppsV1().ReplicaSets(r.ns).UpdateScale(ctx, name, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) waitRSStatus(t *testing.T, name string, ok func(appsv1.ReplicaSetStatus) bool) appsv1.ReplicaSetStatus {
	t.Helper()
	var st appsv1.ReplicaSetStatus
	eventually(t, "ReplicaSet status of "+name, func() (bool, error) {
		rs, err := r.client.AppsV1().ReplicaSets(r.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st = rs.Status
		return rs.Status.ObservedGeneration == rs.Generation && ok(rs.Status), fmt.Errorf("status %+v", rs.Status)
	})
	return st
}

func TestScaleUpNeverExceedsSpec(t *testing.T) {
	r := startRig(t, nil)
	pc := r.countPods(t)
	rs := r.createRS(t, newReplicaSet("web", 200))
	waitCount(t, pc, 200)
	r.waitRSStatus(t, "web", func(s appsv1.ReplicaSetStatus) bool { return s.Replicas == 200 && s.FullyLabeledReplicas == 200 })
	// Give a lagging controller the chance to overshoot before judging.
	time.Sleep(300 * time.Millisecond)
	if n, highest := pc.now(); n != 200 || highest != 200 {
		t.Fatalf("pods now %d, at most %d; want exactly 200 throughout", n, highest)
	}
	for _, p := range r.pods(t) {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" ||
			!ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Fatalf("pod %s has controller reference %+v", p.Name, ref)
		}
	}

	r.scaleRS(t, "web", 20)
	waitCount(t, pc, 20)
	r.waitRSStatus(t, "web", func(s appsv1.ReplicaSetStatus) bool { return s.Replicas == 20 })
}

func TestScaleDownDeletesNotReadyFirst(t *testing.T) {
	r := startRig(t, nil)
	pc := r.countPods(t)
	r.createRS(t, newReplicaSet("web", 5))
	waitCount(t, pc, 5)
	pods := r.pods(t)
	keep := map[string]bool{}
	for _, p := range pods[:2] {
		r.markReady(t, p.Name, time.Now().Add(-time.Minute))
		keep[p.Name] = true
	}
	r.waitRSStatus(t, "web", func(s appsv1.ReplicaSetStatus) bool { return s.ReadyReplicas == 2 && s.AvailableReplicas == 2 })
	r.scaleRS(t, "web", 2)
	waitCount(t, pc, 2)
	for _, p := range r.pods(t) {
		if !keep[p.Name] {
			t.Fatalf("ready pod deleted while not-ready ones existed; left %s", p.Name)
		}
	}
}

func TestAdoptionAndRelease(t *testing.T) {
	r := startRig(t, nil)
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	mkPod := func(name string, refs []metav1.OwnerReference) {
		_, err := r.client.CoreV1().Pods(r.ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: refs},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	mkPod("orphan", nil)
	// Matches too, but another controller owns it: never adopted.
	foreign := []metav1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "other",
		UID: "11111111-2222-3333-4444-555555555555", Controller: ptr.To(true)}}
	mkPod("foreign", foreign)

	rs := r.createRS(t, newReplicaSet("web", 2))
	owned := func() []string {
		var names []string
		for _, p := range r.pods(t) {
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID {
				names = append(names, p.Name)
			}
		}
		sort.Strings(names)
		return names
	}
	eventually(t, "adoption plus one new pod", func() (bool, error) {
		names := owned()
		return len(names) == 2, fmt.Errorf("owned %v", names)
	})
	o, err := r.client.CoreV1().Pods(r.ns).Get(ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.UID != rs.UID || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Fatalf("orphan not adopted with a blocking controller reference: %+v", o.OwnerReferences)
	}
	f, err := r.client.CoreV1().Pods(r.ns).Get(ctx, "foreign", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.OwnerReferences) != 1 || f.OwnerReferences[0].UID != foreign[0].UID {
		t.Fatalf("pod of another controller was touched: %+v", f.OwnerReferences)
	}

	// Relabel the adopted pod: it is released and replaced.
	o.Labels = map[string]string{"app": "something-else"}
	if _, err := r.client.CoreV1().Pods(r.ns).Update(ctx, o, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "release of the relabelled pod", func() (bool, error) {
		p, err := r.client.CoreV1().Pods(r.ns).Get(ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(p.OwnerReferences) == 0, fmt.Errorf("owner references %+v", p.OwnerReferences)
	})
	eventually(t, "a replacement for the released pod", func() (bool, error) {
		names := owned()
		return len(names) == 2 && names[0] != "orphan" && names[1] != "orphan", fmt.Errorf("owned %v", names)
	})
}

func TestTerminatingPodsDoNotCount(t *testing.T) {
	r := startRig(t, nil)
	ctx := context.Background()
	pc := r.countPods(t)
	r.createRS(t, newReplicaSet("web", 2))
	waitCount(t, pc, 2)
	// Bound pods are deleted gracefully: they linger with a
	// deletionTimestamp, as they would while a kubelet stops them.
	victim := r.pods(t)[0].Name
	if err := r.client.CoreV1().Pods(r.ns).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: victim},
		Target:     corev1.ObjectReference{Kind: "Node", Name: "node-1"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.client.CoreV1().Pods(r.ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st := r.waitRSStatus(t, "web", func(s appsv1.ReplicaSetStatus) bool {
		return s.Replicas == 2 && ptr.Deref(s.TerminatingReplicas, -1) == 1
	})
	if live := r.livePods(t); len(live) != 2 {
		t.Fatalf("%d live pods besides the terminating one, want 2 (status %+v)", len(live), st)
	}
	if len(r.pods(t)) != 3 {
		t.Fatal("the terminating pod should still exist")
	}
}

func TestReplicationController(t *testing.T) {
	r := startRig(t, nil)
	ctx := context.Background()
	pc := r.countPods(t)
	labels := map[string]string{"app": "legacy"}
	rc, err := r.client.CoreV1().ReplicationControllers(r.ns).Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](3),
			Selector: labels,
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitCount(t, pc, 3)
	for _, p := range r.pods(t) {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.UID != rc.UID || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" {
			t.Fatalf("pod %s controller reference %+v", p.Name, ref)
		}
	}
	r.markReady(t, r.pods(t)[0].Name, time.Now())
	eventually(t, "RC status", func() (bool, error) {
		rc, err := r.client.CoreV1().ReplicationControllers(r.ns).Get(ctx, "legacy", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := rc.Status
		return s.Replicas == 3 && s.FullyLabeledReplicas == 3 && s.ReadyReplicas == 1 && s.AvailableReplicas == 1 &&
			s.ObservedGeneration == rc.Generation, fmt.Errorf("status %+v", s)
	})
	rc, err = r.client.CoreV1().ReplicationControllers(r.ns).Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Spec.Replicas = ptr.To[int32](1)
	if _, err := r.client.CoreV1().ReplicationControllers(r.ns).Update(ctx, rc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCount(t, pc, 1)
	if p := r.pods(t)[0]; p.Status.Phase != corev1.PodRunning {
		t.Fatalf("scale-down kept the not-ready pod %s", p.Name)
	}
}

func TestAvailabilityAfterMinReadySeconds(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	r := startRig(t, clk)
	pc := r.countPods(t)
	rs := newReplicaSet("web", 1)
	rs.Spec.MinReadySeconds = 30
	r.createRS(t, rs)
	waitCount(t, pc, 1)
	r.markReady(t, r.pods(t)[0].Name, clk.Now())
	r.waitRSStatus(t, "web", func(s appsv1.ReplicaSetStatus) bool { return s.ReadyReplicas == 1 })
	time.Sleep(100 * time.Millisecond)
	if st := r.waitRSStatus(t, "web", func(appsv1.ReplicaSetStatus) bool { return true }); st.AvailableReplicas != 0 {
		t.Fatalf("available before minReadySeconds passed: %+v", st)
	}
	// No event arrives after this: only the requeue through the injected
	// clock can notice that the pod became available.
	clk.Step(31 * time.Second)
	r.waitRSStatus(t, "web", func(s appsv1.ReplicaSetStatus) bool { return s.AvailableReplicas == 1 })
}
