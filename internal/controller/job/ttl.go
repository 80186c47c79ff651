package job

import (
	"context"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/manager"
)

// TTLAfterFinished deletes finished Jobs (Complete or Failed) once
// spec.ttlSecondsAfterFinished has passed since they finished, with
// foreground propagation so their pods go first. It is upstream's
// ttl-after-finished controller and touches nothing but those deletions.
type TTLAfterFinished struct {
	client kubernetes.Interface
	clock  clock.WithTicker
	lister batchlisters.JobLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

var _ manager.Runner = (*TTLAfterFinished)(nil)

// NewTTLAfterFinished builds the TTL-after-finished controller and
// registers its Job informer on cc.Informers.
func NewTTLAfterFinished(cc controller.Context) (*TTLAfterFinished, error) {
	jobs := cc.Informers.Batch().V1().Jobs()
	t := &TTLAfterFinished{
		client: cc.Client,
		clock:  cc.Clock,
		lister: jobs.Lister(),
		synced: jobs.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ttl_jobs_to_delete", Clock: cc.Clock}),
	}
	enqueue := func(obj any) {
		if job, ok := obj.(*batchv1.Job); ok && needsCleanup(job) && job.DeletionTimestamp == nil {
			if key, err := cache.MetaNamespaceKeyFunc(job); err == nil {
				t.queue.Add(key)
			}
		}
	}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("ttl-after-finished controller: adding Job event handler: %w", err)
	}
	return t, nil
}

// Run waits for the cache, then deletes expired Jobs until ctx ends.
func (t *TTLAfterFinished) Run(ctx context.Context) error {
	defer t.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), t.synced) {
		return nil
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for t.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	t.queue.ShutDown()
	wg.Wait()
	return nil
}

func (t *TTLAfterFinished) processNext(ctx context.Context) bool {
	key, quit := t.queue.Get()
	if quit {
		return false
	}
	defer t.queue.Done(key)
	if err := t.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Cleaning up finished Job failed, will retry", "key", key)
		}
		t.queue.AddRateLimited(key)
		return true
	}
	t.queue.Forget(key)
	return true
}

// sync deletes the Job if its TTL has expired, or schedules the key for
// when it will.
func (t *TTLAfterFinished) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("job key %q: %w", key, err)
	}
	job, err := t.lister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := t.expired(key, job); err != nil || !expired {
		return err
	}
	// The cached Job may be stale: the TTL may have been changed or the Job
	// replaced. Decide again on a fresh read, and let the UID precondition
	// make sure the Job deleted is the one decided on.
	fresh, err := t.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading job %s: %w", key, err)
	}
	if expired, err := t.expired(key, fresh); err != nil || !expired {
		return err
	}
	policy := metav1.DeletePropagationForeground
	klog.FromContext(ctx).V(4).Info("Deleting finished Job after its TTL", "job", klog.KObj(fresh))
	err = t.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting job %s: %w", key, err)
	}
	return nil
}

// expired reports whether job's TTL has run out; if it will later, the
// key is queued for then.
func (t *TTLAfterFinished) expired(key string, job *batchv1.Job) (bool, error) {
	if job.DeletionTimestamp != nil || !needsCleanup(job) {
		return false, nil
	}
	left, err := ttlRemaining(job, t.clock.Now())
	if err != nil {
		return false, err
	}
	if left > 0 {
		t.queue.AddAfter(key, left)
		return false, nil
	}
	return true, nil
}

func needsCleanup(job *batchv1.Job) bool {
	return job.Spec.TTLSecondsAfterFinished != nil && finishedCondition(job) != nil
}

// ttlRemaining is the time left before a finished Job expires: finished
// at 10:00:00 with ttlSecondsAfterFinished=100, at 10:01:00 → 40s.
func ttlRemaining(job *batchv1.Job, now time.Time) (time.Duration, error) {
	cond := finishedCondition(job)
	if cond == nil || cond.LastTransitionTime.IsZero() {
		return 0, fmt.Errorf("job %s/%s: no finish time to expire from", job.Namespace, job.Name)
	}
	expireAt := cond.LastTransitionTime.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	return expireAt.Sub(now), nil
}
