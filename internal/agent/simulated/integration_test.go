package simulated_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/agent/simulated"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

const (
	testNode     = "sim-a"
	pollInterval = 20 * time.Millisecond
	waitFor      = 20 * time.Second
)

// nodes runs simulated nodes against s until the returned stop is called
// (or the test ends), and waits until they are ready.
func nodes(t *testing.T, s *servertest.Server, cfg simulated.Config) (stop func()) {
	t.Helper()
	return nodesWith(t, s.Config, cfg)
}

func nodesWith(t *testing.T, rc *rest.Config, cfg simulated.Config) (stop func()) {
	t.Helper()
	cfg.RESTConfig = rc
	if cfg.Name == "" && cfg.Nodes <= 1 {
		cfg.Name = testNode
	}
	if cfg.LeaseRenewInterval == 0 {
		cfg.LeaseRenewInterval = 200 * time.Millisecond
	}
	if cfg.BackOffInitial == 0 {
		cfg.BackOffInitial, cfg.BackOffMax = 100*time.Millisecond, 400*time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	cfg.Ready = ready
	go func() { done <- simulated.Run(ctx, cfg) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulated nodes: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case <-time.After(waitFor):
		t.Fatal("simulated nodes did not become ready")
	}
	return stop
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newPod(name string, annotations map[string]string, policy corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "app", Image: "nginx"}},
		},
	}
}

// createBound creates pod and binds it to node, as the scheduler would.
func createBound(t *testing.T, c kubernetes.Interface, pod *corev1.Pod, node string) *corev1.Pod {
	t.Helper()
	ctx := ctxT(t)
	created, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	err = c.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("binding pod %s: %v", pod.Name, err)
	}
	return created
}

// waitPod polls until cond holds for the pod, failing with the last state.
func waitPod(t *testing.T, c kubernetes.Interface, name string, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	ctx := ctxT(t)
	deadline := time.Now().Add(waitFor)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		pod, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = pod
			if cond(pod) {
				return pod
			}
		}
		time.Sleep(pollInterval)
	}
	t.Fatalf("pod %s never became %s; last status: %s", name, what, describe(last))
	return nil
}

func describe(pod *corev1.Pod) string {
	if pod == nil {
		return "<none>"
	}
	return fmt.Sprintf("%+v", pod.Status)
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(pod *corev1.Pod) bool {
	c := condition(pod, corev1.PodReady)
	return pod.Status.Phase == corev1.PodRunning && c != nil && c.Status == corev1.ConditionTrue
}

func TestBoundPodRunsAndIsReady(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	nodes(t, s, simulated.Config{})
	pod := newPod("web", nil, corev1.RestartPolicyAlways)
	pod.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox"}, {Name: "migrate", Image: "example.com/tools/migrate:v2"}}
	createBound(t, s.Client, pod, testNode)
	got := waitPod(t, s.Client, "web", "Running and Ready", isReady)

	for _, ct := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		if c := condition(got, ct); c == nil || c.Status != corev1.ConditionTrue || c.LastTransitionTime.IsZero() {
			t.Errorf("condition %s = %+v, want True with a transition time", ct, c)
		}
	}
	if len(got.Status.ContainerStatuses) != 1 {
		t.Fatalf("containerStatuses = %+v", got.Status.ContainerStatuses)
	}
	cs := got.Status.ContainerStatuses[0]
	if !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 || cs.State.Running == nil || cs.State.Running.StartedAt.IsZero() {
		t.Errorf("container status = %+v", cs)
	}
	if !strings.HasPrefix(cs.ContainerID, "simulated://") || len(cs.ContainerID) != len("simulated://")+64 {
		t.Errorf("containerID = %q", cs.ContainerID)
	}
	if !strings.HasPrefix(cs.ImageID, "docker.io/library/nginx@sha256:") || cs.Image != "nginx" {
		t.Errorf("image = %q, imageID = %q", cs.Image, cs.ImageID)
	}
	for i, ics := range got.Status.InitContainerStatuses {
		term := ics.State.Terminated
		if ics.Name != pod.Spec.InitContainers[i].Name || term == nil || term.ExitCode != 0 || term.Reason != "Completed" || !ics.Ready {
			t.Errorf("init container status %d = %+v", i, ics)
		}
	}
	if len(got.Status.InitContainerStatuses) != 2 {
		t.Errorf("initContainerStatuses = %+v", got.Status.InitContainerStatuses)
	}
	ip, err := netip.ParseAddr(got.Status.PodIP)
	if err != nil || !netip.MustParsePrefix("10.244.0.0/24").Contains(ip) || len(got.Status.PodIPs) != 1 {
		t.Errorf("podIP = %q, podIPs = %v", got.Status.PodIP, got.Status.PodIPs)
	}
	if got.Status.HostIP != simulated.NodeIPFor(0).String() || len(got.Status.HostIPs) != 1 {
		t.Errorf("hostIP = %q, hostIPs = %v", got.Status.HostIP, got.Status.HostIPs)
	}
	if got.Status.StartTime == nil || got.Status.QOSClass != corev1.PodQOSBestEffort || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("startTime = %v, qosClass = %q, observedGeneration = %d", got.Status.StartTime, got.Status.QOSClass, got.Status.ObservedGeneration)
	}
}

func TestExitZeroSucceedsWithRestartNever(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	nodes(t, s, simulated.Config{})
	createBound(t, s.Client, newPod("job", map[string]string{
		simulated.AnnotationExitCode: "0", simulated.AnnotationRunDuration: "300ms",
	}, corev1.RestartPolicyNever), testNode)
	waitPod(t, s.Client, "job", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	got := waitPod(t, s.Client, "job", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	term := got.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.ExitCode != 0 || term.Reason != "Completed" || !term.FinishedAt.After(term.StartedAt.Time.Add(-time.Second)) {
		t.Errorf("terminated state = %+v", term)
	}
	if c := condition(got, corev1.PodReady); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "PodCompleted" {
		t.Errorf("Ready = %+v, want False/PodCompleted", c)
	}
	if c := condition(got, corev1.PodReadyToStartContainers); c == nil || c.Status != corev1.ConditionFalse {
		t.Errorf("PodReadyToStartContainers = %+v, want False once the sandbox is gone", c)
	}
	if got.Status.PodIP == "" {
		t.Error("podIP was dropped when the pod finished")
	}
	// A finished pod stays until the control plane deletes it.
	time.Sleep(300 * time.Millisecond)
	if _, err := s.Client.CoreV1().Pods("default").Get(ctxT(t), "job", metav1.GetOptions{}); err != nil {
		t.Errorf("finished pod was removed: %v", err)
	}
}

func TestExitNonZeroFailsWithRestartNever(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	nodes(t, s, simulated.Config{})
	createBound(t, s.Client, newPod("fail", map[string]string{simulated.AnnotationExitCode: "3"}, corev1.RestartPolicyNever), testNode)
	got := waitPod(t, s.Client, "fail", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if term := got.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
		t.Errorf("terminated state = %+v", term)
	}
}

func TestExitingContainerRestartsWithRestartAlways(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	nodes(t, s, simulated.Config{})
	createBound(t, s.Client, newPod("crash", map[string]string{
		simulated.AnnotationExitCode: "1", simulated.AnnotationRunDuration: "100ms",
	}, corev1.RestartPolicyAlways), testNode)
	got := waitPod(t, s.Client, "crash", "restarted twice", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
	})
	cs := got.Status.ContainerStatuses[0]
	if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 1 {
		t.Errorf("lastState = %+v, want terminated with exit code 1", cs.LastTerminationState)
	}
	if got.Status.Phase != corev1.PodRunning {
		t.Errorf("phase = %s, want Running while restarting", got.Status.Phase)
	}
	// The back-off shows as CrashLoopBackOff at some point.
	waitPod(t, s.Client, "crash", "in CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
}

func TestUnreadyPod(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	nodes(t, s, simulated.Config{})
	createBound(t, s.Client, newPod("unready", map[string]string{simulated.AnnotationReady: "false"}, corev1.RestartPolicyAlways), testNode)
	createBound(t, s.Client, newPod("later", map[string]string{simulated.AnnotationReadyAfter: "700ms"}, corev1.RestartPolicyAlways), testNode)
	got := waitPod(t, s.Client, "unready", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if c := condition(got, corev1.PodReady); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotReady" {
		t.Errorf("Ready = %+v, want False/ContainersNotReady", c)
	}
	if cs := got.Status.ContainerStatuses[0]; cs.Ready || cs.Started == nil || !*cs.Started {
		t.Errorf("container status = %+v, want started and not ready", cs)
	}
	later := waitPod(t, s.Client, "later", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if isReady(later) {
		t.Error("pod with ready-after 700ms was ready at once")
	}
	later = waitPod(t, s.Client, "later", "Ready", isReady)
	ready := condition(later, corev1.PodReady).LastTransitionTime.Time
	started := later.Status.ContainerStatuses[0].State.Running.StartedAt.Time
	if ready.Sub(started) < 0 {
		t.Errorf("ready at %v, before the container started at %v", ready, started)
	}
	// Still unready after the other became ready.
	got, _ = s.Client.CoreV1().Pods("default").Get(ctxT(t), "unready", metav1.GetOptions{})
	if isReady(got) {
		t.Error("pod annotated ready=false became ready")
	}
}

func TestDeletedPodIsRemoved(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	nodes(t, s, simulated.Config{})
	createBound(t, s.Client, newPod("doomed", nil, corev1.RestartPolicyAlways), testNode)
	waitPod(t, s.Client, "doomed", "Ready", isReady)
	ctx := ctxT(t)
	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for {
		_, err := s.Client.CoreV1().Pods("default").Get(ctx, "doomed", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deleted pod still there: %v", err)
		}
		time.Sleep(pollInterval)
	}
}

func TestNodeAndLease(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	stop := nodes(t, s, simulated.Config{Labels: map[string]string{"pool": "sim"}})
	ctx := ctxT(t)
	var node *corev1.Node
	poll(t, "node registered", func() bool {
		var err error
		node, err = s.Client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
		return err == nil
	})
	for k, v := range map[string]string{"kubernetes.io/hostname": testNode, "kubernetes.io/os": "linux", "pool": "sim", simulated.LabelSimulated: "true"} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if node.Labels["kubernetes.io/arch"] == "" {
		t.Error("no kubernetes.io/arch label")
	}
	capacity := node.Status.Capacity
	if capacity.Cpu().String() != "32" || capacity.Memory().String() != "256Gi" || capacity.Pods().String() != "110" || capacity.StorageEphemeral().String() != "100Gi" {
		t.Errorf("capacity = %v", capacity)
	}
	if node.Status.Allocatable.Pods().String() != "110" {
		t.Errorf("allocatable = %v", node.Status.Allocatable)
	}
	info := node.Status.NodeInfo
	if info.ContainerRuntimeVersion != "simulated://1.0" || !strings.HasPrefix(info.KubeletVersion, "v1.") || info.OSImage == "" || info.OperatingSystem != "linux" {
		t.Errorf("nodeInfo = %+v", info)
	}
	var ready *corev1.NodeCondition
	for i, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = &node.Status.Conditions[i]
		} else if c.Status != corev1.ConditionFalse {
			t.Errorf("condition %s = %s, want False", c.Type, c.Status)
		}
	}
	if ready == nil || ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" || ready.LastHeartbeatTime.IsZero() {
		t.Errorf("Ready condition = %+v", ready)
	}
	if len(node.Status.Conditions) != 4 {
		t.Errorf("conditions = %+v", node.Status.Conditions)
	}
	addrs := map[corev1.NodeAddressType]string{}
	for _, a := range node.Status.Addresses {
		addrs[a.Type] = a.Address
	}
	if addrs[corev1.NodeInternalIP] != simulated.NodeIPFor(0).String() || addrs[corev1.NodeHostName] != testNode {
		t.Errorf("addresses = %v", node.Status.Addresses)
	}

	leases := s.Client.CoordinationV1().Leases("kube-node-lease")
	renewTime := func() time.Time {
		l, err := leases.Get(ctx, testNode, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil {
			return time.Time{}
		}
		if ptr.Deref(l.Spec.HolderIdentity, "") != testNode || ptr.Deref(l.Spec.LeaseDurationSeconds, 0) != 40 ||
			len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != node.UID {
			t.Errorf("lease = %+v", l)
		}
		return l.Spec.RenewTime.Time
	}
	var first time.Time
	poll(t, "lease created", func() bool { first = renewTime(); return !first.IsZero() })
	poll(t, "lease renewed", func() bool { return renewTime().After(first) })

	stop()
	last := renewTime()
	time.Sleep(5 * 200 * time.Millisecond)
	if got := renewTime(); !got.Equal(last) {
		t.Errorf("lease renewed after the agent stopped: %v then %v", last, got)
	}
	if n, _ := s.Client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{}); n == nil || conditionStatus(n, corev1.NodeReady) != corev1.ConditionTrue {
		t.Error("a stopped agent wrote its node NotReady; it should just go quiet")
	}
}

func conditionStatus(n *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(pollInterval)
	}
}

func TestRestartedAgentAdoptsItsPods(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	pods := s.Client.CoreV1().Pods("default")
	stop := nodes(t, s, simulated.Config{})
	createBound(t, s.Client, newPod("keep", nil, corev1.RestartPolicyAlways), testNode)
	createBound(t, s.Client, newPod("finish", map[string]string{simulated.AnnotationRunDuration: "1500ms"}, corev1.RestartPolicyNever), testNode)
	createBound(t, s.Client, newPod("forced", nil, corev1.RestartPolicyAlways), testNode)
	createBound(t, s.Client, newPod("graceful", nil, corev1.RestartPolicyAlways), testNode)
	for _, name := range []string{"keep", "finish", "forced", "graceful"} {
		waitPod(t, s.Client, name, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	}
	before, _ := pods.Get(ctx, "keep", metav1.GetOptions{})
	node, _ := s.Client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
	stop()

	// While the node is down: one pod is force-deleted, one deleted
	// gracefully (it waits for its node), and one's run time passes.
	if err := pods.Delete(ctx, "forced", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := pods.Get(ctx, "graceful", metav1.GetOptions{}); err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("graceful deletion of a bound pod: %+v, %v", p, err)
	}
	time.Sleep(1600 * time.Millisecond)

	nodes(t, s, simulated.Config{})
	poll(t, "the gracefully deleted pod to be removed", func() bool {
		_, err := pods.Get(ctx, "graceful", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	finished := waitPod(t, s.Client, "finish", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	term := finished.Status.ContainerStatuses[0].State.Terminated
	if d := term.FinishedAt.Sub(term.StartedAt.Time); d < time.Second || d > 2*time.Second {
		t.Errorf("finished pod ran %v (from %v to %v), want its scripted 1.5s", d, term.StartedAt, term.FinishedAt)
	}
	if _, err := pods.Get(ctx, "forced", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("force-deleted pod came back: %v", err)
	}
	after, _ := pods.Get(ctx, "keep", metav1.GetOptions{})
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("running pod's status was rewritten on adoption:\nbefore %+v\nafter  %+v", before.Status, after.Status)
	}
	b, a := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
	if a.ContainerID != b.ContainerID || !a.State.Running.StartedAt.Equal(&b.State.Running.StartedAt) ||
		after.Status.PodIP != before.Status.PodIP || !after.Status.StartTime.Equal(before.Status.StartTime) {
		t.Errorf("adopted pod changed: before %+v, after %+v", before.Status, after.Status)
	}
	if n, _ := s.Client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{}); n == nil || n.UID != node.UID {
		t.Error("the restarted agent replaced its Node")
	}
}

func TestManyNodesShareOneWatch(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	nodes(t, s, simulated.Config{Nodes: 3, NamePrefix: "n-"})
	for i := range 3 {
		for j := range 2 {
			createBound(t, s.Client, newPod(fmt.Sprintf("p%d-%d", i, j), nil, corev1.RestartPolicyAlways), fmt.Sprintf("n-%d", i))
		}
	}
	for i := range 3 {
		for j := range 2 {
			got := waitPod(t, s.Client, fmt.Sprintf("p%d-%d", i, j), "Ready", isReady)
			ip := netip.MustParseAddr(got.Status.PodIP)
			if !simulated.PodCIDRFor(i).Contains(ip) || got.Status.HostIP != simulated.NodeIPFor(i).String() {
				t.Errorf("pod on n-%d: podIP %s, hostIP %s", i, ip, got.Status.HostIP)
			}
		}
	}
}

func TestActiveDeadlineFailsPod(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	nodes(t, s, simulated.Config{})
	pod := newPod("deadline", nil, corev1.RestartPolicyAlways)
	pod.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	createBound(t, s.Client, pod, testNode)
	got := waitPod(t, s.Client, "deadline", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if got.Status.Reason != "DeadlineExceeded" || got.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("status = %+v", got.Status)
	}
}
