package batch

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/registry/core"
)

// The pre-batch.kubernetes.io label keys, still set and checked because
// existing selectors and tooling match on them.
const (
	legacyControllerUIDLabel = "controller-uid"
	legacyJobNameLabel       = "job-name"
)

func jobResource() registry.Resource {
	return registry.Resource{
		GVR:              batchv1.SchemeGroupVersion.WithResource("jobs"),
		Kind:             "Job",
		Singular:         "job",
		Categories:       []string{"all"},
		Namespaced:       true,
		HasStatus:        true,
		TracksGeneration: true,
		Strategy: registry.Strategy{
			Default:              func(obj runtime.Object) { DefaultJob(obj.(*batchv1.Job)) },
			PrepareForCreate:     prepareJobForCreate,
			Validate:             validateJob,
			ValidateUpdate:       validateJobUpdate,
			ValidateStatusUpdate: validateJobStatusUpdate,
			Columns:              jobColumns,
			Row:                  jobRow,
			Fields:               jobFields,
		},
	}
}

// DefaultJob applies batch/v1 defaulting. A Job with neither completions
// nor parallelism is a single pod run to completion once.
func DefaultJob(job *batchv1.Job) {
	spec := &job.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptrTo[int32](1)
		spec.Parallelism = ptrTo[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptrTo[int32](1)
	}
	if spec.BackoffLimit == nil {
		// With a per-index limit the global one must not fail the Job first.
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptrTo[int32](math.MaxInt32)
		} else {
			spec.BackoffLimit = ptrTo[int32](6)
		}
	}
	if job.Spec.Template.Labels != nil && len(job.Labels) == 0 {
		job.Labels = maps.Clone(job.Spec.Template.Labels)
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptrTo(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptrTo(false)
	}
	if spec.PodFailurePolicy != nil {
		for _, rule := range spec.PodFailurePolicy.Rules {
			for i := range rule.OnPodConditions {
				if rule.OnPodConditions[i].Status == "" {
					rule.OnPodConditions[i].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		// A pod failure policy must see a pod's final state before a
		// replacement starts, so it only allows replacing failed pods.
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptrTo(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptrTo(batchv1.TerminatingOrFailed)
		}
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptrTo(false)
	}
	core.SetDefaultsPodSpec(&spec.Template.Spec)
}

// prepareJobForCreate clears the status and, unless the client manages the
// selector itself, generates a selector on the Job's uid so its pods can
// never be confused with another Job's.
func prepareJobForCreate(obj runtime.Object) {
	job := obj.(*batchv1.Job)
	job.Status = batchv1.JobStatus{}
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	// Upstream defaulting copies the template labels to empty Job labels
	// and does so again on every read, so such Jobs end up labelled with
	// the generated labels too; do it once here.
	derived := len(job.Labels) == 0 || maps.Equal(job.Labels, job.Spec.Template.Labels)
	generateSelector(job)
	if derived {
		job.Labels = maps.Clone(job.Spec.Template.Labels)
	}
}

// generateSelector adds the generated labels the user has not set (a
// conflicting value they did set is rejected by validation) and selects
// on the uid label.
func generateSelector(job *batchv1.Job) {
	tmpl := &job.Spec.Template
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	for key, value := range map[string]string{
		legacyJobNameLabel:         job.Name,
		batchv1.JobNameLabel:       job.Name,
		legacyControllerUIDLabel:   string(job.UID),
		batchv1.ControllerUidLabel: string(job.UID),
	} {
		if _, found := tmpl.Labels[key]; !found {
			tmpl.Labels[key] = value
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, found := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !found {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
}

// jobFields adds the field selector upstream supports beyond metadata.
func jobFields(obj runtime.Object) fields.Set {
	job := obj.(*batchv1.Job)
	return fields.Set{"status.successful": strconv.Itoa(int(job.Status.Succeeded))}
}

var jobColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Status", Type: "string", Description: "Status of the job."},
	{Name: "Completions", Type: "string", Description: batchv1.JobStatus{}.SwaggerDoc()["succeeded"]},
	{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
	ageColumn,
	containersColumn,
	imagesColumn,
	{Name: "Selector", Type: "string", Priority: 1, Description: batchv1.JobSpec{}.SwaggerDoc()["selector"]},
}

func jobRow(obj runtime.Object) ([]any, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return nil, fmt.Errorf("expected *v1.Job, got %T", obj)
	}
	var completions string
	switch {
	case job.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	case job.Spec.Parallelism != nil && *job.Spec.Parallelism > 1:
		// A work-queue Job: done once one pod succeeds.
		completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, *job.Spec.Parallelism)
	default:
		completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
	}
	var jobDuration string
	switch {
	case job.Status.StartTime == nil:
	case job.Status.CompletionTime == nil:
		jobDuration = duration.HumanDuration(time.Since(job.Status.StartTime.Time))
	default:
		jobDuration = duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
	}
	names, images := containerCells(job.Spec.Template.Spec.Containers)
	return []any{
		job.Name, jobStatus(job), completions, jobDuration, age(job.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(job.Spec.Selector),
	}, nil
}

// jobStatus is the STATUS column: terminal states first, then deletion,
// then the transient conditions.
func jobStatus(job *batchv1.Job) string {
	switch {
	case hasCondition(job, batchv1.JobComplete):
		return "Complete"
	case hasCondition(job, batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case hasCondition(job, batchv1.JobSuspended):
		return "Suspended"
	case hasCondition(job, batchv1.JobFailureTarget):
		return "FailureTarget"
	}
	return "Running"
}

// hasCondition reports whether the first condition of type t is True,
// which is how upstream's printer reads conditions.
func hasCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// isConditionTrue reports whether any condition of type t is True, which
// is how upstream's validation reads them.
func isConditionTrue(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conds {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
