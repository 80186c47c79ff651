package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Upstream's event reason, and the DisruptionTarget condition it sets on
// a pod before deleting it.
const (
	ReasonTaintManagerEviction    = "TaintManagerEviction"
	ReasonDeletionByTaintManager  = "DeletionByTaintManager"
	messageDeletionByTaintManager = "Taint manager: deleting due to NoExecute taint"
	taintEvictionWorkers          = 4
	taintEvictionControllerName   = "taint-eviction-controller"
)

// TaintEviction deletes pods from nodes with NoExecute taints they do not
// tolerate, at once or when their tolerationSeconds run out (upstream's
// taint-eviction-controller). It acts on every NoExecute taint, not only
// those the node lifecycle controller sets.
type TaintEviction struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker

	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]

	mu sync.Mutex
	// scheduled holds the pods waiting out a tolerationSeconds, by key.
	scheduled map[string]scheduledEviction
}

type scheduledEviction struct {
	uid types.UID
	// since is when the pod was first seen on the tainted node; the
	// tolerations count from then.
	since  time.Time
	fireAt time.Time
}

// NewTaintEviction builds the taint eviction controller from the shared
// pod and node informers.
func NewTaintEviction(cc controller.Context) (*TaintEviction, error) {
	pods := cc.Informers.Core().V1().Pods()
	nodes := cc.Informers.Core().V1().Nodes()
	if err := addNodeNameIndex(pods.Informer()); err != nil {
		return nil, err
	}
	c := &TaintEviction{
		client:     cc.Client,
		recorder:   cc.Recorder(taintEvictionControllerName),
		clock:      cc.Clock,
		podLister:  pods.Lister(),
		nodeLister: nodes.Lister(),
		podIndexer: pods.Informer().GetIndexer(),
		synced:     []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "taint_eviction", Clock: cc.Clock}),
		scheduled: map[string]scheduledEviction{},
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueuePod,
		UpdateFunc: func(oldObj, obj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			cur, ok2 := obj.(*corev1.Pod)
			if ok1 && ok2 && old.Spec.NodeName == cur.Spec.NodeName && equality.Semantic.DeepEqual(old.Spec.Tolerations, cur.Spec.Tolerations) {
				return
			}
			c.enqueuePod(obj)
		},
		DeleteFunc: c.enqueuePod,
	}); err != nil {
		return nil, fmt.Errorf("taint eviction: pod handler: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueNodePods,
		UpdateFunc: func(oldObj, obj any) {
			old, ok1 := oldObj.(*corev1.Node)
			cur, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && equality.Semantic.DeepEqual(noExecuteTaints(old.Spec.Taints), noExecuteTaints(cur.Spec.Taints)) {
				return
			}
			c.enqueueNodePods(obj)
		},
		DeleteFunc: c.enqueueNodePods,
	}); err != nil {
		return nil, fmt.Errorf("taint eviction: node handler: %w", err)
	}
	return c, nil
}

func (c *TaintEviction) enqueuePod(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *TaintEviction) enqueueNodePods(obj any) {
	node, ok := tombstone[*corev1.Node](obj)
	if !ok {
		return
	}
	pods, err := podsOnNode(c.podIndexer, node.Name)
	if err != nil {
		return
	}
	for _, p := range pods {
		c.enqueuePod(p)
	}
}

// Run evicts pods until ctx ends.
func (c *TaintEviction) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("tainteviction")
	ctx = klog.NewContext(ctx, logger)
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	var wg sync.WaitGroup
	for range taintEvictionWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *TaintEviction) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		klog.FromContext(ctx).V(2).Info("Taint eviction failed; will retry", "pod", key, "err", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// sync decides one pod's fate from its node's NoExecute taints.
func (c *TaintEviction) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.cancel(key, nil)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil {
		// Already on its way out, by us or anyone: nothing to schedule.
		c.forget(key)
		return nil
	}
	var taints []corev1.Taint
	if node, err := c.nodeLister.Get(pod.Spec.NodeName); err == nil {
		taints = noExecuteTaints(node.Spec.Taints)
	}
	v := decideEviction(taints, pod.Spec.Tolerations)
	now := c.clock.Now()
	switch {
	case v.never:
		c.cancel(key, pod)
		return nil
	case v.now:
		return c.evict(ctx, key, pod)
	}
	fireAt := c.schedule(key, pod.UID, now, v.after)
	if now.Before(fireAt) {
		c.queue.AddAfter(key, fireAt.Sub(now))
		return nil
	}
	return c.evict(ctx, key, pod)
}

// schedule records when a tolerating pod must go and returns that time.
// The toleration counts from when the pod was first seen on the tainted
// node; a later, shorter toleration can only bring the time forward.
//
// Example: first seen at 10:00:00 tolerating 300s → 10:05:00; at 10:01:00
// its tolerations change to 30s → 10:00:30, which is past: evict now.
func (c *TaintEviction) schedule(key string, uid types.UID, now time.Time, after time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.scheduled[key]
	if !ok || s.uid != uid {
		s = scheduledEviction{uid: uid, since: now, fireAt: now.Add(after)}
	} else if at := s.since.Add(after); at.Before(s.fireAt) {
		s.fireAt = at
	}
	c.scheduled[key] = s
	return s.fireAt
}

func (c *TaintEviction) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.scheduled, key)
}

// cancel drops a scheduled eviction, with upstream's event when there was
// one and the pod still exists.
func (c *TaintEviction) cancel(key string, pod *corev1.Pod) {
	c.mu.Lock()
	_, had := c.scheduled[key]
	delete(c.scheduled, key)
	c.mu.Unlock()
	if had && pod != nil {
		c.recorder.Eventf(pod, corev1.EventTypeNormal, ReasonTaintManagerEviction, "Cancelling deletion of Pod %s", key)
	}
}

// evict marks the pod with the DisruptionTarget condition, so its owner
// (a Job's pod failure policy) knows why it went, and deletes it
// gracefully.
func (c *TaintEviction) evict(ctx context.Context, key string, pod *corev1.Pod) error {
	klog.FromContext(ctx).Info("Evicting pod from tainted node", "pod", klog.KObj(pod), "node", pod.Spec.NodeName)
	c.recorder.Eventf(pod, corev1.EventTypeNormal, ReasonTaintManagerEviction, "Marking for deletion Pod %s", key)
	if !hasDisruptionCondition(pod) {
		cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: ReasonDeletionByTaintManager, Message: messageDeletionByTaintManager, LastTransitionTime: metav1.NewTime(c.clock.Now())}
		patch, err := podConditionPatch(pod.UID, cond)
		if err != nil {
			return err
		}
		_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if apierrors.IsNotFound(err) {
			c.forget(key)
			return nil
		}
		if err != nil {
			return fmt.Errorf("setting DisruptionTarget on pod %s: %w", key, err)
		}
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", key, err)
	}
	c.forget(key)
	return nil
}

func hasDisruptionCondition(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == ReasonDeletionByTaintManager {
			return true
		}
	}
	return false
}
