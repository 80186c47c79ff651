package batch

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

type wantErr struct {
	typ    field.ErrorType
	field  string
	detail string
}

func checkErrs(t *testing.T, got field.ErrorList, want []wantErr) {
	t.Helper()
	if len(want) == 0 && len(got) != 0 {
		t.Fatalf("unexpected errors: %v", got)
	}
	for _, w := range want {
		found := false
		for _, e := range got {
			if e.Type == w.typ && e.Field == w.field && strings.Contains(e.Detail, w.detail) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %s error on %s containing %q; got %v", w.typ, w.field, w.detail, got)
		}
	}
}

func strategy(t *testing.T, kind string) registry.Strategy {
	t.Helper()
	for _, r := range Resources() {
		if r.Kind == kind {
			return r.Strategy
		}
	}
	t.Fatalf("no resource %s", kind)
	return registry.Strategy{}
}

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		DNSPolicy:     corev1.DNSClusterFirst,
		Containers: []corev1.Container{{
			Name: "pi", Image: "perl:5.34",
			ImagePullPolicy:          corev1.PullIfNotPresent,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
	}}
}

// createdJob is a Job as the API server would store it after create.
func createdJob(t *testing.T) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "uid-1", ResourceVersion: "1"},
		Spec:       batchv1.JobSpec{Template: podTemplate()},
	}
	s := strategy(t, "Job")
	s.Default(job)
	s.PrepareForCreate(job)
	checkErrs(t, s.Validate(job), nil)
	return job
}

func TestJobDefaults(t *testing.T) {
	job := &batchv1.Job{}
	DefaultJob(job)
	want := batchv1.JobSpec{
		Parallelism: ptrTo[int32](1), Completions: ptrTo[int32](1), BackoffLimit: ptrTo[int32](6),
		CompletionMode: ptrTo(batchv1.NonIndexedCompletion), Suspend: ptrTo(false),
		PodReplacementPolicy: ptrTo(batchv1.TerminatingOrFailed), ManualSelector: ptrTo(false),
	}
	job.Spec.Template = corev1.PodTemplateSpec{} // pod defaults are core's, not under test
	if !equality.Semantic.DeepEqual(job.Spec, want) {
		t.Errorf("defaults = %+v", job.Spec)
	}

	// Work queue: parallelism only leaves completions unset.
	queue := &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptrTo[int32](3)}}
	DefaultJob(queue)
	if queue.Spec.Completions != nil {
		t.Errorf("completions defaulted for a work queue")
	}

	perIndex := &batchv1.Job{Spec: batchv1.JobSpec{
		BackoffLimitPerIndex: ptrTo[int32](1),
		PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
		}}},
	}}
	DefaultJob(perIndex)
	if *perIndex.Spec.BackoffLimit != 1<<31-1 || *perIndex.Spec.PodReplacementPolicy != batchv1.Failed ||
		perIndex.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
		t.Errorf("per-index defaults = %+v", perIndex.Spec)
	}
}

func TestJobSelectorGeneration(t *testing.T) {
	job := createdJob(t)
	wantLabels := map[string]string{
		"controller-uid": "uid-1", "job-name": "pi",
		batchv1.ControllerUidLabel: "uid-1", batchv1.JobNameLabel: "pi",
	}
	if !equality.Semantic.DeepEqual(job.Spec.Template.Labels, wantLabels) {
		t.Errorf("template labels = %v", job.Spec.Template.Labels)
	}
	if !equality.Semantic.DeepEqual(job.Labels, wantLabels) {
		t.Errorf("job labels = %v", job.Labels)
	}
	if !equality.Semantic.DeepEqual(job.Spec.Selector.MatchLabels, map[string]string{batchv1.ControllerUidLabel: "uid-1"}) {
		t.Errorf("selector = %v", job.Spec.Selector)
	}

	// A user-supplied conflicting label is kept and rejected.
	bad := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "uid-1", Labels: map[string]string{"team": "a"}},
		Spec:       batchv1.JobSpec{Template: podTemplate()},
	}
	bad.Spec.Template.Labels = map[string]string{"job-name": "other"}
	s := strategy(t, "Job")
	s.Default(bad)
	s.PrepareForCreate(bad)
	if bad.Labels["team"] != "a" || len(bad.Labels) != 1 {
		t.Errorf("explicit job labels were replaced: %v", bad.Labels)
	}
	checkErrs(t, s.Validate(bad), []wantErr{{field.ErrorTypeInvalid, "spec.template.metadata.labels[job-name]", "pi"}})

	// A manual selector is left alone and must match the template.
	manual := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "uid-1"},
		Spec: batchv1.JobSpec{ManualSelector: ptrTo(true), Template: podTemplate(),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}},
	}
	s.Default(manual)
	s.PrepareForCreate(manual)
	checkErrs(t, s.Validate(manual), []wantErr{{field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"}})
}

func TestJobValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.Job)
		want   []wantErr
	}{
		{"restart always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			[]wantErr{{field.ErrorTypeRequired, "spec.template.spec.restartPolicy", `valid values: "OnFailure", "Never"`}}},
		{"negative backoff", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptrTo[int32](-1) },
			[]wantErr{{field.ErrorTypeInvalid, "spec.backoffLimit", "must be greater than or equal to 0"}}},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, []wantErr{{field.ErrorTypeRequired, "spec.completions", "when completion mode is Indexed"}}},
		{"per-index limit needs indexed", func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptrTo[int32](1) },
			[]wantErr{{field.ErrorTypeInvalid, "spec.backoffLimitPerIndex", "requires indexed completion mode"}}},
		{"unordered exit codes", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3, 1}},
			}}}
			j.Spec.PodReplacementPolicy = ptrTo(batchv1.Failed)
		}, []wantErr{{field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[0].onExitCodes.values", "must be ordered"}}},
		{"missing uid", func(j *batchv1.Job) { j.UID = "" },
			[]wantErr{{field.ErrorTypeRequired, "metadata.uid", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := createdJob(t)
			tt.mutate(job)
			checkErrs(t, strategy(t, "Job").Validate(job), tt.want)
		})
	}
}

func TestJobUpdate(t *testing.T) {
	tests := []struct {
		name      string
		suspended bool
		mutate    func(*batchv1.Job)
		want      []wantErr
	}{
		{"parallelism may change", false, func(j *batchv1.Job) { j.Spec.Parallelism = ptrTo[int32](4) }, nil},
		{"suspend may change", false, func(j *batchv1.Job) { j.Spec.Suspend = ptrTo(true) }, nil},
		{"template is immutable", false, func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5.36" },
			[]wantErr{{field.ErrorTypeInvalid, "spec.template", "field is immutable"}}},
		{"node selector immutable while running", false, func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} },
			[]wantErr{{field.ErrorTypeInvalid, "spec.template", "field is immutable"}}},
		{"node selector mutable while suspended", true, func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} }, nil},
		{"image immutable while suspended", true, func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5.36" },
			[]wantErr{{field.ErrorTypeInvalid, "spec.template", "field is immutable"}}},
		{"completions immutable", false, func(j *batchv1.Job) { j.Spec.Completions = ptrTo[int32](3) },
			[]wantErr{{field.ErrorTypeInvalid, "spec.completions", "field is immutable"}}},
		{"selector immutable", false, func(j *batchv1.Job) { j.Spec.Selector.MatchLabels["x"] = "y"; j.Spec.Template.Labels["x"] = "y" },
			[]wantErr{{field.ErrorTypeInvalid, "spec.selector", "field is immutable"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := createdJob(t)
			old.Spec.Suspend = ptrTo(tt.suspended)
			if !tt.suspended {
				old.Status.StartTime = &metav1.Time{Time: time.Now()}
			}
			job := old.DeepCopy()
			tt.mutate(job)
			checkErrs(t, strategy(t, "Job").ValidateUpdate(job, old), tt.want)
		})
	}
}

func TestJobStatusUpdate(t *testing.T) {
	old := createdJob(t)
	old.Status = batchv1.JobStatus{Succeeded: 2, Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	job := old.DeepCopy()
	job.Status.Succeeded = 1
	job.Status.Conditions = nil
	checkErrs(t, strategy(t, "Job").ValidateStatusUpdate(job, old), []wantErr{
		{field.ErrorTypeInvalid, "status.succeeded", "cannot decrease the succeeded counter"},
		{field.ErrorTypeInvalid, "status.conditions", "cannot disable the terminal Complete=True condition"},
	})
}

func TestJobRowAndFields(t *testing.T) {
	job := createdJob(t)
	start := metav1.NewTime(time.Now().Add(-time.Hour))
	end := metav1.NewTime(start.Add(90 * time.Second))
	job.Status = batchv1.JobStatus{Succeeded: 1, StartTime: &start, CompletionTime: &end,
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	s := strategy(t, "Job")
	row, err := s.Row(job)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"pi", "Complete", "1/1", "90s", "<unknown>", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=uid-1"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
	if len(row) != len(s.Columns) {
		t.Errorf("%d cells, %d columns", len(row), len(s.Columns))
	}
	if got := s.Fields(job)["status.successful"]; got != "1" {
		t.Errorf("status.successful = %q", got)
	}
}
