package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// policyVerdict is what a pod failure policy says about one failed pod.
type policyVerdict struct {
	// action is the matched rule's action; empty when no rule matched.
	action batchv1.PodFailurePolicyAction
	// countsAsFailure is false only for Ignore: the failure does not count
	// towards backoffLimit (or backoffLimitPerIndex).
	countsAsFailure bool
	// failJobMessage is set for FailJob: the message of the Job's Failed
	// condition.
	failJobMessage string
}

// matchPodFailurePolicy applies the first rule that matches the failed pod,
// in order. A rule matches on an exit code of a terminated container (init
// containers too; exit code 0 never matches) or on a pod condition with
// the given status, e.g. DisruptionTarget=True for a preempted or evicted
// pod.
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) policyVerdict {
	if policy == nil {
		return policyVerdict{countsAsFailure: true}
	}
	for i, rule := range policy.Rules {
		var msg string
		switch {
		case rule.OnExitCodes != nil:
			cs := matchOnExitCodes(&pod.Status, rule.OnExitCodes)
			if cs == nil {
				continue
			}
			msg = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d",
				cs.Name, pod.Namespace, pod.Name, cs.State.Terminated.ExitCode, rule.Action, i)
		case len(rule.OnPodConditions) > 0:
			cond := matchOnPodConditions(&pod.Status, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			msg = fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d",
				pod.Namespace, pod.Name, cond.Type, rule.Action, i)
		default:
			continue
		}
		switch rule.Action {
		case batchv1.PodFailurePolicyActionIgnore:
			return policyVerdict{action: rule.Action}
		case batchv1.PodFailurePolicyActionFailJob:
			return policyVerdict{action: rule.Action, countsAsFailure: true, failJobMessage: msg}
		case batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex:
			return policyVerdict{action: rule.Action, countsAsFailure: true}
		}
		// An action this version does not know: try the next rule, as
		// upstream does for a disabled FailIndex.
	}
	return policyVerdict{countsAsFailure: true}
}

func matchOnExitCodes(st *corev1.PodStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	if cs := matchExitCodeIn(st.ContainerStatuses, req); cs != nil {
		return cs
	}
	return matchExitCodeIn(st.InitContainerStatuses, req)
}

func matchExitCodeIn(statuses []corev1.ContainerStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for i := range statuses {
		cs := &statuses[i]
		t := cs.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		if req.ContainerName != nil && *req.ContainerName != cs.Name {
			continue
		}
		in := slices.Contains(req.Values, t.ExitCode)
		switch req.Operator {
		case batchv1.PodFailurePolicyOnExitCodesOpIn:
			if in {
				return cs
			}
		case batchv1.PodFailurePolicyOnExitCodesOpNotIn:
			if !in {
				return cs
			}
		}
	}
	return nil
}

func matchOnPodConditions(st *corev1.PodStatus, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		for _, p := range patterns {
			status := p.Status
			if status == "" {
				status = corev1.ConditionTrue
			}
			if c.Type == p.Type && c.Status == status {
				return c
			}
		}
	}
	return nil
}

// failJobMessage returns the message of the first failed pod a FailJob
// rule matches, or "".
func failJobMessage(job *batchv1.Job, pods []*corev1.Pod) string {
	if job.Spec.PodFailurePolicy == nil {
		return ""
	}
	for _, p := range pods {
		if !isPodFailed(p, job) {
			continue
		}
		if v := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); v.failJobMessage != "" {
			return v.failJobMessage
		}
	}
	return ""
}

// countedFailures is how many of the failed pods count towards the back-off
// limit after the pod failure policy's Ignore rules.
func countedFailures(job *batchv1.Job, failed []*corev1.Pod) int32 {
	var n int32
	for _, p := range failed {
		if matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countsAsFailure {
			n++
		}
	}
	return n
}

// matchSuccessPolicy checks the succeeded indexes of an Indexed Job against
// its success policy rules; the first rule met gives the message of the
// SuccessCriteriaMet condition. A rule with succeededIndexes is met when
// all of them succeeded, or succeededCount of them; a rule with only
// succeededCount when that many indexes succeeded.
func matchSuccessPolicy(policy *batchv1.SuccessPolicy, completions int32, succeeded intervals) (string, bool) {
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		met := false
		switch {
		case rule.SucceededIndexes != nil:
			required := parseIntervals(*rule.SucceededIndexes, int(completions))
			if len(required) == 0 {
				continue
			}
			done := overlap(required, succeeded)
			met = done == required.total() || (rule.SucceededCount != nil && done >= int(*rule.SucceededCount))
		case rule.SucceededCount != nil:
			met = succeeded.total() >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}

// overlap counts the indexes in both lists. Example: {0-4} and {2-3, 6} → 2.
func overlap(a, b intervals) int {
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		if o := min(a[i].last, b[j].last) - max(a[i].first, b[j].first) + 1; o > 0 {
			n += o
		}
		if a[i].last < b[j].last {
			i++
		} else {
			j++
		}
	}
	return n
}
