package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
)

// Agent runs the pods bound to one node through a Runtime and keeps the
// node's registration, heartbeat and status. Build it with New and run it
// with Run.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	runtime Runtime
	pods    *PodWatch
	// ownPods is set when the agent runs its pod watch itself.
	ownPods bool
	// queue holds the UIDs of pods to sync; a UID is never synced by two
	// workers at once.
	queue   workqueue.TypedRateLimitingInterface[types.UID]
	backOff *flowcontrol.Backoff
	hostIPs []string

	// runtimeName prefixes container IDs; set once by Run before any
	// worker starts.
	runtimeName    string
	runtimeVersion string

	mu sync.Mutex // guards the maps below
	// written is the status the agent last wrote per pod, kept until the
	// pod cache catches up with the write.
	written map[types.UID]writtenStatus
	// startErrors are why a container could not start (image pull,
	// create, start), reported as its waiting reason, by backOffKey.
	startErrors map[string]*corev1.ContainerStateWaiting
	// deleted are the pods the agent has deleted (with grace period 0)
	// and that are still in the cache, held by finalizers.
	deleted map[types.UID]bool
	// postStartCancels interrupt the postStart hook a pod's sync waits
	// on, once the pod is deleted (hooks_lifecycle.go).
	postStartCancels map[types.UID]context.CancelFunc

	node nodeState
	// ready is closed once the node is registered and its pods are being
	// synced.
	ready chan struct{}
}

// writtenStatus is a status write: the resourceVersion the pod cache held
// when it was made and the one it produced.
type writtenStatus struct {
	basedOn         string
	resourceVersion string
	status          corev1.PodStatus
}

// New builds an agent.
func New(cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:              cfg,
		log:              cfg.Log,
		runtime:          cfg.Runtime,
		pods:             cfg.Pods,
		backOff:          flowcontrol.NewFakeBackOff(cfg.BackOffInitial, cfg.BackOffMax, cfg.Clock),
		written:          map[types.UID]writtenStatus{},
		startErrors:      map[string]*corev1.ContainerStateWaiting{},
		deleted:          map[types.UID]bool{},
		postStartCancels: map[types.UID]context.CancelFunc{},
		ready:            make(chan struct{}),
	}
	if a.pods == nil {
		a.pods, a.ownPods = NewPodWatch(cfg.Client, cfg.NodeName), true
	}
	for _, addr := range cfg.Node.Addresses {
		if addr.Type == corev1.NodeInternalIP {
			a.hostIPs = append(a.hostIPs, addr.Address)
		}
	}
	if len(a.hostIPs) == 0 {
		return nil, fmt.Errorf("agent %s: Node.Addresses has no InternalIP", cfg.NodeName)
	}
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](5*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[types.UID]{Clock: cfg.Clock})
	return a, nil
}

// Run registers the node, keeps its Lease and status fresh and runs its
// pods until ctx ends. Ending ctx looks like the node dying: the agent
// stops heartbeating and writes nothing on the way out, so the control
// plane notices through the Lease, as it would a crashed node.
func (a *Agent) Run(ctx context.Context) error {
	// On return: stop the workers, end every goroutine, wait for them.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer a.queue.ShutDown()

	v, err := a.runtime.Version(ctx)
	if err != nil {
		return fmt.Errorf("agent %s: container runtime: %w", a.cfg.NodeName, err)
	}
	a.runtimeName, a.runtimeVersion = v.Name, v.Version
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	goRun := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	goRun(a.runLease)
	goRun(a.runNodeStatus)
	if pm, ok := a.cfg.Prober.(ProbeManager); ok {
		goRun(func(ctx context.Context) { pm.Run(ctx, a.Resync) })
	}
	if a.cfg.WaitPodCIDR {
		goRun(a.waitPodCIDR)
	}

	unsubscribe := a.pods.subscribe(a.cfg.NodeName, a.enqueue)
	defer unsubscribe()
	if a.ownPods {
		goRun(a.pods.Run)
	}
	goRun(func(ctx context.Context) {
		if err := a.runtime.WatchEvents(ctx, func(ev ContainerEvent) { a.enqueue(ev.PodUID) }); err != nil && ctx.Err() == nil {
			a.log.Error("Watching container runtime events failed", "err", err)
		}
	})
	if !cache.WaitForCacheSync(ctx.Done(), a.pods.HasSynced) {
		return nil // ctx ended
	}
	if err := a.adopt(ctx); err != nil {
		return err
	}
	for range a.cfg.Workers {
		goRun(func(ctx context.Context) {
			for a.processNext(ctx) {
			}
		})
	}
	a.log.Debug("Node agent running", "runtime", a.runtimeName+"://"+a.runtimeVersion)
	close(a.ready)
	<-ctx.Done()
	return nil
}

// adopt takes over what a previous run of the agent left: the pods bound
// to this node (handed to a Restorer runtime first, so running pods keep
// running) and any sandbox or volume directory whose pod is gone, which
// the sync removes.
func (a *Agent) adopt(ctx context.Context) error {
	pods := a.pods.list(a.cfg.NodeName)
	if r, ok := a.runtime.(Restorer); ok {
		if err := r.Restore(ctx, pods); err != nil {
			return fmt.Errorf("agent %s: restoring runtime state: %w", a.cfg.NodeName, err)
		}
	}
	for _, pod := range pods {
		a.enqueue(pod.UID)
	}
	sandboxes, err := a.runtime.ListPodSandboxes(ctx, SandboxFilter{})
	if err != nil {
		return fmt.Errorf("agent %s: listing sandboxes: %w", a.cfg.NodeName, err)
	}
	for _, sb := range sandboxes {
		a.enqueue(sb.PodUID)
	}
	if a.cfg.Volumes != nil {
		uids, err := a.cfg.Volumes.PodUIDs()
		if err != nil {
			return fmt.Errorf("agent %s: listing pod volumes: %w", a.cfg.NodeName, err)
		}
		for _, uid := range uids {
			a.enqueue(uid)
		}
	}
	return nil
}

// Ready is closed once the node is registered, its Lease is being renewed
// and its pods are being synced.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

func (a *Agent) enqueue(uid types.UID) {
	a.interruptPostStart(uid)
	a.queue.Add(uid)
}

// Resync asks for a pod to be synced now, for probers whose results
// change asynchronously.
func (a *Agent) Resync(uid types.UID) { a.enqueue(uid) }

func (a *Agent) processNext(ctx context.Context) bool {
	uid, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(uid)
	after, err := a.syncPod(ctx, uid)
	switch {
	case err != nil && ctx.Err() != nil:
		return false
	case err != nil:
		a.log.Debug("Pod sync failed; retrying", "podUID", uid, "err", err)
		a.queue.AddRateLimited(uid)
		return true
	}
	a.queue.Forget(uid)
	if after > 0 {
		a.queue.AddAfter(uid, after)
	}
	return true
}

// nextSync is when a pod should be synced again without an event: the
// soonest of the given delays and the periodic resync (with 10% jitter, so
// thousands of pods adopted at once do not resync in lockstep).
func (a *Agent) nextSync(delays ...time.Duration) time.Duration {
	next := wait.Jitter(a.cfg.ResyncInterval, 0.1)
	for _, d := range delays {
		if d > 0 && d < next {
			next = d
		}
	}
	return next
}
