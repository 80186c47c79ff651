package prober

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/prober/action"
)

// Config configures a Manager.
type Config struct {
	// Execer runs exec probes (the CRI runtime); nil makes them fail to
	// run (Unknown, never counted).
	Execer action.Execer
	// Recorder receives the Unhealthy events; nil records none.
	Recorder record.EventRecorder
	// Clock drives the probe periods and initial delays; it must be the
	// agent's (whose clock stamps container start times).
	Clock clock.WithTicker
	Log   *slog.Logger
}

// Manager runs the probes of a node's containers; see the package doc.
type Manager struct {
	cfg Config
	wg  sync.WaitGroup // workers
	// active counts the workers running, for tests.
	active atomic.Int32

	mu sync.Mutex // guards everything below and every instance and worker
	// ctx and resync are set while Run runs; workers start only then.
	ctx    context.Context
	resync func(types.UID)
	pods   map[types.UID]*podProbes
}

var _ agent.ProbeManager = (*Manager)(nil)

// podProbes is what the manager knows of one pod.
type podProbes struct {
	pod        *corev1.Pod
	podIP      string
	containers map[string]*instance // by container name
}

// instance is one running container instance and its probes' verdicts.
type instance struct {
	pp        *podProbes
	spec      *corev1.Container
	id        string
	startedAt time.Time
	// started: the startup probe passed (or there is none); ready: the
	// readiness probe's verdict; kill: why it must be killed, once a
	// liveness or startup probe failed for good.
	started   bool
	ready     bool
	kill      string
	killGrace time.Duration
	workers   []*worker
	// stop is closed when the instance is dropped: it stopped running,
	// its pod went away or the manager stopped.
	stop    chan struct{}
	running bool // its workers' goroutines were started
}

// New builds a Manager; the agent runs it (agent.ProbeManager).
func New(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Manager{cfg: cfg, pods: map[types.UID]*podProbes{}}
}

// Run implements agent.ProbeManager: it starts the workers of the
// containers already reported and stops them all when ctx ends.
func (m *Manager) Run(ctx context.Context, resync func(types.UID)) {
	m.mu.Lock()
	m.ctx, m.resync = ctx, resync
	for _, pp := range m.pods {
		for _, inst := range pp.containers {
			m.startLocked(inst)
		}
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	for uid := range m.pods {
		m.removeLocked(uid)
	}
	m.ctx, m.resync = nil, nil
	m.mu.Unlock()
	m.wg.Wait()
}

// UpdatePod implements agent.ProbeManager.
func (m *Manager) UpdatePod(pod *corev1.Pod, podIP string, running []agent.ContainerStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pp := m.pods[pod.UID]
	if pp == nil {
		if len(running) == 0 {
			return
		}
		pp = &podProbes{containers: map[string]*instance{}}
		m.pods[pod.UID] = pp
	}
	pp.pod, pp.podIP = pod, podIP
	seen := map[string]bool{}
	for _, c := range running {
		spec := containerSpec(pod, c.Name)
		if spec == nil || c.State != agent.ContainerRunning {
			continue
		}
		seen[c.Name] = true
		if inst := pp.containers[c.Name]; inst != nil {
			if inst.id == c.ID {
				continue
			}
			dropLocked(inst)
		}
		inst := newInstance(pp, spec, c)
		pp.containers[c.Name] = inst
		m.startLocked(inst)
	}
	for name, inst := range pp.containers {
		if !seen[name] {
			dropLocked(inst)
			delete(pp.containers, name)
		}
	}
	if len(pp.containers) == 0 {
		delete(m.pods, pod.UID)
	}
}

// RemovePod implements agent.ProbeManager.
func (m *Manager) RemovePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(uid)
}

// Probe implements agent.Prober. A container instance the manager has
// not been told of yet gets the verdict of a new one: started unless it
// has a startup probe, ready only if it has neither startup nor
// readiness probe.
func (m *Manager) Probe(pod *corev1.Pod, c *corev1.Container, st agent.ContainerStatus, _ time.Time) agent.ProbeResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	var inst *instance
	if pp := m.pods[pod.UID]; pp != nil {
		inst = pp.containers[c.Name]
	}
	if inst == nil || inst.id != st.ID {
		started := c.StartupProbe == nil
		return agent.ProbeResult{Started: started, Ready: started && c.ReadinessProbe == nil}
	}
	return agent.ProbeResult{
		Started:         inst.started,
		Ready:           inst.started && (c.ReadinessProbe == nil || inst.ready),
		Kill:            inst.kill,
		KillGracePeriod: inst.killGrace,
	}
}

func newInstance(pp *podProbes, spec *corev1.Container, c agent.ContainerStatus) *instance {
	inst := &instance{
		pp: pp, spec: spec, id: c.ID, startedAt: c.StartedAt,
		started: spec.StartupProbe == nil,
		stop:    make(chan struct{}),
	}
	adoptVerdicts(inst, pp.pod)
	for k, p := range map[kind]*corev1.Probe{startup: spec.StartupProbe, readiness: spec.ReadinessProbe, liveness: spec.LivenessProbe} {
		if p != nil {
			inst.workers = append(inst.workers, &worker{inst: inst, kind: k, probe: withDefaults(p, k)})
		}
	}
	return inst
}

// adoptVerdicts starts an instance from what the pod's status says of
// it, when the status is about this very instance: after an agent restart
// a ready container stays ready (and endpoints keep it) until a probe
// says otherwise, rather than flipping unready until its first probe.
func adoptVerdicts(inst *instance, pod *corev1.Pod) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.Name != inst.spec.Name || !strings.HasSuffix(cs.ContainerID, "://"+inst.id) {
				continue
			}
			if cs.Started != nil && *cs.Started {
				inst.started = true
			}
			inst.ready = cs.Ready
		}
	}
}

// startLocked launches an instance's workers once Run has begun.
func (m *Manager) startLocked(inst *instance) {
	if m.ctx == nil || inst.running {
		return
	}
	inst.running = true
	ctx := m.ctx
	for _, w := range inst.workers {
		m.wg.Add(1)
		m.active.Add(1)
		go func() {
			defer m.wg.Done()
			defer m.active.Add(-1)
			w.run(ctx, m)
		}()
	}
}

func (m *Manager) removeLocked(uid types.UID) {
	if pp := m.pods[uid]; pp != nil {
		for _, inst := range pp.containers {
			dropLocked(inst)
		}
		delete(m.pods, uid)
	}
}

func dropLocked(inst *instance) {
	select {
	case <-inst.stop:
	default:
		close(inst.stop)
	}
}

func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
