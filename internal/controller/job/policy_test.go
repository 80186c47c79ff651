package job

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func exitedPod(containers map[string]int32, initContainers map[string]int32, conds ...corev1.PodConditionType) *corev1.Pod {
	status := func(m map[string]int32) []corev1.ContainerStatus {
		var out []corev1.ContainerStatus
		for name, code := range m {
			out = append(out, corev1.ContainerStatus{Name: name, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}})
		}
		return out
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: status(containers),
			InitContainerStatuses: status(initContainers)},
	}
	for _, c := range conds {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue})
	}
	return p
}

func onExit(action batchv1.PodFailurePolicyAction, op batchv1.PodFailurePolicyOnExitCodesOperator, container string, codes ...int32) batchv1.PodFailurePolicyRule {
	r := batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: codes}}
	if container != "" {
		r.OnExitCodes.ContainerName = ptr.To(container)
	}
	return r
}

func onCondition(action batchv1.PodFailurePolicyAction, t corev1.PodConditionType) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: t, Status: corev1.ConditionTrue}}}
}

func TestMatchPodFailurePolicy(t *testing.T) {
	const (
		ignore  = batchv1.PodFailurePolicyActionIgnore
		failJob = batchv1.PodFailurePolicyActionFailJob
		count   = batchv1.PodFailurePolicyActionCount
		in      = batchv1.PodFailurePolicyOnExitCodesOpIn
		notIn   = batchv1.PodFailurePolicyOnExitCodesOpNotIn
	)
	for _, tc := range []struct {
		name       string
		rules      []batchv1.PodFailurePolicyRule
		pod        *corev1.Pod
		action     batchv1.PodFailurePolicyAction
		counts     bool
		msgContain string
	}{
		{"no rule matches: counted", []batchv1.PodFailurePolicyRule{onExit(failJob, in, "", 42)},
			exitedPod(map[string]int32{"main": 1}, nil), "", true, ""},
		{"exit code In: FailJob", []batchv1.PodFailurePolicyRule{onExit(failJob, in, "", 42)},
			exitedPod(map[string]int32{"main": 42}, nil), failJob, true, "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0"},
		{"NotIn matches other codes", []batchv1.PodFailurePolicyRule{onExit(failJob, notIn, "", 1, 2)},
			exitedPod(map[string]int32{"main": 3}, nil), failJob, true, "exit code 3"},
		{"NotIn spares its codes", []batchv1.PodFailurePolicyRule{onExit(failJob, notIn, "", 1, 2)},
			exitedPod(map[string]int32{"main": 2}, nil), "", true, ""},
		{"exit code 0 never matches", []batchv1.PodFailurePolicyRule{onExit(failJob, notIn, "", 1)},
			exitedPod(map[string]int32{"main": 0}, nil), "", true, ""},
		{"container name must match", []batchv1.PodFailurePolicyRule{onExit(failJob, in, "sidecar", 42)},
			exitedPod(map[string]int32{"main": 42}, nil), "", true, ""},
		{"init containers are checked", []batchv1.PodFailurePolicyRule{onExit(failJob, in, "setup", 7)},
			exitedPod(nil, map[string]int32{"setup": 7}), failJob, true, "Container setup"},
		{"DisruptionTarget ignored", []batchv1.PodFailurePolicyRule{onCondition(ignore, corev1.DisruptionTarget)},
			exitedPod(map[string]int32{"main": 137}, nil, corev1.DisruptionTarget), ignore, false, ""},
		{"condition FailJob message", []batchv1.PodFailurePolicyRule{onCondition(failJob, corev1.DisruptionTarget)},
			exitedPod(nil, nil, corev1.DisruptionTarget), failJob, true, "Pod ns/p has condition DisruptionTarget matching FailJob rule at index 0"},
		{"first matching rule wins", []batchv1.PodFailurePolicyRule{
			onExit(count, in, "", 5), onCondition(ignore, corev1.DisruptionTarget), onExit(failJob, in, "", 137)},
			exitedPod(map[string]int32{"main": 137}, nil, corev1.DisruptionTarget), ignore, false, ""},
		{"Count counts", []batchv1.PodFailurePolicyRule{onExit(count, in, "", 5)},
			exitedPod(map[string]int32{"main": 5}, nil), count, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := matchPodFailurePolicy(&batchv1.PodFailurePolicy{Rules: tc.rules}, tc.pod)
			if v.action != tc.action || v.countsAsFailure != tc.counts {
				t.Errorf("got action=%q counts=%v, want %q/%v", v.action, v.countsAsFailure, tc.action, tc.counts)
			}
			if (tc.msgContain == "") != (v.failJobMessage == "") || !strings.Contains(v.failJobMessage, tc.msgContain) {
				t.Errorf("message %q, want one containing %q", v.failJobMessage, tc.msgContain)
			}
		})
	}
	if v := matchPodFailurePolicy(nil, exitedPod(nil, nil)); !v.countsAsFailure || v.action != "" {
		t.Errorf("no policy: %+v, want a counted failure", v)
	}
}

func TestMatchSuccessPolicy(t *testing.T) {
	rules := func(r ...batchv1.SuccessPolicyRule) *batchv1.SuccessPolicy { return &batchv1.SuccessPolicy{Rules: r} }
	for _, tc := range []struct {
		name      string
		policy    *batchv1.SuccessPolicy
		succeeded string
		met       string
	}{
		{"no policy", nil, "0-9", ""},
		{"all required indexes", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0,2-3")}), "0-3", "Matched rules at index 0"},
		{"a required index missing", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0,2-3")}), "0-2", ""},
		{"count within the indexes", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0-4"), SucceededCount: ptr.To[int32](2)}), "3-4,7", "Matched rules at index 0"},
		{"count alone", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("9")}, batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](3)}), "1,5,8", "Matched rules at index 1"},
		{"count not reached", rules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](3)}), "1,5", ""},
		{"nothing succeeded", rules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](0)}), "", ""},
	} {
		msg, met := matchSuccessPolicy(tc.policy, 10, parseIntervals(tc.succeeded, 10))
		if met != (tc.met != "") || msg != tc.met {
			t.Errorf("%s: got %q/%v, want %q", tc.name, msg, met, tc.met)
		}
	}
}

func TestIsPodFailed(t *testing.T) {
	now := metav1.Now()
	deleted := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	replaceAny := &batchv1.Job{Spec: batchv1.JobSpec{PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed)}}
	replaceFailed := &batchv1.Job{Spec: batchv1.JobSpec{PodReplacementPolicy: ptr.To(batchv1.Failed)}}
	if !isPodFailed(deleted, replaceAny) {
		t.Error("a deleted running pod counts as failed when terminating pods are replaced")
	}
	if isPodFailed(deleted, replaceFailed) {
		t.Error("a deleted running pod must not count as failed before it fails, with podReplacementPolicy Failed")
	}
	succeeded := deleted.DeepCopy()
	succeeded.Status.Phase = corev1.PodSucceeded
	if isPodFailed(succeeded, replaceAny) {
		t.Error("a succeeded pod being deleted is not a failure")
	}
}
