package job

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/expectations"
	"github.com/skiff-sh/skiff/internal/controller/manager"
	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// controllerName is the Job's spec.managedBy value this controller owns,
// and the component its events report.
const (
	controllerName = "kubernetes.io/job-controller"
	component      = "job-controller"
)

var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Tunables, as upstream's defaults.
const (
	workers = 5
	// defaultBatchPeriod delays the sync a pod event causes, so a burst of
	// pod changes of one Job costs one sync and one status write.
	defaultBatchPeriod = time.Second
	// maxUncountedPods bounds status.uncountedTerminatedPods (about 20 KB
	// of UIDs) and the finalizer removals of one sync.
	maxUncountedPods = 500
	// maxPodChangesPerSync bounds the creates or deletes of one sync so a
	// huge Job does not starve the others.
	maxPodChangesPerSync = 500
)

// Controller runs Jobs: it creates their pods, counts how they end and
// writes the Job's status and terminal condition.
type Controller struct {
	client     kubernetes.Interface
	podControl podcontrol.PodControl
	recorder   record.EventRecorder
	clock      clock.WithTicker

	jobLister batchlisters.JobLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced

	// queue holds Job keys; orphanQueue holds keys of pods that carry the
	// tracking finalizer but no longer belong to a running Job.
	queue       workqueue.TypedRateLimitingInterface[string]
	orphanQueue workqueue.TypedRateLimitingInterface[string]

	expectations *expectations.Expectations
	finalizers   *finalizerExpectations
	backoff      *backoffStore

	batchPeriod time.Duration
	// backoffBase and backoffMax are the pod failure back-off parameters;
	// fields so tests can shorten them.
	backoffBase, backoffMax time.Duration
}

var _ manager.Runner = (*Controller)(nil)

// New builds the Job controller and registers its informers on
// cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	recorder := cc.Recorder(component)
	jobs := cc.Informers.Batch().V1().Jobs()
	pods := cc.Informers.Core().V1().Pods()
	c := &Controller{
		client:     cc.Client,
		podControl: podcontrol.PodControl{Client: cc.Client, Recorder: recorder},
		recorder:   recorder,
		clock:      cc.Clock,
		jobLister:  jobs.Lister(),
		podLister:  pods.Lister(),
		synced:     []cache.InformerSynced{jobs.Informer().HasSynced, pods.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: cc.Clock}),
		orphanQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job_orphan_pod", Clock: cc.Clock}),
		expectations: expectations.New(cc.Clock),
		finalizers:   newFinalizerExpectations(),
		backoff:      newBackoffStore(),
		batchPeriod:  defaultBatchPeriod,
		backoffBase:  podFailureBackoffBase,
		backoffMax:   podFailureBackoffMax,
	}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueue(obj, 0) },
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	}); err != nil {
		return nil, fmt.Errorf("job controller: adding Job event handler: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: func(obj any) { c.deletePod(obj, true) },
	}); err != nil {
		return nil, fmt.Errorf("job controller: adding Pod event handler: %w", err)
	}
	return c, nil
}

// Run waits for the caches, then syncs Jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	defer c.queue.ShutDown()
	defer c.orphanQueue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	logger.V(2).Info("Job controller started")
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.processNext(ctx, c.queue, c.sync) {
			}
		})
	}
	wg.Go(func() {
		for c.processNext(ctx, c.orphanQueue, c.syncOrphanPod) {
		}
	})
	<-ctx.Done()
	c.queue.ShutDown()
	c.orphanQueue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	err := sync(ctx, key)
	if err == nil {
		q.Forget(key)
		return true
	}
	// A conflict means the cache is behind a write; the informer event for
	// that write will bring the key back, so it is not worth a log line.
	if apierrors.IsConflict(err) {
		klog.FromContext(ctx).V(4).Info("Retrying after conflict", "key", key, "err", err)
	} else if ctx.Err() == nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing failed, will retry", "key", key)
	}
	q.AddRateLimited(key)
	return true
}

// enqueue adds a Job's key after delay.
func (c *Controller) enqueue(obj any, delay time.Duration) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("job controller: key of %T: %w", obj, err))
		return
	}
	c.queue.AddAfter(key, delay)
}

func (c *Controller) updateJob(oldObj, newObj any) {
	oldJob, cur := oldObj.(*batchv1.Job), newObj.(*batchv1.Job)
	// A spec change is acted on at once; status changes (mostly our own
	// writes) are batched like pod events.
	if cur.Generation == oldJob.Generation {
		c.enqueue(cur, c.batchPeriod)
	} else {
		c.enqueue(cur, 0)
	}
	if finishedCondition(cur) != nil {
		// Normally no finalizer is left once the Job is finished; this is
		// the backstop.
		c.releaseFinalizersOf(cur)
	}
	// A new or changed deadline needs a wake-up at its new time.
	if ads := cur.Spec.ActiveDeadlineSeconds; ads != nil && cur.Status.StartTime != nil {
		if old := oldJob.Spec.ActiveDeadlineSeconds; old == nil || *old != *ads {
			if left, ok := deadlineRemaining(cur, c.clock.Now()); ok {
				c.enqueue(cur, left)
			}
		}
	}
}

func (c *Controller) deleteJob(obj any) {
	c.enqueue(obj, 0)
	job, ok := obj.(*batchv1.Job)
	if !ok {
		tombstone, isTombstone := obj.(cache.DeletedFinalStateUnknown)
		if !isTombstone {
			return
		}
		if job, ok = tombstone.Obj.(*batchv1.Job); !ok {
			return
		}
	}
	c.releaseFinalizersOf(job)
}

// releaseFinalizersOf queues the pods of a deleted or finished Job that
// still carry the tracking finalizer, so they are not left undeletable.
func (c *Controller) releaseFinalizersOf(job *batchv1.Job) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return
	}
	pods, _ := c.podLister.Pods(job.Namespace).List(selector)
	for _, p := range pods {
		if metav1.IsControlledBy(p, job) && hasTrackingFinalizer(p) {
			c.enqueueOrphan(p)
		}
	}
}

func (c *Controller) enqueueOrphan(pod *corev1.Pod) {
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		c.orphanQueue.Add(key)
	}
}

// resolveControllerRef returns the Job a controller reference names, if it
// is still that Job (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	if ref.Kind != jobKind.Kind {
		return nil
	}
	job, err := c.jobLister.Jobs(namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return nil
	}
	return job
}

func jobKey(job *batchv1.Job) string { return job.Namespace + "/" + job.Name }

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (after a restart):
		// that is no creation to observe.
		c.deletePod(pod, false)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if job := c.resolveControllerRef(pod.Namespace, ref); job != nil {
			c.expectations.CreationObserved(jobKey(job))
			c.enqueue(job, c.batchPeriod)
		}
		return
	}
	if hasTrackingFinalizer(pod) {
		c.enqueueOrphan(pod)
	}
	// An orphan: Jobs that select it may want to adopt it.
	for _, job := range c.jobsSelecting(pod) {
		c.enqueue(job, c.batchPeriod)
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	oldPod, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if cur.ResourceVersion == oldPod.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil {
		// Act on the deletion now rather than when the kubelet is done.
		c.deletePod(cur, false)
		return
	}
	finalizerGone := !hasTrackingFinalizer(cur)
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	for _, ref := range []*metav1.OwnerReference{oldRef, curRef} {
		if ref == nil || (ref == oldRef && !refChanged) {
			continue
		}
		if job := c.resolveControllerRef(cur.Namespace, ref); job != nil {
			if finalizerGone {
				c.finalizers.observed(jobKey(job), string(cur.UID))
			}
			c.enqueue(job, c.batchPeriod)
		}
	}
	if curRef != nil {
		return
	}
	if hasTrackingFinalizer(cur) {
		c.enqueueOrphan(cur)
	}
	if refChanged || !reflect.DeepEqual(cur.Labels, oldPod.Labels) {
		for _, job := range c.jobsSelecting(cur) {
			c.enqueue(job, c.batchPeriod)
		}
	}
}

// deletePod handles a pod deleted (final) or marked for deletion.
func (c *Controller) deletePod(obj any, final bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tombstone, isTombstone := obj.(cache.DeletedFinalStateUnknown)
		if !isTombstone {
			return
		}
		if pod, ok = tombstone.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOf(pod)
	var job *batchv1.Job
	if ref != nil {
		job = c.resolveControllerRef(pod.Namespace, ref)
	}
	if job == nil || finishedCondition(job) != nil {
		// No running Job will remove the finalizer of this pod.
		if !final && hasTrackingFinalizer(pod) {
			c.enqueueOrphan(pod)
		}
		return
	}
	key := jobKey(job)
	c.expectations.DeletionObserved(key, podKey(pod))
	if final || !hasTrackingFinalizer(pod) {
		c.finalizers.observed(key, string(pod.UID))
	}
	c.enqueue(job, c.batchPeriod)
}

// jobsSelecting lists the Jobs whose selector matches an orphan pod.
func (c *Controller) jobsSelecting(pod *corev1.Pod) []*batchv1.Job {
	jobs, err := c.jobLister.GetPodJobs(pod)
	if err != nil {
		return nil
	}
	out := make([]*batchv1.Job, 0, len(jobs))
	for i := range jobs {
		out = append(out, &jobs[i])
	}
	return out
}
