package agent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var (
	t0  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now = t0.Add(time.Minute)
)

func testPod(policy corev1.RestartPolicy, inits []corev1.Container, names ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1", Generation: 3},
		Spec:       corev1.PodSpec{RestartPolicy: policy, InitContainers: inits},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
		}},
	}
	for _, n := range names {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: n, Image: n + ":1"})
	}
	return pod
}

func initC(name string) corev1.Container { return corev1.Container{Name: name, Image: "init"} }

func sidecarC(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}
}

var readySandbox = &SandboxStatus{ID: "sb", State: SandboxReady, IPs: []string{"10.244.0.7"}}

func running(name string, attempt uint32) ContainerStatus {
	return ContainerStatus{ID: name + "-id", Name: name, Attempt: attempt, State: ContainerRunning, Image: name + ":1", ImageRef: "ref", StartedAt: t0}
}

func exited(name string, attempt uint32, code int32) ContainerStatus {
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return ContainerStatus{ID: name + "-old" + string(rune('0'+attempt)), Name: name, Attempt: attempt, State: ContainerExited,
		StartedAt: t0, FinishedAt: t0.Add(time.Second), ExitCode: code, Reason: reason}
}

func ready(*corev1.Container, *ContainerStatus) ProbeResult {
	return ProbeResult{Started: true, Ready: true}
}

func unready(*corev1.Container, *ContainerStatus) ProbeResult { return ProbeResult{Started: true} }

// conds summarizes conditions as type -> "Status/Reason".
func conds(s corev1.PodStatus) map[corev1.PodConditionType]string {
	out := map[corev1.PodConditionType]string{}
	for _, c := range s.Conditions {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}

func TestComputePodStatus(t *testing.T) {
	crashLoop := map[string]*corev1.ContainerStateWaiting{"app": {Reason: ReasonCrashLoopBackOff, Message: "back-off 10s"}}
	for _, tc := range []struct {
		name       string
		pod        *corev1.Pod
		sandbox    *SandboxStatus
		containers []ContainerStatus
		probe      func(*corev1.Container, *ContainerStatus) ProbeResult
		waiting    map[string]*corev1.ContainerStateWaiting
		terminal   bool
		wantPhase  corev1.PodPhase
		wantConds  map[corev1.PodConditionType]string
		check      func(t *testing.T, s corev1.PodStatus)
	}{{
		name:      "new pod: containers creating",
		pod:       testPod(corev1.RestartPolicyAlways, nil, "app"),
		wantPhase: corev1.PodPending,
		wantConds: map[corev1.PodConditionType]string{
			corev1.PodReadyToStartContainers: "False/", corev1.PodInitialized: "True/",
			corev1.PodReady: "False/ContainersNotReady", corev1.ContainersReady: "False/ContainersNotReady", corev1.PodScheduled: "True/",
		},
		check: func(t *testing.T, s corev1.PodStatus) {
			w := s.ContainerStatuses[0].State.Waiting
			if w == nil || w.Reason != ReasonContainerCreating || s.ContainerStatuses[0].Image != "app:1" {
				t.Errorf("container = %+v", s.ContainerStatuses[0])
			}
			if s.PodIP != "" || s.HostIP != "10.240.0.1" || s.StartTime == nil || !s.StartTime.Time.Equal(now) {
				t.Errorf("podIP %q hostIP %q startTime %v", s.PodIP, s.HostIP, s.StartTime)
			}
			if msg := s.Conditions[2].Message; msg != "containers with unready status: [app]" {
				t.Errorf("Ready message = %q", msg)
			}
		},
	}, {
		name:       "running and ready",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "b", "a"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{running("a", 0), running("b", 0)},
		wantPhase:  corev1.PodRunning,
		wantConds: map[corev1.PodConditionType]string{
			corev1.PodReadyToStartContainers: "True/", corev1.PodInitialized: "True/",
			corev1.PodReady: "True/", corev1.ContainersReady: "True/", corev1.PodScheduled: "True/",
		},
		check: func(t *testing.T, s corev1.PodStatus) {
			if s.ContainerStatuses[0].Name != "a" || s.ContainerStatuses[1].Name != "b" {
				t.Errorf("container statuses not sorted by name: %v, %v", s.ContainerStatuses[0].Name, s.ContainerStatuses[1].Name)
			}
			cs := s.ContainerStatuses[0]
			if !cs.Ready || !*cs.Started || cs.ContainerID != "simulated://a-id" || cs.ImageID != "ref" || !cs.State.Running.StartedAt.Time.Equal(t0) {
				t.Errorf("container = %+v", cs)
			}
			if s.PodIP != "10.244.0.7" || len(s.PodIPs) != 1 || s.ObservedGeneration != 3 || s.QOSClass != corev1.PodQOSBestEffort {
				t.Errorf("status = %+v", s)
			}
			for _, c := range s.Conditions {
				if c.ObservedGeneration != 3 {
					t.Errorf("condition %s observedGeneration = %d", c.Type, c.ObservedGeneration)
				}
			}
		},
	}, {
		name:       "running but not ready",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{running("app", 0)},
		probe:      unready,
		wantPhase:  corev1.PodRunning,
		wantConds:  map[corev1.PodConditionType]string{corev1.PodReady: "False/ContainersNotReady", corev1.ContainersReady: "False/ContainersNotReady"},
		check: func(t *testing.T, s corev1.PodStatus) {
			if cs := s.ContainerStatuses[0]; cs.Ready || !*cs.Started {
				t.Errorf("container = %+v", cs)
			}
		},
	}, {
		name:       "init containers pending",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1"), initC("i2")}, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{exited("i1", 0, 0), running("i2", 0)},
		wantPhase:  corev1.PodPending,
		wantConds:  map[corev1.PodConditionType]string{corev1.PodInitialized: "False/ContainersNotInitialized", corev1.PodReady: "False/ContainersNotReady"},
		check: func(t *testing.T, s corev1.PodStatus) {
			if s.InitContainerStatuses[0].Name != "i1" || !s.InitContainerStatuses[0].Ready || s.InitContainerStatuses[1].State.Running == nil {
				t.Errorf("init statuses = %+v", s.InitContainerStatuses)
			}
			if w := s.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != ReasonPodInitializing {
				t.Errorf("main container = %+v", s.ContainerStatuses[0])
			}
			if msg := s.Conditions[1].Message; msg != "containers with incomplete status: [i2]" {
				t.Errorf("Initialized message = %q", msg)
			}
		},
	}, {
		name:       "init containers done",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1")}, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{exited("i1", 0, 0), running("app", 0)},
		wantPhase:  corev1.PodRunning,
		wantConds:  map[corev1.PodConditionType]string{corev1.PodInitialized: "True/", corev1.PodReady: "True/"},
		check: func(t *testing.T, s corev1.PodStatus) {
			if st := s.InitContainerStatuses[0]; *st.Started || st.State.Terminated == nil {
				t.Errorf("finished init container = %+v", st)
			}
		},
	}, {
		name:       "init container failed, restartPolicy Never",
		pod:        testPod(corev1.RestartPolicyNever, []corev1.Container{initC("i1")}, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{exited("i1", 0, 2)},
		wantPhase:  corev1.PodFailed,
		wantConds:  map[corev1.PodConditionType]string{corev1.PodReady: "False/PodFailed", corev1.PodInitialized: "False/ContainersNotInitialized"},
	}, {
		name:       "init container failed, restartPolicy OnFailure: retried",
		pod:        testPod(corev1.RestartPolicyOnFailure, []corev1.Container{initC("i1")}, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{exited("i1", 0, 2)},
		wantPhase:  corev1.PodPending,
	}, {
		name:       "Always: restarted once",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{exited("app", 0, 1), running("app", 1)},
		wantPhase:  corev1.PodRunning,
		check: func(t *testing.T, s corev1.PodStatus) {
			cs := s.ContainerStatuses[0]
			if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 ||
				cs.LastTerminationState.Terminated.ContainerID != "simulated://app-old0" {
				t.Errorf("container = %+v", cs)
			}
		},
	}, {
		name:       "Always: in back-off",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{exited("app", 0, 1), exited("app", 1, 1)},
		waiting:    crashLoop,
		wantPhase:  corev1.PodRunning,
		wantConds:  map[corev1.PodConditionType]string{corev1.PodReady: "False/ContainersNotReady"},
		check: func(t *testing.T, s corev1.PodStatus) {
			cs := s.ContainerStatuses[0]
			if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonCrashLoopBackOff || cs.RestartCount != 1 ||
				cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ContainerID != "simulated://app-old1" {
				t.Errorf("container = %+v", cs)
			}
		},
	}, {
		name:       "Never: exited 0",
		pod:        testPod(corev1.RestartPolicyNever, nil, "app"),
		containers: []ContainerStatus{exited("app", 0, 0)},
		wantPhase:  corev1.PodSucceeded,
		wantConds: map[corev1.PodConditionType]string{
			corev1.PodReadyToStartContainers: "False/", corev1.PodInitialized: "True/PodCompleted",
			corev1.PodReady: "False/PodCompleted", corev1.ContainersReady: "False/PodCompleted",
		},
	}, {
		name:       "Never: one of two failed",
		pod:        testPod(corev1.RestartPolicyNever, nil, "a", "b"),
		containers: []ContainerStatus{exited("a", 0, 0), exited("b", 0, 1)},
		wantPhase:  corev1.PodFailed,
		wantConds:  map[corev1.PodConditionType]string{corev1.PodReady: "False/PodFailed", corev1.ContainersReady: "False/PodFailed"},
	}, {
		name:       "Never: one still running",
		pod:        testPod(corev1.RestartPolicyNever, nil, "a", "b"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{exited("a", 0, 1), running("b", 0)},
		wantPhase:  corev1.PodRunning,
	}, {
		name:       "OnFailure: exited 0",
		pod:        testPod(corev1.RestartPolicyOnFailure, nil, "app"),
		containers: []ContainerStatus{exited("app", 0, 0)},
		wantPhase:  corev1.PodSucceeded,
	}, {
		name:       "OnFailure: failed, restarting",
		pod:        testPod(corev1.RestartPolicyOnFailure, nil, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{exited("app", 0, 1)},
		waiting:    crashLoop,
		wantPhase:  corev1.PodRunning,
	}, {
		name:       "Always: deleted and stopped with exit 0",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "app"),
		containers: []ContainerStatus{exited("app", 0, 0)},
		terminal:   true,
		wantPhase:  corev1.PodSucceeded,
	}, {
		name:       "Always: deleted and stopped with exit 143",
		pod:        testPod(corev1.RestartPolicyAlways, nil, "app"),
		containers: []ContainerStatus{exited("app", 0, 143)},
		terminal:   true,
		wantPhase:  corev1.PodFailed,
	}, {
		name:       "sidecar started, main running",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{sidecarC("proxy"), initC("i1")}, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{running("proxy", 0), exited("i1", 0, 0), running("app", 0)},
		wantPhase:  corev1.PodRunning,
		wantConds:  map[corev1.PodConditionType]string{corev1.PodInitialized: "True/", corev1.PodReady: "True/"},
		check: func(t *testing.T, s corev1.PodStatus) {
			if st := s.InitContainerStatuses[0]; !st.Ready || !*st.Started {
				t.Errorf("sidecar = %+v", st)
			}
		},
	}, {
		name:       "sidecar not ready holds the pod unready",
		pod:        testPod(corev1.RestartPolicyAlways, []corev1.Container{sidecarC("proxy")}, "app"),
		sandbox:    readySandbox,
		containers: []ContainerStatus{running("proxy", 0), running("app", 0)},
		probe: func(c *corev1.Container, _ *ContainerStatus) ProbeResult {
			return ProbeResult{Started: true, Ready: c.Name != "proxy"}
		},
		wantPhase: corev1.PodRunning,
		wantConds: map[corev1.PodConditionType]string{corev1.PodReady: "False/ContainersNotReady"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			probe := tc.probe
			if probe == nil {
				probe = ready
			}
			var sandboxes []SandboxStatus
			if tc.sandbox != nil {
				sandboxes = []SandboxStatus{*tc.sandbox}
			}
			st := newPodState(sandboxes, tc.containers)
			var ips []string
			if st.sandboxReady() {
				ips = st.sandbox.IPs
			}
			s := computePodStatus(statusInput{
				pod: tc.pod, old: &tc.pod.Status, state: st, podIPs: ips, hostIPs: []string{"10.240.0.1"},
				probe: probe, waiting: tc.waiting, runtimeName: "simulated", terminal: tc.terminal, now: now,
			})
			if s.Phase != tc.wantPhase {
				t.Errorf("phase = %s, want %s", s.Phase, tc.wantPhase)
			}
			got := conds(s)
			for ct, want := range tc.wantConds {
				if got[ct] != want {
					t.Errorf("condition %s = %q, want %q", ct, got[ct], want)
				}
			}
			if len(s.Conditions) != 5 {
				t.Errorf("conditions = %+v", s.Conditions)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestComputePodStatusKeepsHistory(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
	pod.Status.Conditions = append(pod.Status.Conditions,
		corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0)},
		corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
		corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"},
	)
	pod.Status.StartTime = ptr.To(metav1.NewTime(t0))
	pod.Status.NominatedNodeName = "other"
	st := newPodState([]SandboxStatus{*readySandbox}, []ContainerStatus{running("app", 0)})
	in := statusInput{pod: pod, old: &pod.Status, state: st, podIPs: st.sandbox.IPs, hostIPs: []string{"10.240.0.1"},
		probe: ready, runtimeName: "simulated", now: now}
	s := computePodStatus(in)

	byType := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range s.Conditions {
		byType[c.Type] = c
	}
	if c := byType[corev1.PodReady]; c.Status != corev1.ConditionFalse || c.Reason != ReasonReadinessGatesNotReady || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Ready = %+v: a missing readiness gate keeps it False, and an unchanged status keeps its transition time", c)
	}
	if c := byType[corev1.ContainersReady]; c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("ContainersReady = %+v", c)
	}
	if c := byType[corev1.PodReadyToStartContainers]; !c.LastTransitionTime.Time.Equal(now) {
		t.Errorf("new condition's transition time = %v, want now", c.LastTransitionTime)
	}
	if c := byType[corev1.DisruptionTarget]; c.Reason != "EvictionByEvictionAPI" {
		t.Errorf("a condition the agent does not own was dropped: %+v", s.Conditions)
	}
	if !s.StartTime.Time.Equal(t0) || s.NominatedNodeName != "other" {
		t.Errorf("startTime %v nominatedNodeName %q", s.StartTime, s.NominatedNodeName)
	}

	// The gate's condition arrives: Ready turns True, with a new time.
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: "example.com/lb", Status: corev1.ConditionTrue})
	s = computePodStatus(in)
	for _, c := range s.Conditions {
		if c.Type == corev1.PodReady && (c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Time.Equal(now)) {
			t.Errorf("Ready with its gate satisfied = %+v", c)
		}
	}
}

func TestComputePodStatusTerminalPhaseIsFinal(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	pod.Status.Phase = corev1.PodFailed
	st := newPodState([]SandboxStatus{*readySandbox}, []ContainerStatus{running("app", 0)})
	s := computePodStatus(statusInput{pod: pod, old: &pod.Status, state: st, probe: ready, now: now})
	if s.Phase != corev1.PodFailed {
		t.Errorf("phase = %s: a terminal phase must never change", s.Phase)
	}
}

func TestComputePodStatusLostContainer(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 2,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}}}}
	s := computePodStatus(statusInput{pod: pod, old: &pod.Status, probe: ready, now: now})
	cs := s.ContainerStatuses[0]
	if cs.RestartCount != 3 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.Reason != ReasonStatusUnknown {
		t.Errorf("container the runtime lost = %+v", cs)
	}
	if s.Phase != corev1.PodRunning {
		t.Errorf("phase = %s: a container that ran does not send the pod back to Pending", s.Phase)
	}
}

func TestComputePodStatusHostNetwork(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	pod.Spec.HostNetwork = true
	s := computePodStatus(statusInput{pod: pod, old: &pod.Status, hostIPs: []string{"10.240.0.9"}, probe: ready, now: now})
	if s.PodIP != "10.240.0.9" || len(s.PodIPs) != 1 {
		t.Errorf("host-network pod IPs = %q %v, want the node's", s.PodIP, s.PodIPs)
	}
}

func TestComputePodStatusFailure(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	pod.Status.Phase = corev1.PodRunning
	st := newPodState(nil, []ContainerStatus{exited("app", 0, 0)})
	f := &podFailure{reason: ReasonDeadlineExceeded, message: messageDeadlineExceeded}
	s := computePodStatus(statusInput{pod: pod, old: &pod.Status, state: st, probe: ready, terminal: true, failure: f, now: now})
	if s.Phase != corev1.PodFailed || s.Reason != ReasonDeadlineExceeded || s.Message != messageDeadlineExceeded {
		t.Errorf("phase %s reason %q message %q, want Failed/DeadlineExceeded even though every container exited 0", s.Phase, s.Reason, s.Message)
	}
	if got := conds(s)[corev1.PodReady]; got != "False/PodFailed" {
		t.Errorf("Ready = %q", got)
	}
	pod.Status.Phase = corev1.PodSucceeded
	if s := computePodStatus(statusInput{pod: pod, old: &pod.Status, state: st, probe: ready, terminal: true, failure: f, now: now}); s.Phase != corev1.PodSucceeded {
		t.Errorf("a failure turned a Succeeded pod %s", s.Phase)
	}
}

func TestDeadline(t *testing.T) {
	clk := testingclock.NewFakeClock(t0.Add(60 * time.Second))
	a := &Agent{cfg: Config{Clock: clk}, written: map[types.UID]writtenStatus{}}
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	if f, rem := a.deadline(pod); f != nil || rem != 0 {
		t.Fatalf("no deadline: %v %v", f, rem)
	}
	pod.Spec.ActiveDeadlineSeconds = ptr.To[int64](90)
	if f, rem := a.deadline(pod); f != nil || rem != 0 {
		t.Fatalf("not started: %v %v", f, rem)
	}
	pod.Status.StartTime = ptr.To(metav1.NewTime(t0))
	if f, rem := a.deadline(pod); f != nil || rem != 30*time.Second {
		t.Fatalf("60s into 90s: %v %v, want 30s left", f, rem)
	}
	clk.Step(30 * time.Second)
	if f, _ := a.deadline(pod); f == nil || f.reason != ReasonDeadlineExceeded {
		t.Fatalf("at 90s: %v, want DeadlineExceeded", f)
	}
}
