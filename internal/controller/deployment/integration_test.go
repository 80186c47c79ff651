package deployment

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func (r *rig) rsByImage(t *testing.T, image string) *appsv1.ReplicaSet {
	t.Helper()
	for _, rs := range r.replicaSets(t) {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return &rs
		}
	}
	return nil
}

func TestRollingUpdateStaysWithinSurgeAndUnavailability(t *testing.T) {
	r := startRig(t, nil)
	// 10 replicas at 25%/25%: at most 13 pods, at least 8 available.
	const replicas, maxPods, minAvailable = 10, 13, 8
	var armed atomic.Bool
	var peak atomic.Int32
	pw := r.watchPods(t, func(pods map[string]*corev1.Pod) error {
		peak.Store(max(peak.Load(), int32(len(pods))))
		if len(pods) > maxPods {
			return fmt.Errorf("%d pods exist, more than replicas+maxSurge = %d", len(pods), maxPods)
		}
		ready := 0
		for _, p := range pods {
			if isReady(p) {
				ready++
			}
		}
		if armed.Load() && ready < minAvailable {
			return fmt.Errorf("%d pods available, fewer than replicas-maxUnavailable = %d", ready, minAvailable)
		}
		return nil
	})
	r.runKubelet(t, func(*corev1.Pod) bool { return true })
	r.create(t, newDeployment("web", replicas, "app:v1"))
	r.waitRolledOut(t, "web")
	v1 := r.rsByImage(t, "app:v1")
	if v1 == nil || v1.Name != "web-"+v1.Labels[appsv1.DefaultDeploymentUniqueLabelKey] {
		t.Fatalf("ReplicaSet not named after the template hash: %+v", v1)
	}
	if !r.events.has(fmt.Sprintf("Normal ScalingReplicaSet Scaled up replica set %s from 0 to 10", v1.Name)) {
		t.Errorf("missing scale-up event; have %v", r.events.lines)
	}

	armed.Store(true)
	peak.Store(0)
	r.update(t, "web", setImage("app:v2"))
	r.waitRolledOut(t, "web")

	if v := pw.violations(); len(v) > 0 {
		t.Fatalf("rolling update broke its bounds:\n%s", strings.Join(v, "\n"))
	}
	if peak.Load() <= replicas {
		t.Errorf("the rollout never used its surge (peak %d pods)", peak.Load())
	}
	// kubectl's verdict matches the pods: all new, all ready.
	pods := r.livePods(t)
	v2 := r.rsByImage(t, "app:v2")
	if len(pods) != replicas {
		t.Fatalf("%d pods after the rollout, want %d", len(pods), replicas)
	}
	for _, p := range pods {
		if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != v2.Labels[appsv1.DefaultDeploymentUniqueLabelKey] || !isReady(&p) {
			t.Fatalf("rollout reported done with pod %s (labels %v, ready %v)", p.Name, p.Labels, isReady(&p))
		}
	}
	if !r.events.has(fmt.Sprintf("Normal ScalingReplicaSet Scaled up replica set %s from 0 to 3", v2.Name)) {
		t.Errorf("missing first surge event for %s; have %v", v2.Name, r.events.lines)
	}
	d := r.get(t, "web")
	if d.Annotations[RevisionAnnotation] != "2" || v2.Annotations[RevisionAnnotation] != "2" ||
		v2.Annotations[DesiredReplicasAnnotation] != "10" || v2.Annotations[MaxReplicasAnnotation] != "13" {
		t.Errorf("annotations: deployment %v, new ReplicaSet %v", d.Annotations, v2.Annotations)
	}
	if c := getCondition(d.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewReplicaSetAvailable {
		t.Errorf("Progressing = %+v", c)
	}
	if c := getCondition(d.Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("Available = %+v", c)
	}
	if d.Status.Replicas != 10 || d.Status.UpdatedReplicas != 10 || d.Status.AvailableReplicas != 10 || d.Status.UnavailableReplicas != 0 {
		t.Errorf("status %+v", d.Status)
	}
}

func TestRecreateNeverRunsOldAndNewTogether(t *testing.T) {
	r := startRig(t, nil)
	pw := r.watchPods(t, func(pods map[string]*corev1.Pod) error {
		images := map[string]bool{}
		for _, p := range pods {
			images[p.Spec.Containers[0].Image] = true
		}
		if len(images) > 1 {
			return fmt.Errorf("old and new pods together: %v", images)
		}
		return nil
	})
	r.runKubelet(t, func(*corev1.Pod) bool { return true })
	d := newDeployment("db", 3, "db:v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	r.create(t, d)
	r.waitRolledOut(t, "db")
	r.update(t, "db", setImage("db:v2"))
	r.waitRolledOut(t, "db")
	if v := pw.violations(); len(v) > 0 {
		t.Fatalf("Recreate overlapped:\n%s", strings.Join(v, "\n"))
	}
	pods := r.livePods(t)
	if len(pods) != 3 || pods[0].Spec.Containers[0].Image != "db:v2" {
		t.Fatalf("after Recreate: %d pods, first %s", len(pods), pods[0].Spec.Containers[0].Image)
	}
	old := r.rsByImage(t, "db:v1")
	if old == nil || ptr.Deref(old.Spec.Replicas, -1) != 0 {
		t.Fatalf("old ReplicaSet %+v should be kept at 0", old)
	}
}

func TestProgressDeadlineExceeded(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	// Time flows (retries and requeues need it) until the test jumps it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				clk.Step(20 * time.Millisecond)
			}
		}
	}()
	r := startRig(t, clk)
	d := newDeployment("stuck", 2, "app:v1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	r.create(t, d) // no kubelet: its pods never become ready
	// Settled: every pod created and counted, so no later sync sees
	// progress that would move the deadline past the jump below.
	eventually(t, "a settled, progressing rollout", func() (bool, error) {
		d := r.get(t, "stuck")
		c := getCondition(d.Status, appsv1.DeploymentProgressing)
		return c != nil && c.Status == corev1.ConditionTrue && d.Status.Replicas == 2 && d.Status.UpdatedReplicas == 2,
			fmt.Errorf("status %+v", d.Status)
	})
	if _, _, err := r.rolloutStatus(t, "stuck"); err != nil {
		t.Fatalf("too early to time out: %v", err)
	}
	// Only the requeue through the injected clock can notice this.
	clk.Step(61 * time.Second)
	eventually(t, "ProgressDeadlineExceeded", func() (bool, error) {
		c := getCondition(r.get(t, "stuck").Status, appsv1.DeploymentProgressing)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == ReasonProgressDeadline, fmt.Errorf("Progressing %+v", c)
	})
	if _, _, err := r.rolloutStatus(t, "stuck"); err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
		t.Fatalf("kubectl rollout status should fail, got %v", err)
	}
	if c := getCondition(r.get(t, "stuck").Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse {
		t.Fatalf("Available = %+v", c)
	}
}

func TestPauseAndResume(t *testing.T) {
	r := startRig(t, nil)
	reasons := r.watchProgressReasons(t, "web")
	r.runKubelet(t, func(*corev1.Pod) bool { return true })
	r.create(t, newDeployment("web", 2, "app:v1"))
	r.waitRolledOut(t, "web")

	r.update(t, "web", func(d *appsv1.Deployment) { d.Spec.Paused = true })
	r.update(t, "web", setImage("app:v2"))
	r.update(t, "web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](4) })
	// Paused: scaling happens, the rollout does not.
	eventually(t, "scaling while paused", func() (bool, error) {
		d := r.get(t, "web")
		v1 := r.rsByImage(t, "app:v1")
		return d.Status.ObservedGeneration == d.Generation && ptr.Deref(v1.Spec.Replicas, 0) == 4 && len(r.livePods(t)) == 4,
			fmt.Errorf("v1 at %d, %d pods", ptr.Deref(v1.Spec.Replicas, 0), len(r.livePods(t)))
	})
	time.Sleep(200 * time.Millisecond)
	if rs := r.rsByImage(t, "app:v2"); rs != nil {
		t.Fatalf("a paused deployment created ReplicaSet %s", rs.Name)
	}
	if c := getCondition(r.get(t, "web").Status, appsv1.DeploymentProgressing); c == nil ||
		c.Reason != ReasonDeploymentPaused || c.Status != corev1.ConditionUnknown {
		t.Fatalf("Progressing while paused: %+v", c)
	}

	r.update(t, "web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	r.waitRolledOut(t, "web")
	if v2 := r.rsByImage(t, "app:v2"); v2 == nil || ptr.Deref(v2.Spec.Replicas, 0) != 4 {
		t.Fatalf("resumed rollout: %+v", v2)
	}
	got := reasons()
	paused, resumed := slices.Index(got, ReasonDeploymentPaused), slices.Index(got, ReasonDeploymentResumed)
	if paused < 0 || resumed < paused {
		t.Fatalf("Progressing reasons %v: want DeploymentPaused then DeploymentResumed", got)
	}
}

func TestRevisionHistoryLimit(t *testing.T) {
	r := startRig(t, nil)
	r.runKubelet(t, func(*corev1.Pod) bool { return true })
	d := newDeployment("web", 1, "app:v1")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	r.create(t, d)
	r.waitRolledOut(t, "web")
	for _, img := range []string{"app:v2", "app:v3", "app:v4"} {
		r.update(t, "web", setImage(img))
		r.waitRolledOut(t, "web")
	}
	eventually(t, "history trimmed to one old ReplicaSet", func() (bool, error) {
		var revs []string
		for _, rs := range r.replicaSets(t) {
			revs = append(revs, rs.Spec.Template.Spec.Containers[0].Image+"@"+rs.Annotations[RevisionAnnotation])
		}
		slices.Sort(revs)
		return slices.Equal(revs, []string{"app:v3@3", "app:v4@4"}), fmt.Errorf("ReplicaSets %v", revs)
	})
}

func TestRollbackAndRestart(t *testing.T) {
	r := startRig(t, nil)
	r.runKubelet(t, func(*corev1.Pod) bool { return true })
	r.create(t, newDeployment("web", 2, "app:v1"))
	r.waitRolledOut(t, "web")
	r.update(t, "web", setImage("app:v2"))
	r.waitRolledOut(t, "web")

	// `kubectl rollout undo`, through kubectl's own code.
	rb, err := polymorphichelpers.RollbackerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}, r.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Rollback(r.get(t, "web"), nil, 0, cmdutil.DryRunNone); err != nil {
		t.Fatal(err)
	}
	r.waitRolledOut(t, "web")
	eventually(t, "revision 3 on the rolled-back-to ReplicaSet", func() (bool, error) {
		v1 := r.rsByImage(t, "app:v1")
		d := r.get(t, "web")
		return v1.Annotations[RevisionAnnotation] == "3" && v1.Annotations[RevisionHistoryAnnotation] == "1" &&
				d.Annotations[RevisionAnnotation] == "3" && ptr.Deref(v1.Spec.Replicas, 0) == 2,
			fmt.Errorf("v1 annotations %v, deployment %v", v1.Annotations, d.Annotations)
	})
	if n := len(r.replicaSets(t)); n != 2 {
		t.Fatalf("undo created a ReplicaSet: %d exist", n)
	}
	// `kubectl rollout history` now lists revisions 2 and 3.
	hv, err := polymorphichelpers.HistoryViewerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}, r.client)
	if err != nil {
		t.Fatal(err)
	}
	history, err := hv.ViewHistory(r.ns, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	var revs []string
	for _, line := range strings.Split(history, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			revs = append(revs, f[0])
		}
	}
	if !slices.Equal(revs, []string{"2", "3"}) {
		t.Fatalf("rollout history revisions %v, want [2 3]:\n%s", revs, history)
	}

	// `kubectl rollout restart`: a template annotation, so a new revision.
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
	if _, err := r.client.AppsV1().Deployments(r.ns).Patch(context.Background(), "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	r.waitRolledOut(t, "web")
	if n := len(r.replicaSets(t)); n != 3 {
		t.Fatalf("restart should add a ReplicaSet: %d exist", n)
	}
	if rev := r.get(t, "web").Annotations[RevisionAnnotation]; rev != "4" {
		t.Fatalf("revision after restart %q, want 4", rev)
	}
}

func TestProportionalScalingMidRollout(t *testing.T) {
	r := startRig(t, nil)
	// Only v1 pods become ready, so the rollout to v2 stalls with both
	// ReplicaSets active.
	r.runKubelet(t, func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image == "app:v1" })
	r.create(t, newDeployment("web", 10, "app:v1"))
	r.waitRolledOut(t, "web")
	r.update(t, "web", setImage("app:v2"))
	sizes := func() (int32, int32) {
		v1, v2 := r.rsByImage(t, "app:v1"), r.rsByImage(t, "app:v2")
		if v1 == nil || v2 == nil {
			return -1, -1
		}
		return ptr.Deref(v1.Spec.Replicas, -1), ptr.Deref(v2.Spec.Replicas, -1)
	}
	// 13 pods at most, 8 available: old 10 -> 8, new 0 -> 3 -> 5, stuck.
	eventually(t, "a stalled rollout at 8+5", func() (bool, error) {
		a, b := sizes()
		return a == 8 && b == 5, fmt.Errorf("v1=%d v2=%d", a, b)
	})
	// 10 -> 20: max 25 (surge 5); 12 more split 8:5 of 13 -> 15 and 10.
	r.update(t, "web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](20) })
	eventually(t, "proportional scale-up", func() (bool, error) {
		a, b := sizes()
		return a == 15 && b == 10, fmt.Errorf("v1=%d v2=%d", a, b)
	})
	time.Sleep(200 * time.Millisecond)
	if a, b := sizes(); a != 15 || b != 10 {
		t.Fatalf("sizes moved on to v1=%d v2=%d", a, b)
	}
	if v2 := r.rsByImage(t, "app:v2"); v2.Annotations[DesiredReplicasAnnotation] != "20" || v2.Annotations[MaxReplicasAnnotation] != "25" {
		t.Fatalf("replica annotations after scaling: %v", v2.Annotations)
	}
}
