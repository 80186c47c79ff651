package agent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
	testingclock "k8s.io/utils/clock/testing"
)

func TestComputeNodeStatus(t *testing.T) {
	in := nodeStatusInput{
		name:      "n1",
		capacity:  corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("32")},
		addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.240.0.1"}},
		info:      corev1.NodeSystemInfo{ContainerRuntimeVersion: "simulated://1.0", KubeletVersion: "v1.37.2"},
	}
	s := computeNodeStatus(in, corev1.NodeStatus{}, t0)
	if !s.Allocatable.Pods().Equal(resource.MustParse("110")) || !s.Capacity.Cpu().Equal(resource.MustParse("32")) {
		t.Errorf("allocatable %v capacity %v: allocatable defaults to capacity", s.Allocatable, s.Capacity)
	}
	if len(s.Addresses) != 2 || s.Addresses[1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: "n1"}) {
		t.Errorf("addresses = %v, want the InternalIP and the node name as Hostname", s.Addresses)
	}
	want := []struct {
		typ    corev1.NodeConditionType
		status corev1.ConditionStatus
		reason string
	}{
		{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"},
		{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"},
		{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"},
		{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"},
	}
	if len(s.Conditions) != len(want) {
		t.Fatalf("conditions = %+v", s.Conditions)
	}
	for i, w := range want {
		c := s.Conditions[i]
		if c.Type != w.typ || c.Status != w.status || c.Reason != w.reason || !c.LastHeartbeatTime.Time.Equal(t0) || !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("condition %d = %+v, want %s=%s (%s) at %v", i, c, w.typ, w.status, w.reason, t0)
		}
	}

	// Ten seconds later: heartbeats move, transitions do not, and nothing
	// counts as a change.
	later := computeNodeStatus(in, s, t0.Add(10*time.Second))
	for _, c := range later.Conditions {
		if !c.LastHeartbeatTime.Time.Equal(t0.Add(10*time.Second)) || !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("condition %s heartbeat %v transition %v", c.Type, c.LastHeartbeatTime, c.LastTransitionTime)
		}
	}
	if nodeStatusChanged(&s, &later) {
		t.Error("a heartbeat alone counted as a status change")
	}

	// The control plane marked the node Unknown: the agent puts it back,
	// with a new transition time, and that is a change.
	lost := later.DeepCopy()
	lost.Conditions[3].Status = corev1.ConditionUnknown
	back := computeNodeStatus(in, *lost, t0.Add(20*time.Second))
	if back.Conditions[3].Status != corev1.ConditionTrue || !back.Conditions[3].LastTransitionTime.Time.Equal(t0.Add(20*time.Second)) {
		t.Errorf("Ready after Unknown = %+v", back.Conditions[3])
	}
	if !nodeStatusChanged(lost, &back) {
		t.Error("Unknown to True did not count as a change")
	}
}

func TestBackOffRemaining(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	a, err := New(Config{NodeName: "n", Client: nil, Runtime: nil})
	if err == nil || a != nil {
		t.Fatal("New accepted a config without client and runtime")
	}
	a = &Agent{cfg: Config{Clock: clk}}
	a.backOff = newTestBackOff(clk)
	key := "uid/app"
	// First exit: restart at once; the window becomes 10s.
	if rem, _ := a.backOffRemaining(key, t0); rem != 0 {
		t.Fatalf("first exit: remaining %v, want 0", rem)
	}
	a.backOff.Next(key, t0)
	// Second exit 2s later: wait out the rest of the 10s window.
	clk.SetTime(t0.Add(2 * time.Second))
	rem, delay := a.backOffRemaining(key, t0.Add(2*time.Second))
	if rem != 10*time.Second || delay != 10*time.Second {
		t.Fatalf("second exit: remaining %v delay %v, want 10s/10s", rem, delay)
	}
	clk.SetTime(t0.Add(9 * time.Second))
	if rem, _ := a.backOffRemaining(key, t0.Add(2*time.Second)); rem != 3*time.Second {
		t.Fatalf("7s into the window: remaining %v, want 3s", rem)
	}
	clk.SetTime(t0.Add(12 * time.Second))
	if rem, _ := a.backOffRemaining(key, t0.Add(2*time.Second)); rem != 0 {
		t.Fatalf("after the window: remaining %v, want 0", rem)
	}
	a.backOff.Next(key, t0.Add(2*time.Second))
	if _, delay := a.backOffRemaining(key, t0.Add(12*time.Second)); delay != 20*time.Second {
		t.Fatalf("next window = %v, want 20s", delay)
	}
}

func newTestBackOff(clk *testingclock.FakeClock) *flowcontrol.Backoff {
	return flowcontrol.NewFakeBackOff(DefaultBackOffInitial, DefaultBackOffMax, clk)
}

func TestBasisFollowsOwnWrites(t *testing.T) {
	a := &Agent{written: map[types.UID]writtenStatus{}}
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	pod.ResourceVersion = "5"
	if a.basis(pod) != pod {
		t.Fatal("with no write of its own, the basis is the cached pod")
	}
	a.written[pod.UID] = writtenStatus{basedOn: "5", resourceVersion: "6", status: corev1.PodStatus{Phase: corev1.PodRunning}}
	b := a.basis(pod)
	if b.ResourceVersion != "6" || b.Status.Phase != corev1.PodRunning || pod.Status.Phase != corev1.PodPending {
		t.Fatalf("while the cache lags, the basis is the agent's write: %s %s (cache left alone: %s)", b.ResourceVersion, b.Status.Phase, pod.Status.Phase)
	}
	caughtUp := pod.DeepCopy()
	caughtUp.ResourceVersion = "6"
	if a.basis(caughtUp) != caughtUp || len(a.written) != 0 {
		t.Fatal("once the cache moves on it is the truth again, and the write is forgotten")
	}
}

func TestLeaseOwnedByNode(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	a := &Agent{cfg: Config{NodeName: "n1", LeaseDuration: 40 * time.Second, Clock: clk}}
	l := a.desiredLease(nil)
	if l.Namespace != "kube-node-lease" || *l.Spec.HolderIdentity != "n1" || *l.Spec.LeaseDurationSeconds != 40 || !l.Spec.RenewTime.Time.Equal(t0) {
		t.Errorf("lease = %+v", l)
	}
	if len(l.OwnerReferences) != 0 {
		t.Error("owner reference set before the node is known")
	}
	a.node.uid = "node-uid"
	clk.Step(10 * time.Second)
	l = a.desiredLease(l)
	if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].UID != "node-uid" || !l.Spec.RenewTime.Time.Equal(t0.Add(10*time.Second)) {
		t.Errorf("renewed lease = %+v", l)
	}
}

func TestNodeNotReadyUntilNetwork(t *testing.T) {
	conds := []RuntimeCondition{
		{Type: RuntimeReady, Status: true},
		{Type: NetworkReady, Status: false, Reason: "NetworkPluginNotReady", Message: "cni plugin not initialized"},
	}
	msg := runtimeProblemMessage(conds)
	want := "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:cni plugin not initialized"
	if msg != want {
		t.Fatalf("message = %q, want %q", msg, want)
	}
	in := nodeStatusInput{name: "n1", notReady: msg}
	s := computeNodeStatus(in, corev1.NodeStatus{}, t0)
	ready := s.Conditions[3]
	if ready.Type != corev1.NodeReady || ready.Status != corev1.ConditionFalse || ready.Reason != "KubeletNotReady" || ready.Message != want {
		t.Errorf("Ready = %+v, want False/KubeletNotReady with the runtime's reason", ready)
	}
	conds[1].Status = true
	if msg := runtimeProblemMessage(conds); msg != "" {
		t.Errorf("both conditions true: message %q, want none", msg)
	}
	in.notReady = ""
	if back := computeNodeStatus(in, s, t0.Add(time.Second)); back.Conditions[3].Status != corev1.ConditionTrue || !nodeStatusChanged(&s, &back) {
		t.Errorf("network ready: Ready = %+v, want True and a change to write", back.Conditions[3])
	}
}
