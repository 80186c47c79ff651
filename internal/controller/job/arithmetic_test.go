package job

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

func TestWantActive(t *testing.T) {
	job := func(completions *int32, parallelism int32) *batchv1.Job {
		return &batchv1.Job{Spec: batchv1.JobSpec{Completions: completions, Parallelism: ptr.To(parallelism)}}
	}
	for _, tc := range []struct {
		name              string
		job               *batchv1.Job
		succeeded, active int32
		want              int32
		complete          bool
	}{
		// completions=5 parallelism=2: min(2, 5-succeeded).
		{"fresh", job(ptr.To[int32](5), 2), 0, 0, 2, false},
		{"three left", job(ptr.To[int32](5), 2), 2, 2, 2, false},
		{"one left", job(ptr.To[int32](5), 2), 4, 2, 1, false},
		{"all done", job(ptr.To[int32](5), 2), 5, 0, 0, true},
		{"done but one still running", job(ptr.To[int32](5), 2), 5, 1, 0, false},
		{"more succeeded than asked", job(ptr.To[int32](5), 2), 7, 0, 0, true},
		{"parallelism above completions", job(ptr.To[int32](3), 10), 0, 0, 3, false},
		{"parallelism zero pauses", job(ptr.To[int32](3), 0), 0, 0, 0, false},
		// Work queue (no completions): parallelism until one succeeds, then
		// leave the rest running and start nothing new.
		{"work queue fresh", job(nil, 3), 0, 0, 3, false},
		{"work queue one succeeded", job(nil, 3), 1, 2, 2, false},
		{"work queue drained", job(nil, 3), 1, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := wantActive(tc.job, tc.succeeded, tc.active); got != tc.want {
				t.Errorf("wantActive = %d, want %d", got, tc.want)
			}
			if got := isComplete(tc.job, tc.succeeded, tc.active); got != tc.complete {
				t.Errorf("isComplete = %v, want %v", got, tc.complete)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	for failures, want := range map[int32]time.Duration{
		0: 0, 1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 4: 80 * time.Second,
		5: 160 * time.Second, 6: 320 * time.Second, 7: 6 * time.Minute, 50: 6 * time.Minute,
	} {
		if got := backoffDelay(failures, podFailureBackoffBase, podFailureBackoffMax); got != want {
			t.Errorf("backoffDelay(%d) = %v, want %v", failures, got, want)
		}
	}
}

func TestBackoffRemaining(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		record backoffRecord
		want   time.Duration
	}{
		{"no failures", backoffRecord{}, 0},
		{"3 failures, last 15s ago: 40s-15s", backoffRecord{3, now.Add(-15 * time.Second)}, 25 * time.Second},
		{"1 failure, just now", backoffRecord{1, now}, 10 * time.Second},
		{"1 failure, long ago", backoffRecord{1, now.Add(-time.Hour)}, 0},
		{"capped: 9 failures 1m ago", backoffRecord{9, now.Add(-time.Minute)}, 5 * time.Minute},
	} {
		if got := tc.record.remaining(now, podFailureBackoffBase, podFailureBackoffMax); got != tc.want {
			t.Errorf("%s: remaining = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func podFinishedAt(phase corev1.PodPhase, at time.Time) *corev1.Pod {
	return &corev1.Pod{Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(at)}},
	}}}}
}

func TestNextBackoffRecord(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 1, 1, 10, min, 0, 0, time.UTC) }
	failedAt := func(mins ...int) []*corev1.Pod {
		var out []*corev1.Pod
		for _, m := range mins {
			out = append(out, podFinishedAt(corev1.PodFailed, at(m)))
		}
		return out
	}
	succeededAt := func(m int) []*corev1.Pod { return []*corev1.Pod{podFinishedAt(corev1.PodSucceeded, at(m))} }
	for _, tc := range []struct {
		name              string
		old               backoffRecord
		succeeded, failed []*corev1.Pod
		want              backoffRecord
	}{
		{"nothing new", backoffRecord{2, at(0)}, nil, nil, backoffRecord{2, at(0)}},
		{"failures add up", backoffRecord{2, at(0)}, nil, failedAt(3, 1), backoffRecord{4, at(3)}},
		{"success resets", backoffRecord{2, at(0)}, succeededAt(5), nil, backoffRecord{}},
		// The worked example of nextBackoffRecord.
		{"failures after the last success count", backoffRecord{2, at(0)}, succeededAt(1), failedAt(0, 2, 3), backoffRecord{2, at(3)}},
		{"failures before the success do not", backoffRecord{4, at(0)}, succeededAt(9), failedAt(5, 6), backoffRecord{}},
	} {
		if got := nextBackoffRecord(tc.old, tc.succeeded, tc.failed); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestFinishedTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	del := metav1.NewTime(base.Add(time.Minute))
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want time.Time
	}{
		{"latest container exit", &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(base.Add(2 * time.Second))}}},
			{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(base.Add(5 * time.Second))}}},
		}}}, base.Add(5 * time.Second)},
		{"ready false when a container still runs", &corev1.Pod{Status: corev1.PodStatus{
			ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(base.Add(7 * time.Second))}},
		}}, base.Add(7 * time.Second)},
		{"deletion minus grace", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &del, DeletionGracePeriodSeconds: ptr.To[int64](30)}}, base.Add(30 * time.Second)},
		{"creation as a last resort", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(base)}}, base},
	} {
		if got := finishedTime(tc.pod); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSettleUncounted(t *testing.T) {
	st := batchv1.JobStatus{Succeeded: 3, Failed: 1, UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{
		Succeeded: []types.UID{"a", "b"}, Failed: []types.UID{"c"},
	}}
	// Only b still carries its finalizer: a and c are released and counted.
	if !settleUncounted(&st, sets.New("b")) {
		t.Fatal("settleUncounted reported no change")
	}
	if st.Succeeded != 4 || st.Failed != 2 {
		t.Errorf("succeeded=%d failed=%d, want 4/2", st.Succeeded, st.Failed)
	}
	if u := st.UncountedTerminatedPods; len(u.Succeeded) != 1 || u.Succeeded[0] != "b" || len(u.Failed) != 0 {
		t.Errorf("uncounted = %+v, want succeeded [b]", u)
	}
	// Counting again changes nothing: b is still held.
	if settleUncounted(&st, sets.New("b")) || st.Succeeded != 4 {
		t.Errorf("second settle changed the status: %+v", st)
	}
}

func TestSortForDeletion(t *testing.T) {
	older := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	newer := metav1.NewTime(older.Add(time.Hour))
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	pod := func(name, node string, phase corev1.PodPhase, conds []corev1.PodCondition, created metav1.Time) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase, Conditions: conds}}
	}
	pods := []*corev1.Pod{
		pod("running-ready-old", "n", corev1.PodRunning, ready, older),
		pod("running-ready-new", "n", corev1.PodRunning, ready, newer),
		pod("running-notready", "n", corev1.PodRunning, nil, older),
		pod("pending", "n", corev1.PodPending, nil, older),
		pod("unscheduled", "", corev1.PodPending, nil, older),
	}
	sortForDeletion(pods)
	want := []string{"unscheduled", "pending", "running-notready", "running-ready-new", "running-ready-old"}
	for i, p := range pods {
		if p.Name != want[i] {
			t.Fatalf("order %d = %s, want %v", i, p.Name, want)
		}
	}
}
