package batch

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateJobStatusUpdate enforces the status rules that keep a Job's
// history monotonic for the clients that watch it (kubectl wait, Argo,
// Kueue): terminal conditions stay, counters do not go back, the
// completion time does not move.
func validateJobStatusUpdate(obj, old runtime.Object) field.ErrorList {
	job, oldJob := obj.(*batchv1.Job), old.(*batchv1.Job)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&job.ObjectMeta, &oldJob.ObjectMeta, field.NewPath("metadata"))
	fldPath := field.NewPath("status")
	st, oldSt := &job.Status, &oldJob.Status
	allErrs = append(allErrs, validateJobStatusCounts(st, fldPath)...)
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget} {
		if isConditionTrue(oldSt.Conditions, t) && !isConditionTrue(st.Conditions, t) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("conditions"), field.OmitValueType{}, fmt.Sprintf("cannot disable the terminal %s=True condition", t)))
		}
	}
	if st.Failed < oldSt.Failed {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("failed"), st.Failed, "cannot decrease the failed counter"))
	}
	// An Indexed Job scaled down (completions == parallelism) legitimately
	// forgets the successes of the indexes it dropped.
	indexed := job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
	elastic := indexed && job.Spec.Completions != nil && job.Spec.Parallelism != nil && *job.Spec.Completions == *job.Spec.Parallelism
	if st.Succeeded < oldSt.Succeeded && !elastic {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("succeeded"), st.Succeeded, "cannot decrease the succeeded counter"))
	}
	if st.CompletionTime != nil && oldSt.CompletionTime != nil && !st.CompletionTime.Equal(oldSt.CompletionTime) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("completionTime"), st.CompletionTime, "completionTime cannot be mutated"))
	}
	if st.StartTime != nil && st.CompletionTime != nil && st.CompletionTime.Before(st.StartTime) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("completionTime"), st.CompletionTime, "completionTime cannot be set before startTime"))
	}
	if isConditionTrue(st.Conditions, batchv1.JobComplete) && isConditionTrue(st.Conditions, batchv1.JobFailed) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("conditions"), field.OmitValueType{}, "cannot set Complete=True and Failed=true conditions"))
	}
	return allErrs
}

func validateJobStatusCounts(st *batchv1.JobStatus, fldPath *field.Path) field.ErrorList {
	allErrs := apivalidation.ValidateNonnegativeField(int64(st.Active), fldPath.Child("active"))
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(st.Succeeded), fldPath.Child("succeeded"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(st.Failed), fldPath.Child("failed"))...)
	if st.Ready != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*st.Ready), fldPath.Child("ready"))...)
	}
	if st.Terminating != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*st.Terminating), fldPath.Child("terminating"))...)
	}
	if u := st.UncountedTerminatedPods; u != nil {
		path := fldPath.Child("uncountedTerminatedPods")
		seen := map[types.UID]bool{}
		check := func(p *field.Path, uids []types.UID) {
			for i, uid := range uids {
				switch {
				case uid == "":
					allErrs = append(allErrs, field.Invalid(p.Index(i), uid, "must not be empty"))
				case seen[uid]:
					allErrs = append(allErrs, field.Duplicate(p.Index(i), uid))
				default:
					seen[uid] = true
				}
			}
		}
		check(path.Child("succeeded"), u.Succeeded)
		check(path.Child("failed"), u.Failed)
	}
	return allErrs
}
