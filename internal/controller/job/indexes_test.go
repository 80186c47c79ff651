package job

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestIntervals(t *testing.T) {
	for _, tc := range []struct {
		in          string
		completions int
		want        string
		total       int
	}{
		{"", 10, "", 0},
		{"0-4", 5, "0-4", 5},
		{"0,1,2,4,5,7", 10, "0-2,4,5,7", 6},
		{"3,1,2", 10, "1-3", 3},
		{"0-2,x,5", 10, "0-2,5", 4},       // a malformed piece is skipped
		{"0-3,8-12", 10, "0-3,8,9", 6},    // cut at completions
		{"0-3,12", 10, "0-3", 4},          // dropped past completions
		{"4-2", 10, "", 0},                // a backwards range is malformed
		{"0-1,2-3,5-6", 10, "0-3,5,6", 6}, // adjacent ranges join
	} {
		iv := parseIntervals(tc.in, tc.completions)
		if got := iv.String(); got != tc.want || iv.total() != tc.total {
			t.Errorf("parseIntervals(%q) = %q (total %d), want %q (total %d)", tc.in, got, iv.total(), tc.want, tc.total)
		}
	}
	iv := parseIntervals("1-3,7", 10)
	for ix, want := range map[int]bool{0: false, 1: true, 3: true, 4: false, 7: true, 8: false} {
		if iv.has(ix) != want {
			t.Errorf("has(%d) = %v, want %v", ix, !want, want)
		}
	}
	if got := iv.withIndexes([]int{5, 0, 4}).String(); got != "0-5,7" {
		t.Errorf("withIndexes = %q, want 0-5,7", got)
	}
	if got := parseIntervals("0-2", 10).merge(parseIntervals("3,5", 10)).String(); got != "0-3,5" {
		t.Errorf("merge = %q, want 0-3,5", got)
	}
	if got := overlap(parseIntervals("0-4", 10), parseIntervals("2-3,6", 10)); got != 2 {
		t.Errorf("overlap = %d, want 2", got)
	}
}

func TestFirstPending(t *testing.T) {
	for _, tc := range []struct {
		count, completions int
		busy               string
		want               []int
	}{
		{2, 6, "0,1,3", []int{2, 4}},
		{3, 5, "", []int{0, 1, 2}},
		{10, 5, "1-2", []int{0, 3, 4}},
		{2, 5, "0-4", nil},
		{1, 8, "0-3,5", []int{4}},
	} {
		got := firstPending(tc.count, tc.completions, parseIntervals(tc.busy, tc.completions))
		if !slices.Equal(got, tc.want) {
			t.Errorf("firstPending(%d, %d, %q) = %v, want %v", tc.count, tc.completions, tc.busy, got, tc.want)
		}
	}
}

func TestPodGenerateName(t *testing.T) {
	if got := podGenerateName("job", 3); got != "job-3-" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("a", 70)
	got := podGenerateName(long, 12345)
	if len(got) != maxGeneratedNameLength || !strings.HasSuffix(got, "-12345-") {
		t.Errorf("long name: %q (%d chars), want %d chars ending -12345-", got, len(got), maxGeneratedNameLength)
	}
}

func TestRedundantIndexedPods(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := func(name, index string, phase corev1.PodPhase, age int) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created.Add(-time.Duration(age) * time.Minute))},
			Status: corev1.PodStatus{Phase: phase}}
		if index != "" {
			p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: index}
		}
		return p
	}
	pods := []*corev1.Pod{
		pod("a0", "0", corev1.PodRunning, 5),
		pod("b0", "0", corev1.PodPending, 1), // duplicate of 0, less advanced: goes
		pod("c1", "1", corev1.PodRunning, 1),
		pod("d", "", corev1.PodRunning, 1),   // no index: goes
		pod("e9", "9", corev1.PodRunning, 1), // out of range: goes
		pod("fx", "x", corev1.PodRunning, 1), // malformed: goes
	}
	rm, keep := redundantIndexedPods(pods, 3)
	names := func(ps []*corev1.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	if got := names(rm); !slices.Equal(got, []string{"b0", "d", "e9", "fx"}) {
		t.Errorf("removed %v", got)
	}
	if got := names(keep); !slices.Equal(got, []string{"a0", "c1"}) {
		t.Errorf("kept %v", got)
	}
}

func TestIndexFailureCounts(t *testing.T) {
	job := &batchv1.Job{Spec: batchv1.JobSpec{
		CompletionMode:       ptr.To(batchv1.IndexedCompletion),
		BackoffLimitPerIndex: ptr.To[int32](2),
		PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			onCondition(batchv1.PodFailurePolicyActionIgnore, corev1.DisruptionTarget),
			onExit(batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyOnExitCodesOpIn, "", 3),
		}},
	}}
	failedWith := func(failures, ignored int, code int32, conds ...corev1.PodConditionType) *corev1.Pod {
		p := exitedPod(map[string]int32{"main": code}, nil, conds...)
		p.Annotations = map[string]string{
			batchv1.JobIndexFailureCountAnnotation:        strconv.Itoa(failures),
			batchv1.JobIndexIgnoredFailureCountAnnotation: strconv.Itoa(ignored),
		}
		return p
	}
	// A replacement carries the count of its predecessor plus its failure.
	tmpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
	setIndexFailureCounts(tmpl, job, failedWith(1, 0, 1))
	if tmpl.Annotations[batchv1.JobIndexFailureCountAnnotation] != "2" {
		t.Errorf("counted failure: annotations %v, want failure count 2", tmpl.Annotations)
	}
	tmpl = &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
	setIndexFailureCounts(tmpl, job, failedWith(1, 0, 137, corev1.DisruptionTarget))
	if tmpl.Annotations[batchv1.JobIndexFailureCountAnnotation] != "1" || tmpl.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] != "1" {
		t.Errorf("ignored failure: annotations %v, want failure 1 ignored 1", tmpl.Annotations)
	}
	// An index fails once its pods' failures reach the limit, or at once on FailIndex.
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"below the limit", failedWith(1, 0, 1), false},
		{"at the limit", failedWith(2, 0, 1), true},
		{"ignored failure never fails the index", failedWith(5, 0, 1, corev1.DisruptionTarget), false},
		{"FailIndex", failedWith(0, 0, 3), true},
	} {
		if got := isIndexFailed(job, tc.pod); got != tc.want {
			t.Errorf("%s: isIndexFailed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTTLRemaining(t *testing.T) {
	finished := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	job := &batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ptr.To[int32](100)},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(finished)}}}}
	left, err := ttlRemaining(job, finished.Add(time.Minute))
	if err != nil || left != 40*time.Second {
		t.Errorf("ttlRemaining = %v, %v; want 40s", left, err)
	}
	if !needsCleanup(job) {
		t.Error("a failed Job with a TTL needs cleanup")
	}
	job.Status.Conditions[0].Type = batchv1.JobFailureTarget
	if needsCleanup(job) {
		t.Error("a Job that is only failing is not finished")
	}
}
