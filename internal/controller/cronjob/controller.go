package cronjob

import (
	"context"
	"errors"
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
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/manager"
)

const (
	component = "cronjob-controller"
	workers   = 5
)

var cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller starts Jobs for CronJobs at their schedule times.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker

	cronJobLister batchlisters.CronJobLister
	jobLister     batchlisters.JobLister
	synced        []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
}

var _ manager.Runner = (*Controller)(nil)

// New builds the CronJob controller and registers its informers on
// cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	cronJobs := cc.Informers.Batch().V1().CronJobs()
	jobs := cc.Informers.Batch().V1().Jobs()
	c := &Controller{
		client:        cc.Client,
		recorder:      cc.Recorder(component),
		clock:         cc.Clock,
		cronJobLister: cronJobs.Lister(),
		jobLister:     jobs.Lister(),
		synced:        []cache.InformerSynced{cronJobs.Informer().HasSynced, jobs.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: cc.Clock}),
	}
	if _, err := cronJobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateCronJob,
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("cronjob controller: adding CronJob event handler: %w", err)
	}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.jobChanged,
		UpdateFunc: func(oldObj, newObj any) {
			oldJob, cur := oldObj.(*batchv1.Job), newObj.(*batchv1.Job)
			if oldJob.ResourceVersion == cur.ResourceVersion {
				return
			}
			if old, now := metav1.GetControllerOf(oldJob), metav1.GetControllerOf(cur); !reflect.DeepEqual(old, now) {
				c.jobChanged(oldJob)
			}
			c.jobChanged(cur)
		},
		DeleteFunc: c.jobChanged,
	}); err != nil {
		return nil, fmt.Errorf("cronjob controller: adding Job event handler: %w", err)
	}
	return c, nil
}

// Run waits for the caches, then syncs CronJobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	klog.FromContext(ctx).V(2).Info("CronJob controller started")
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

// processNext syncs one key; the sync says when the key is next due.
func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	requeueAfter, err := c.sync(ctx, key)
	switch {
	case err != nil:
		// A conflict or a stale cache resolves itself once the informer
		// catches up; only other errors are worth reporting.
		if apierrors.IsConflict(err) || errors.Is(err, errStaleCache) {
			klog.FromContext(ctx).V(4).Info("Retrying CronJob", "key", key, "err", err)
		} else if ctx.Err() == nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Syncing CronJob failed, will retry", "key", key)
		}
		c.queue.AddRateLimited(key)
	case requeueAfter != nil:
		c.queue.Forget(key)
		c.queue.AddAfter(key, *requeueAfter)
	default:
		c.queue.Forget(key)
	}
	return true
}

func (c *Controller) enqueue(obj any) {
	c.enqueueAfter(obj, 0)
}

func (c *Controller) enqueueAfter(obj any, d time.Duration) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("cronjob controller: key of %T: %w", obj, err))
		return
	}
	c.queue.AddAfter(key, d)
}

// updateCronJob: a new schedule or time zone moves the wake-up to its next
// time (an earlier one replaces the pending wake-up; a later one leaves a
// wake-up that finds nothing due); any other change is looked at now.
func (c *Controller) updateCronJob(oldObj, newObj any) {
	old, cur := oldObj.(*batchv1.CronJob), newObj.(*batchv1.CronJob)
	if old.Spec.Schedule == cur.Spec.Schedule && reflect.DeepEqual(old.Spec.TimeZone, cur.Spec.TimeZone) {
		c.enqueue(cur)
		return
	}
	sched, err := parseSchedule(cur)
	if err != nil {
		c.recorder.Eventf(cur, corev1.EventTypeWarning, reasonUnparseableUpdate, "unparseable schedule for cronjob: %s", cur.Spec.Schedule)
		return
	}
	if d, ok := nextWakeUp(cur, sched, c.clock.Now()); ok {
		c.enqueueAfter(cur, d)
	}
}

// jobChanged wakes the CronJob that controls a Job.
func (c *Controller) jobChanged(obj any) {
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
	ref := metav1.GetControllerOf(job)
	if ref == nil || ref.Kind != cronJobKind.Kind {
		return
	}
	cj, err := c.cronJobLister.CronJobs(job.Namespace).Get(ref.Name)
	if err != nil || cj.UID != ref.UID {
		return
	}
	c.enqueue(cj)
}
