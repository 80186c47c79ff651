package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Name is the scheduler name pods ask for (spec.schedulerName) and the
// component its events report.
const Name = corev1.DefaultSchedulerName

// Event reasons, as upstream's scheduler reports them.
const (
	ReasonScheduled        = "Scheduled"
	ReasonFailedScheduling = "FailedScheduling"
)

const (
	// bindWorkers bind pods (and write unschedulable conditions) in
	// parallel, so API latency does not hold up the scheduling loop;
	// upstream runs a goroutine per binding.
	defaultBindWorkers = 32
	// jobBuffer lets the loop run ahead of the binders by this many pods.
	jobBuffer = 256
)

// Scheduler assigns pending pods to nodes. Build it with New, run it with
// Run.
type Scheduler struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker
	logger   klog.Logger

	podLister corelisters.PodLister
	nsLister  corelisters.NamespaceLister
	synced    []toolscache.InformerSynced

	cache       *schedCache
	queue       *schedulingQueue
	jobs        chan job
	bindWorkers int
	latency     latencyRecorder

	// Owned by the scheduling loop (one goroutine).
	nextStartNodeIndex int
	feasibleBuf        []*nodeInfo
	rawBuf, totalBuf   []int64
	rand               *rand.Rand
}

// New builds the scheduler and registers its informers (pods, nodes,
// namespaces) on cc.Informers; the caller starts the factory.
func New(cc controller.Context) (*Scheduler, error) {
	if cc.Client == nil || cc.Informers == nil || cc.Recorder == nil || cc.Clock == nil {
		return nil, fmt.Errorf("scheduler: incomplete controller context")
	}
	pods := cc.Informers.Core().V1().Pods()
	nodes := cc.Informers.Core().V1().Nodes()
	namespaces := cc.Informers.Core().V1().Namespaces()
	s := &Scheduler{
		client:      cc.Client,
		recorder:    cc.Recorder(Name),
		clock:       cc.Clock,
		logger:      klog.Background().WithName("scheduler"),
		podLister:   pods.Lister(),
		nsLister:    namespaces.Lister(),
		synced:      []toolscache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced, namespaces.Informer().HasSynced},
		cache:       newSchedCache(),
		queue:       newSchedulingQueue(cc.Clock),
		jobs:        make(chan job, jobBuffer),
		bindWorkers: defaultBindWorkers,
		rand:        rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	if _, err := pods.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPodAdd,
		UpdateFunc: s.onPodUpdate,
		DeleteFunc: s.onPodDelete,
	}); err != nil {
		return nil, fmt.Errorf("scheduler: pod handler: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    s.onNodeAdd,
		UpdateFunc: s.onNodeUpdate,
		DeleteFunc: s.onNodeDelete,
	}); err != nil {
		return nil, fmt.Errorf("scheduler: node handler: %w", err)
	}
	return s, nil
}

// Run waits for the informers, then schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer s.queue.close()
	if !toolscache.WaitForNamedCacheSync("scheduler", ctx.Done(), s.synced...) {
		return fmt.Errorf("scheduler: informer caches did not sync: %w", ctx.Err())
	}
	s.logger.V(2).Info("Starting scheduler", "bindWorkers", s.bindWorkers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.queue.runTimers()
	}()
	for i := 0; i < s.bindWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runJobs(ctx)
		}()
	}
	go func() {
		<-ctx.Done()
		s.queue.close() // wakes the loop blocked in pop
	}()
	for s.scheduleOne(ctx) {
	}
	return nil
}

// scheduleOne takes one pod from the queue and decides where it goes. It
// returns false when the queue is closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	at, ok := s.queue.pop()
	if !ok {
		return false
	}
	pod := s.pendingPod(at)
	if pod == nil {
		s.queue.done(at.key, at.uid)
		return true
	}
	st, err := newCycleState(pod, s.nsLister)
	if err != nil {
		s.fail(at, pod, err, 0, false)
		return true
	}
	s.cache.mu.Lock()
	node, fitErr := s.unsafeSchedule(st)
	if node != nil {
		// Assume before binding: the next decision already sees this pod
		// on the node, though the API server has not been told yet.
		s.cache.unsafeAssume(st.pi, node)
	}
	s.cache.mu.Unlock()
	if fitErr != nil {
		s.fail(at, pod, fitErr, fitErr.plugins, true)
		return true
	}
	select {
	case s.jobs <- job{bind: true, at: at, pod: pod, node: node.name}:
	case <-ctx.Done():
		return false
	}
	return true
}

// pendingPod returns the pod the attempt is for if it still needs
// scheduling by us.
func (s *Scheduler) pendingPod(at attempt) *corev1.Pod {
	ns, name, err := toolscache.SplitMetaNamespaceKey(at.key)
	if err != nil {
		return nil
	}
	pod, err := s.podLister.Pods(ns).Get(name)
	if err != nil || pod.UID != at.uid || !responsibleFor(pod) || s.cache.placed(pod.UID) {
		return nil
	}
	return pod
}

// fail records a failed attempt: the queue decides when to retry, the pod
// gets a FailedScheduling event and (asynchronously) its PodScheduled
// condition.
func (s *Scheduler) fail(at attempt, pod *corev1.Pod, err error, plugins pluginSet, unschedulable bool) {
	s.latency.failed(unschedulable)
	s.queue.failed(at.key, at.uid, plugins, unschedulable)
	reason := corev1.PodReasonSchedulerError
	if unschedulable {
		reason = corev1.PodReasonUnschedulable
	}
	msg := err.Error()
	s.logger.V(3).Info("Unable to schedule pod", "pod", klog.KObj(pod), "reason", reason, "message", msg)
	s.recorder.Event(pod, corev1.EventTypeWarning, ReasonFailedScheduling, msg)
	select {
	case s.jobs <- job{at: at, pod: pod, reason: reason, message: msg}:
	default:
		// The binders are saturated; the condition is informational and the
		// next failure will write it, so binding keeps priority.
	}
}

// responsibleFor says whether a pod is pending and ours: not bound, asking
// for the default scheduler, not being deleted, not finished, not gated.
func responsibleFor(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" &&
		(pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == Name) &&
		pod.DeletionTimestamp == nil && !isTerminal(pod) && len(pod.Spec.SchedulingGates) == 0
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func podPriority(pod *corev1.Pod) int32 { return corev1helpers.PodPriority(pod) }

// isNotFoundOrGone says whether an API error means the pod no longer
// exists or can no longer be scheduled by us.
func isNotFoundOrGone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsGone(err)
}
