package simulated

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/agent"
)

// RuntimeName and RuntimeVersion are what a simulated node reports as its
// container runtime ("simulated://1.0").
const (
	RuntimeName    = "simulated"
	RuntimeVersion = "1.0"
)

// Clock is the time source the runtime needs: now, and timers for
// containers that exit on their own.
type Clock interface {
	clock.WithTicker
	AfterFunc(d time.Duration, f func()) clock.Timer
}

// Options configure one node's simulated runtime.
type Options struct {
	// NodeIP is the node's address; host-network pods get it.
	NodeIP string
	// PodCIDR is where pod IPs come from until the control plane assigns
	// the node a pod CIDR (UpdatePodCIDR).
	PodCIDR string
	// Clock defaults to the real one.
	Clock Clock
}

// Runtime is an in-memory container runtime: sandboxes get IPs, containers
// run, exit and restart on a clock, and nothing is executed. Pod
// annotations script what containers do (see the package documentation).
type Runtime struct {
	clock  Clock
	nodeIP string

	mu         sync.Mutex // guards everything below
	ipam       *ipam
	sandboxes  map[string]*sandbox
	containers map[string]*container
	// byPod indexes sandbox and container IDs by pod UID.
	byPod    map[types.UID]*podIndex
	handlers map[int]func(agent.ContainerEvent)
	nextID   int
}

var _ agent.Runtime = (*Runtime)(nil)
var _ agent.Restorer = (*Runtime)(nil)

type podIndex struct {
	sandboxes  []string
	containers []string
}

type sandbox struct {
	status      agent.SandboxStatus
	annotations map[string]string
	hostNetwork bool
}

type container struct {
	status    agent.ContainerStatus // State and times are derived in view
	behaviour behaviour
	started   bool
	// stoppedAt is set when the agent stopped a running container.
	stoppedAt time.Time
	timer     clock.Timer
}

// New returns an empty simulated runtime.
func New(opts Options) (*Runtime, error) {
	if _, err := netip.ParseAddr(opts.NodeIP); err != nil {
		return nil, fmt.Errorf("simulated runtime: node IP %q: %w", opts.NodeIP, err)
	}
	pool, err := newIPAM(opts.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("simulated runtime: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Runtime{
		clock:      opts.Clock,
		nodeIP:     opts.NodeIP,
		ipam:       pool,
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*container{},
		byPod:      map[types.UID]*podIndex{},
		handlers:   map[int]func(agent.ContainerEvent){},
	}, nil
}

func (r *Runtime) Version(context.Context) (agent.RuntimeVersion, error) {
	return agent.RuntimeVersion{Name: RuntimeName, Version: RuntimeVersion}, nil
}

func (r *Runtime) UpdatePodCIDR(_ context.Context, cidr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ipam.setPrefix(cidr)
}

// ImageStatus reports every image present: a simulated node has them
// all, so pods with pull policy IfNotPresent or Never never pull.
func (r *Runtime) ImageStatus(_ context.Context, image string) (string, bool, error) {
	if image == "" {
		return "", false, fmt.Errorf("no image given")
	}
	return imageRef(image), true, nil
}

// PullImage "pulls" at once; the reference's digest is derived from the
// image name, so the same image always has the same imageID. A pod
// annotated AnnotationPullError fails every pull with that message.
func (r *Runtime) PullImage(_ context.Context, image string, _ *agent.ImageAuth, sb *agent.SandboxConfig) (string, error) {
	if image == "" {
		return "", fmt.Errorf("no image given")
	}
	if sb != nil {
		if msg, ok := sb.Annotations[AnnotationPullError]; ok {
			return "", fmt.Errorf("pulling %s: %s", image, msg)
		}
	}
	return imageRef(image), nil
}

func (r *Runtime) RunPodSandbox(_ context.Context, cfg *agent.SandboxConfig) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := deriveID("sandbox", cfg.PodUID, "", cfg.Attempt)
	if _, exists := r.sandboxes[id]; exists {
		return "", fmt.Errorf("sandbox %s of pod %s attempt %d already exists", id, cfg.PodUID, cfg.Attempt)
	}
	sb := &sandbox{
		status: agent.SandboxStatus{
			ID: id, PodUID: cfg.PodUID, PodName: cfg.PodName, PodNamespace: cfg.PodNamespace,
			Attempt: cfg.Attempt, State: agent.SandboxReady, CreatedAt: r.clock.Now(),
		},
		annotations: cfg.Annotations,
		hostNetwork: cfg.HostNetwork,
	}
	if cfg.HostNetwork {
		sb.status.IPs = []string{r.nodeIP}
	} else {
		ip, err := r.ipam.allocate(cfg.PodUID)
		if err != nil {
			return "", err
		}
		sb.status.IPs = []string{ip.String()}
	}
	r.sandboxes[id] = sb
	r.index(cfg.PodUID).sandboxes = append(r.index(cfg.PodUID).sandboxes, id)
	return id, nil
}

func (r *Runtime) StopPodSandbox(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[id]
	if !ok || sb.status.State == agent.SandboxNotReady {
		return nil
	}
	now := r.clock.Now()
	for _, cid := range r.byPod[sb.status.PodUID].containers {
		if c := r.containers[cid]; c.status.SandboxID == id {
			r.unsafeStop(c, now)
		}
	}
	sb.status.State = agent.SandboxNotReady
	if !sb.hostNetwork {
		for _, ip := range sb.status.IPs {
			if addr, err := netip.ParseAddr(ip); err == nil {
				r.ipam.release(addr)
			}
		}
	}
	sb.status.IPs = nil
	return nil
}

func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	if err := r.StopPodSandbox(ctx, id); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[id]
	if !ok {
		return nil
	}
	idx := r.byPod[sb.status.PodUID]
	for _, cid := range idx.containers {
		if r.containers[cid].status.SandboxID == id {
			r.unsafeRemoveContainer(cid)
		}
	}
	delete(r.sandboxes, id)
	idx.sandboxes = without(idx.sandboxes, id)
	r.unsafeDropIndexIfEmpty(sb.status.PodUID)
	return nil
}

func (r *Runtime) ListPodSandboxes(_ context.Context, f agent.SandboxFilter) ([]agent.SandboxStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []agent.SandboxStatus
	add := func(id string) {
		s := r.sandboxes[id].status
		s.IPs = append([]string(nil), s.IPs...)
		out = append(out, s)
	}
	if f.PodUID != "" {
		if idx := r.byPod[f.PodUID]; idx != nil {
			for _, id := range idx.sandboxes {
				add(id)
			}
		}
		return out, nil
	}
	for id := range r.sandboxes {
		add(id)
	}
	return out, nil
}

func (r *Runtime) CreateContainer(_ context.Context, sandboxID string, cfg *agent.ContainerConfig) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[sandboxID]
	if !ok || sb.status.State != agent.SandboxReady {
		return "", fmt.Errorf("sandbox %s is not ready", sandboxID)
	}
	uid := sb.status.PodUID
	id := deriveID("container", uid, cfg.Name, cfg.Attempt)
	if _, exists := r.containers[id]; exists {
		return "", fmt.Errorf("container %s (%s attempt %d) already exists", id, cfg.Name, cfg.Attempt)
	}
	regularInit := cfg.Init && !cfg.Sidecar
	r.containers[id] = &container{
		status: agent.ContainerStatus{
			ID: id, SandboxID: sandboxID, PodUID: uid, Name: cfg.Name, Attempt: cfg.Attempt,
			Image: cfg.Image, ImageRef: cfg.ImageRef, State: agent.ContainerCreated, CreatedAt: r.clock.Now(),
		},
		behaviour: behaviourFor(sb.annotations, cfg.Name, regularInit),
	}
	r.index(uid).containers = append(r.index(uid).containers, id)
	return id, nil
}

func (r *Runtime) StartContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("container %s not found", id)
	}
	if c.started {
		return fmt.Errorf("container %s was already started", id)
	}
	c.started = true
	c.status.StartedAt = r.clock.Now()
	r.unsafeScheduleExit(c)
	return nil
}

// unsafeScheduleExit arranges for the agent to hear of a container's own
// exit. The state itself is derived from the clock when read, so the
// timer only notifies.
func (r *Runtime) unsafeScheduleExit(c *container) {
	if c.behaviour.runFor < 0 {
		return
	}
	ev := agent.ContainerEvent{PodUID: c.status.PodUID, ContainerID: c.status.ID, State: agent.ContainerExited}
	remaining := c.status.StartedAt.Add(c.behaviour.runFor).Sub(r.clock.Now())
	c.timer = r.clock.AfterFunc(max(remaining, 0), func() { r.notify(ev) })
}

func (r *Runtime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.containers[id]; ok {
		r.unsafeStop(c, r.clock.Now())
	}
	return nil
}

// unsafeStop stops a running container at once, whatever the grace
// period: a simulated process has nothing to clean up. It exits with code
// 0, as a process that handles SIGTERM does.
func (r *Runtime) unsafeStop(c *container, now time.Time) {
	if r.view(c, now).State != agent.ContainerRunning {
		return
	}
	c.stoppedAt = now
	if c.timer != nil {
		c.timer.Stop()
	}
}

func (r *Runtime) RemoveContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil
	}
	if r.view(c, r.clock.Now()).State == agent.ContainerRunning {
		return fmt.Errorf("container %s is running", id)
	}
	r.unsafeRemoveContainer(id)
	r.unsafeDropIndexIfEmpty(c.status.PodUID)
	return nil
}

func (r *Runtime) unsafeRemoveContainer(id string) {
	c := r.containers[id]
	if c.timer != nil {
		c.timer.Stop()
	}
	delete(r.containers, id)
	if idx := r.byPod[c.status.PodUID]; idx != nil {
		idx.containers = without(idx.containers, id)
	}
}

func (r *Runtime) ListContainers(_ context.Context, f agent.ContainerFilter) ([]agent.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	var out []agent.ContainerStatus
	add := func(id string) {
		c := r.containers[id]
		if f.SandboxID == "" || c.status.SandboxID == f.SandboxID {
			out = append(out, r.view(c, now))
		}
	}
	if f.PodUID != "" {
		if idx := r.byPod[f.PodUID]; idx != nil {
			for _, id := range idx.containers {
				add(id)
			}
		}
		return out, nil
	}
	for id := range r.containers {
		add(id)
	}
	return out, nil
}

// view is a container's status at now: running from its start until its
// scripted exit or until it was stopped, whichever came first.
func (r *Runtime) view(c *container, now time.Time) agent.ContainerStatus {
	s := c.status
	if !c.started {
		return s
	}
	s.State = agent.ContainerRunning
	exitAt := time.Time{}
	if c.behaviour.runFor >= 0 {
		exitAt = s.StartedAt.Add(c.behaviour.runFor)
	}
	switch {
	case !c.stoppedAt.IsZero() && (exitAt.IsZero() || c.stoppedAt.Before(exitAt)):
		s.State, s.FinishedAt, s.ExitCode, s.Reason = agent.ContainerExited, c.stoppedAt, 0, "Completed"
	case !exitAt.IsZero() && !now.Before(exitAt):
		s.State, s.FinishedAt, s.ExitCode = agent.ContainerExited, exitAt, c.behaviour.exitCode
		s.Reason = "Completed"
		if s.ExitCode != 0 {
			s.Reason = "Error"
		}
	}
	return s
}

// Close stops the timers of containers still scripted to exit; the
// runtime must not be used afterwards.
func (r *Runtime) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.containers {
		if c.timer != nil {
			c.timer.Stop()
		}
	}
}

func (r *Runtime) WatchEvents(ctx context.Context, handle func(agent.ContainerEvent)) error {
	r.mu.Lock()
	id := r.nextID
	r.nextID++
	r.handlers[id] = handle
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	delete(r.handlers, id)
	r.mu.Unlock()
	return nil
}

func (r *Runtime) notify(ev agent.ContainerEvent) {
	r.mu.Lock()
	handlers := make([]func(agent.ContainerEvent), 0, len(r.handlers))
	for _, h := range r.handlers {
		handlers = append(handlers, h)
	}
	r.mu.Unlock()
	for _, h := range handlers {
		h(ev)
	}
}

func (r *Runtime) index(uid types.UID) *podIndex {
	idx := r.byPod[uid]
	if idx == nil {
		idx = &podIndex{}
		r.byPod[uid] = idx
	}
	return idx
}

func (r *Runtime) unsafeDropIndexIfEmpty(uid types.UID) {
	if idx := r.byPod[uid]; idx != nil && len(idx.sandboxes) == 0 && len(idx.containers) == 0 {
		delete(r.byPod, uid)
	}
}

func without(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// deriveID is a 64-hex-digit ID (like containerd's) that depends only on
// the pod UID, container name and attempt: a restarted agent that
// restores a pod's containers gets the same IDs.
func deriveID(kind string, uid types.UID, name string, attempt uint32) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%s/%d", kind, uid, name, attempt)))
	return hex.EncodeToString(sum[:])
}

// imageRef is "repository@sha256:digest" for a normalized image name, the
// digest derived from the name.
func imageRef(image string) string {
	name := normalizeImage(image)
	repo := name
	if i := strings.LastIndex(name, "@"); i >= 0 {
		return name // already pinned by digest
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		repo = name[:i]
	}
	sum := sha256.Sum256([]byte(name))
	return repo + "@sha256:" + hex.EncodeToString(sum[:])
}

// normalizeImage expands a short image name as container runtimes do:
// "nginx" is "docker.io/library/nginx:latest".
func normalizeImage(image string) string {
	name := image
	first, _, hasSlash := strings.Cut(name, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if !hasSlash {
			name = "library/" + name
		}
		name = "docker.io/" + name
	}
	last := name[strings.LastIndex(name, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(last, "@") {
		name += ":latest"
	}
	return name
}
