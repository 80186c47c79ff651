package agent

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/version"
)

// Well-known node labels and annotations the agent sets, as the kubelet
// does.
const (
	LabelHostname   = "kubernetes.io/hostname"
	LabelOS         = "kubernetes.io/os"
	LabelArch       = "kubernetes.io/arch"
	labelBetaOS     = "beta.kubernetes.io/os"
	labelBetaArch   = "beta.kubernetes.io/arch"
	annotationCMAD  = "volumes.kubernetes.io/controller-managed-attach-detach"
	registerMaxWait = 7 * time.Second
)

// Node condition reasons, as the kubelet reports them.
const (
	ReasonKubeletReady              = "KubeletReady"
	ReasonKubeletNotReady           = "KubeletNotReady"
	ReasonKubeletHasSufficientMem   = "KubeletHasSufficientMemory"
	ReasonKubeletHasNoDiskPressure  = "KubeletHasNoDiskPressure"
	ReasonKubeletHasSufficientPID   = "KubeletHasSufficientPID"
	messageKubeletReady             = "kubelet is posting ready status"
	messageKubeletHasSufficientMem  = "kubelet has sufficient memory available"
	messageKubeletHasNoDiskPressure = "kubelet has no disk pressure"
	messageKubeletHasSufficientPID  = "kubelet has sufficient PID available"
)

// nodeState is what the agent knows of its registered Node.
type nodeState struct {
	mu         sync.Mutex
	uid        types.UID
	podCIDR    string
	lastReport time.Time
}

// registerNode creates the agent's Node, or adopts an existing one, and
// retries with back-off (as the kubelet does) until it succeeds or ctx
// ends.
func (a *Agent) registerNode(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		err := a.tryRegister(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		a.log.Warn("Registering node failed; retrying", "err", err, "retryIn", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-a.cfg.Clock.After(delay):
		}
		delay = min(2*delay, registerMaxWait)
	}
}

func (a *Agent) tryRegister(ctx context.Context) error {
	nodes := a.cfg.Client.CoreV1().Nodes()
	want := a.initialNode(ctx)
	created, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		a.log.Debug("Registered node")
		a.observeNode(ctx, created, true)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node: %w", err)
	}
	existing, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading existing node: %w", err)
	}
	// The labels and annotations the agent owns are brought up to date;
	// everything else (taints, other labels) belongs to whoever set it.
	updated := existing.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	for k, v := range want.Labels {
		updated.Labels[k] = v
	}
	for k, v := range want.Annotations {
		updated.Annotations[k] = v
	}
	if !apiequality.Semantic.DeepEqual(existing.ObjectMeta, updated.ObjectMeta) {
		if existing, err = nodes.Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating existing node: %w", err)
		}
	}
	a.observeNode(ctx, existing, false)
	return nil
}

// observeNode records the Node's UID and passes a newly assigned pod CIDR
// to the runtime.
func (a *Agent) observeNode(ctx context.Context, n *corev1.Node, reported bool) {
	a.node.mu.Lock()
	a.node.uid = n.UID
	changed := n.Spec.PodCIDR != a.node.podCIDR
	a.node.podCIDR = n.Spec.PodCIDR
	if reported {
		a.node.lastReport = a.cfg.Clock.Now()
	}
	a.node.mu.Unlock()
	if changed && n.Spec.PodCIDR != "" {
		if err := a.runtime.UpdatePodCIDR(ctx, n.Spec.PodCIDR); err != nil {
			a.log.Error("Passing the pod CIDR to the runtime failed", "podCIDR", n.Spec.PodCIDR, "err", err)
		}
	}
}

func (a *Agent) nodeUID() types.UID {
	a.node.mu.Lock()
	defer a.node.mu.Unlock()
	return a.node.uid
}

func (a *Agent) initialNode(ctx context.Context) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.cfg.NodeName,
			Labels: map[string]string{
				LabelHostname: a.cfg.NodeName,
				LabelOS:       goruntime.GOOS,
				LabelArch:     goruntime.GOARCH,
				labelBetaOS:   goruntime.GOOS,
				labelBetaArch: goruntime.GOARCH,
			},
			Annotations: map[string]string{annotationCMAD: "true"},
		},
		Spec: corev1.NodeSpec{Taints: a.cfg.Node.Taints},
	}
	for k, v := range a.cfg.Node.Labels {
		n.Labels[k] = v
	}
	for k, v := range a.cfg.Node.Annotations {
		n.Annotations[k] = v
	}
	n.Status = computeNodeStatus(a.nodeStatusInput(ctx), corev1.NodeStatus{}, a.cfg.Clock.Now())
	return n
}

// waitPodCIDR reads the Node until it has a pod CIDR (passed on by
// observeNode) or ctx ends.
func (a *Agent) waitPodCIDR(ctx context.Context) {
	ticker := a.cfg.Clock.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for {
		a.node.mu.Lock()
		known := a.node.podCIDR != ""
		a.node.mu.Unlock()
		if known {
			return
		}
		if n, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{ResourceVersion: "0"}); err == nil {
			a.observeNode(ctx, n, false)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

// runNodeStatus recomputes the node status every update period and writes
// it when it changed, or when the report period passed without a write.
// While the runtime is not ready (CNI not configured yet) it looks every
// second, so that the node turns Ready soon after its network does.
func (a *Agent) runNodeStatus(ctx context.Context) {
	for {
		ready, err := a.syncNodeStatus(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("Updating node status failed", "err", err)
		}
		a.backOff.GC()
		wait := a.cfg.NodeStatusUpdateFrequency
		if !ready && wait > time.Second {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.Clock.After(wait):
		}
	}
}

// syncNodeStatus reports whether the status it computed says Ready.
func (a *Agent) syncNodeStatus(ctx context.Context) (bool, error) {
	nodes := a.cfg.Client.CoreV1().Nodes()
	// Read from the API server's cache, as the kubelet does: the status
	// is computed, not read-modify-written.
	n, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{ResourceVersion: "0"})
	if apierrors.IsNotFound(err) {
		// Someone deleted the Node under a live agent: register again.
		// (The kubelet does not; a simulated cluster is easier to use
		// when it does.)
		return false, a.tryRegister(ctx)
	}
	if err != nil {
		return false, fmt.Errorf("reading node: %w", err)
	}
	a.observeNode(ctx, n, false)
	now := a.cfg.Clock.Now()
	in := a.nodeStatusInput(ctx)
	desired := computeNodeStatus(in, n.Status, now)
	a.node.mu.Lock()
	due := now.Sub(a.node.lastReport) >= a.cfg.NodeStatusReportFrequency
	a.node.mu.Unlock()
	ready := in.notReady == ""
	if !due && !nodeStatusChanged(&n.Status, &desired) {
		return ready, nil
	}
	n = n.DeepCopy()
	n.Status = desired
	if _, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		// A conflict means the cached read was stale; the next period
		// reads again.
		return ready, fmt.Errorf("writing node status: %w", err)
	}
	a.node.mu.Lock()
	a.node.lastReport = now
	a.node.mu.Unlock()
	return ready, nil
}

// nodeStatusInput is the static part of the node status.
type nodeStatusInput struct {
	name        string
	capacity    corev1.ResourceList
	allocatable corev1.ResourceList
	addresses   []corev1.NodeAddress
	info        corev1.NodeSystemInfo
	kubeletPort int32
	// notReady is why the runtime cannot run pods; "" when it can.
	notReady string
}

func (a *Agent) nodeStatusInput(ctx context.Context) nodeStatusInput {
	info := a.cfg.Node.SystemInfo
	info.KubeletVersion = version.Info().GitVersion
	info.ContainerRuntimeVersion = a.runtimeName + "://" + a.runtimeVersion
	info.OperatingSystem = goruntime.GOOS
	info.Architecture = goruntime.GOARCH
	return nodeStatusInput{
		name:        a.cfg.NodeName,
		capacity:    a.cfg.Node.Capacity,
		allocatable: a.cfg.Node.Allocatable,
		addresses:   a.cfg.Node.Addresses,
		info:        info,
		kubeletPort: a.cfg.Node.KubeletPort,
		notReady:    a.runtimeProblem(ctx),
	}
}

// computeNodeStatus is the node status the agent reports: its resources,
// addresses, system info, and the four kubelet conditions with now as
// their heartbeat. A condition keeps its lastTransitionTime while its
// status does not change. It is a pure function.
func computeNodeStatus(in nodeStatusInput, old corev1.NodeStatus, now time.Time) corev1.NodeStatus {
	s := corev1.NodeStatus{
		Capacity:        in.capacity.DeepCopy(),
		Allocatable:     in.allocatable.DeepCopy(),
		Phase:           old.Phase,
		NodeInfo:        in.info,
		Images:          old.Images,
		VolumesInUse:    old.VolumesInUse,
		VolumesAttached: old.VolumesAttached,
	}
	if s.Allocatable == nil {
		s.Allocatable = s.Capacity.DeepCopy()
	}
	s.Addresses = append(s.Addresses, in.addresses...)
	hasHostname := false
	for _, a := range s.Addresses {
		hasHostname = hasHostname || a.Type == corev1.NodeHostName
	}
	if !hasHostname {
		s.Addresses = append(s.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: in.name})
	}
	if in.kubeletPort > 0 {
		s.DaemonEndpoints.KubeletEndpoint.Port = in.kubeletPort
	}
	heartbeat := metav1.NewTime(now).Rfc3339Copy()
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: ReasonKubeletReady, Message: messageKubeletReady}
	if in.notReady != "" {
		ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, ReasonKubeletNotReady, in.notReady
	}
	for _, c := range []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: ReasonKubeletHasSufficientMem, Message: messageKubeletHasSufficientMem},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: ReasonKubeletHasNoDiskPressure, Message: messageKubeletHasNoDiskPressure},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: ReasonKubeletHasSufficientPID, Message: messageKubeletHasSufficientPID},
		ready,
	} {
		c.LastHeartbeatTime = heartbeat
		c.LastTransitionTime = heartbeat
		for _, prev := range old.Conditions {
			if prev.Type == c.Type && prev.Status == c.Status && !prev.LastTransitionTime.IsZero() {
				c.LastTransitionTime = prev.LastTransitionTime
			}
		}
		s.Conditions = append(s.Conditions, c)
	}
	return s
}

// nodeStatusChanged compares two node statuses ignoring heartbeat times,
// as the kubelet does to decide whether a write is needed before the
// report period ends.
func nodeStatusChanged(old, cur *corev1.NodeStatus) bool {
	strip := func(s *corev1.NodeStatus) *corev1.NodeStatus {
		c := s.DeepCopy()
		for i := range c.Conditions {
			c.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return c
	}
	return !apiequality.Semantic.DeepEqual(strip(old), strip(cur))
}
