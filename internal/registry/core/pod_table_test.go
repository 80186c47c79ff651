package core

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/util/qos"
)

func TestComputePodQOS(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	ctr := func(req, lim corev1.ResourceList) corev1.Container {
		return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	tests := []struct {
		name string
		spec corev1.PodSpec
		want corev1.PodQOSClass
	}{
		{"nothing set", corev1.PodSpec{Containers: []corev1.Container{ctr(nil, nil)}}, corev1.PodQOSBestEffort},
		{"only non-QoS resources", corev1.PodSpec{Containers: []corev1.Container{
			ctr(corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}, nil)}}, corev1.PodQOSBestEffort},
		{"requests equal limits", corev1.PodSpec{Containers: []corev1.Container{ctr(rl("1", "1Gi"), rl("1", "1Gi"))}}, corev1.PodQOSGuaranteed},
		{"requests below limits", corev1.PodSpec{Containers: []corev1.Container{ctr(rl("500m", "1Gi"), rl("1", "1Gi"))}}, corev1.PodQOSBurstable},
		{"only cpu limited", corev1.PodSpec{Containers: []corev1.Container{ctr(rl("1", ""), rl("1", ""))}}, corev1.PodQOSBurstable},
		{"one container without limits", corev1.PodSpec{Containers: []corev1.Container{
			ctr(rl("1", "1Gi"), rl("1", "1Gi")), ctr(rl("100m", ""), nil)}}, corev1.PodQOSBurstable},
		{"init container counts", corev1.PodSpec{
			Containers:     []corev1.Container{ctr(rl("1", "1Gi"), rl("1", "1Gi"))},
			InitContainers: []corev1.Container{ctr(nil, nil)}}, corev1.PodQOSBurstable},
		{"pod-level resources decide", corev1.PodSpec{
			Containers: []corev1.Container{ctr(nil, nil)},
			Resources:  &corev1.ResourceRequirements{Requests: rl("1", "1Gi"), Limits: rl("1", "1Gi")}}, corev1.PodQOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := qos.ComputePodQOS(&corev1.Pod{Spec: tt.spec}); got != tt.want {
				t.Errorf("QoS = %s, want %s", got, tt.want)
			}
		})
	}

	// Defaulting copies limits into requests before PrepareForCreate runs.
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{ctr(nil, rl("1", "1Gi"))}}}
	defaultPod(pod)
	preparePodForCreate(pod)
	if pod.Status.QOSClass != corev1.PodQOSGuaranteed || pod.Status.Phase != corev1.PodPending {
		t.Errorf("prepared status = %+v", pod.Status)
	}
}

func TestPodStatusColumn(t *testing.T) {
	fiveMinAgo := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	terminated := func(reason string, code int32) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code}}
	}
	always := corev1.ContainerRestartPolicyAlways
	tests := []struct {
		name          string
		pod           corev1.Pod
		ready, status string
		restarts      string
	}{
		{"pending", corev1.Pod{
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending},
		}, "0/1", "Pending", "0"},
		{"container creating", corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: waiting("ContainerCreating")}}},
		}, "0/1", "ContainerCreating", "0"},
		{"running", corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running}, {Name: "b", Ready: false, State: running}}},
		}, "1/2", "Running", "0"},
		{"crash loop with last restart", corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "a", RestartCount: 2, State: waiting("CrashLoopBackOff"),
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: fiveMinAgo}},
			}}},
		}, "0/1", "CrashLoopBackOff", "2 (5m ago)"},
		{"completed", corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: terminated("Completed", 0)}}},
		}, "0/1", "Completed", "0"},
		{"exit code without reason", corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: terminated("", 3)}}},
		}, "0/1", "ExitCode:3", "0"},
		{"one completed one running", corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", State: terminated("Completed", 0)}, {Name: "b", Ready: true, State: running}}},
		}, "1/2", "Running", "0"},
		{"init progress", corev1.Pod{
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i1"}, {Name: "i2"}}, Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "i1", State: terminated("Completed", 0)}, {Name: "i2", State: running}}},
		}, "0/1", "Init:1/2", "0"},
		{"init crash loop", corev1.Pod{
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i1"}}, Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "i1", RestartCount: 4, State: waiting("CrashLoopBackOff")}}},
		}, "0/1", "Init:CrashLoopBackOff", "4"},
		{"init failed", corev1.Pod{
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i1"}}, Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "i1", State: terminated("Error", 1)}}},
		}, "0/1", "Init:Error", "0"},
		{"sidecar counts as a container", corev1.Pod{
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always}}, Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				InitContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", Started: ptrTo(true), Ready: true, State: running}},
				ContainerStatuses:     []corev1.ContainerStatus{{Name: "a", Ready: true, State: running}}},
		}, "2/2", "Running", "0"},
		{"scheduling gated", corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}},
		}, "0/1", "SchedulingGated", "0"},
		{"terminating", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &fiveMinAgo},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running}}},
		}, "1/1", "Terminating", "0"},
		{"lost node", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &fiveMinAgo},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"},
		}, "0/1", "Unknown", "0"},
		{"finished pods are not terminating", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &fiveMinAgo},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: terminated("Completed", 0)}}},
		}, "0/1", "Completed", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := podRow(&tt.pod)
			if row[1] != tt.ready || row[2] != tt.status || row[3] != tt.restarts {
				t.Errorf("READY/STATUS/RESTARTS = %v/%v/%v, want %v/%v/%v", row[1], row[2], row[3], tt.ready, tt.status, tt.restarts)
			}
		})
	}
}

func TestPodWideColumns(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "a"}},
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/ready"}}},
		Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}},
			Conditions: []corev1.PodCondition{{Type: "example.com/ready", Status: corev1.ConditionTrue}}},
	}
	row := podRow(pod)
	want := []any{"web", "0/1", "", "0", "<unknown>", "10.0.0.5", "n1", "<none>", "1/1"}
	for i := range want {
		if row[i] != want[i] {
			t.Errorf("cell %d = %v, want %v", i, row[i], want[i])
		}
	}
}
