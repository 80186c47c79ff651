package disruption

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/controller/controllertest"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

func startController(t *testing.T) (kubernetes.Interface, *Controller) {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	c := controllertest.Start(t, s, New)
	return s.Client, c
}

// replicaSet creates a ReplicaSet and, playing its controller and the
// kubelet, n ready pods owned by it.
func replicaSet(t *testing.T, client kubernetes.Interface, replicas int32, n int) (*appsv1.ReplicaSet, []*corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}},
	}
	rs, err := client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	for i := range n {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("web-%d", i), Labels: labels,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
			Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
		}
		pod, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, setReady(t, client, pod, true))
	}
	return rs, pods
}

func setReady(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, ready bool) *corev1.Pod {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	out, err := client.CoreV1().Pods("default").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitStatus waits for "expected/desired/current/allowed" of a budget
// with no pending evictions.
func waitStatus(t *testing.T, client kubernetes.Interface, name, want string) *policyv1.PodDisruptionBudget {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		pdb, err := client.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := pdb.Status
		got = fmt.Sprintf("%d/%d/%d/%d", st.ExpectedPods, st.DesiredHealthy, st.CurrentHealthy, st.DisruptionsAllowed)
		if len(st.DisruptedPods) > 0 {
			got += fmt.Sprintf(" pending %v", st.DisruptedPods)
		}
		if got == want && st.ObservedGeneration == pdb.Generation {
			return pdb
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("budget %s: status %s, want %s", name, got, want)
	return nil
}

func TestBudgetStatus(t *testing.T) {
	client, _ := startController(t)
	ctx := context.Background()
	_, pods := replicaSet(t, client, 4, 4)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromString("50%")),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 50% of the ReplicaSet's 4 replicas: 2 must stay, 2 may go.
	got := waitStatus(t, client, "web", "4/2/4/2")
	c := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != policyv1.SufficientPodsReason {
		t.Fatalf("condition = %+v", c)
	}

	// A pod turns unready: one disruption left.
	setReady(t, client, pods[0], false)
	waitStatus(t, client, "web", "4/2/3/1")

	// Switching to maxUnavailable 1 is a new generation, observed.
	cur, err := client.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.MinAvailable, cur.Spec.MaxUnavailable = nil, ptr.To(intstr.FromInt32(1))
	if _, err := client.PolicyV1().PodDisruptionBudgets("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got = waitStatus(t, client, "web", "4/3/3/0")
	c = apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != policyv1.InsufficientPodsReason {
		t.Fatalf("condition = %+v", c)
	}
}

// TestEvictionConsumesBudget drives the API server's eviction handler:
// it spends the budget and records the pod in disruptedPods; the
// controller then sees the pod terminating and settles the status.
func TestEvictionConsumesBudget(t *testing.T) {
	client, _ := startController(t)
	ctx := context.Background()
	replicaSet(t, client, 3, 3)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "web", "3/2/3/1")
	evict := func(name string) error {
		return client.CoreV1().Pods("default").EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}})
	}
	if err := evict("web-0"); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	// The evicted pod is terminating: 2 healthy, nothing more may go,
	// and the eviction is settled (no longer in disruptedPods).
	waitStatus(t, client, "web", "3/2/2/0")
	if err := evict("web-1"); err == nil {
		t.Fatal("second eviction allowed past the budget")
	}
}

// TestScaleSubresource reads a controller's scale the generic way, as for
// custom resources.
func TestScaleSubresource(t *testing.T) {
	client, c := startController(t)
	rs, _ := replicaSet(t, client, 7, 0)
	ref := metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	uid, n, found, err := c.scales.fromSubresource(context.Background(), appsv1.SchemeGroupVersion, ref, "default")
	if err != nil || !found || uid != rs.UID || n != 7 {
		t.Fatalf("scale = %s %d %v %v", uid, n, found, err)
	}
	ref.UID = "other"
	if _, _, found, err := c.scales.fromSubresource(context.Background(), appsv1.SchemeGroupVersion, ref, "default"); found || err != nil {
		t.Fatalf("different incarnation found: %v %v", found, err)
	}
	cm := &metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x"}
	if _, _, _, err := c.scales.fromSubresource(context.Background(), corev1.SchemeGroupVersion, cm, "default"); err == nil {
		t.Fatal("a kind without scale subresource gave no error")
	}
}
