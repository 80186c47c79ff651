package disruption

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Event reasons, as upstream's disruption controller reports them.
const (
	ReasonNoPods                          = "NoPods"
	ReasonCalculateExpectedPodCountFailed = "CalculateExpectedPodCountFailed"
	ReasonUnmanagedPods                   = "UnmanagedPods"
	ReasonNotDeleted                      = "NotDeleted"
	ReasonMultiplePodDisruptionBudgets    = "MultiplePodDisruptionBudgets"
)

const (
	workers    = 1
	maxRetries = 15
)

// Controller keeps the status of PodDisruptionBudgets.
type Controller struct {
	client   kubernetes.Interface
	pdbs     policylisters.PodDisruptionBudgetLister
	pods     corelisters.PodLister
	scales   *scales
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	clock    clock.PassiveClock
}

// New builds the controller and registers its informers on cc.Informers.
func New(cc controller.Context) (*Controller, error) {
	pdbInf := cc.Informers.Policy().V1().PodDisruptionBudgets()
	podInf := cc.Informers.Core().V1().Pods()
	rcInf := cc.Informers.Core().V1().ReplicationControllers()
	rsInf := cc.Informers.Apps().V1().ReplicaSets()
	dInf := cc.Informers.Apps().V1().Deployments()
	ssInf := cc.Informers.Apps().V1().StatefulSets()
	c := &Controller{
		client: cc.Client,
		pdbs:   pdbInf.Lister(),
		pods:   podInf.Lister(),
		scales: &scales{
			client: cc.Client, rcs: rcInf.Lister(), rss: rsInf.Lister(),
			deployments: dInf.Lister(), statefuls: ssInf.Lister(),
			resources: map[string]string{},
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "disruption", Clock: cc.Clock}),
		recorder: cc.Recorder("controllermanager"),
		clock:    cc.Clock,
	}
	if _, err := pdbInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onPDB,
		UpdateFunc: func(_, cur any) { c.onPDB(cur) },
		DeleteFunc: c.onPDB,
	}); err != nil {
		return nil, fmt.Errorf("disruption controller: adding pdb handler: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onPod,
		UpdateFunc: func(_, cur any) { c.onPod(cur) },
		DeleteFunc: c.onPod,
	}); err != nil {
		return nil, fmt.Errorf("disruption controller: adding pod handler: %w", err)
	}
	for _, inf := range []cache.SharedIndexInformer{pdbInf.Informer(), podInf.Informer(), rcInf.Informer(), rsInf.Informer(), dInf.Informer(), ssInf.Informer()} {
		c.synced = append(c.synced, inf.HasSynced)
	}
	return c, nil
}

// Run waits for the caches, syncs until ctx ends, and returns.
func (c *Controller) Run(ctx context.Context) error {
	return controller.Workers[string]{
		Name: "disruption-controller", Queue: c.queue, Count: workers, MaxRetries: maxRetries,
		Synced: c.synced, Sync: c.sync,
		KeyName: "pdb", RetryMessage: "Error syncing PodDisruptionBudget, retrying",
		Dropped: func(key string, err error) error {
			return fmt.Errorf("disruption controller: dropping %s: %w", key, err)
		},
	}.Run(ctx)
}

func (c *Controller) onPDB(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if pdb, ok := obj.(*policyv1.PodDisruptionBudget); ok {
		c.queue.Add(pdb.Namespace + "/" + pdb.Name)
	}
}

// onPod queues every budget that selects the pod. Upstream queues only
// the first (and warns about the others); queueing all keeps every
// budget's status current.
func (c *Controller) onPod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pdbs := c.budgetsFor(pod)
	if len(pdbs) > 1 {
		c.recorder.Eventf(pod, corev1.EventTypeWarning, ReasonMultiplePodDisruptionBudgets,
			"Pod %q/%q matches multiple PodDisruptionBudgets.  Chose %q arbitrarily.", pod.Namespace, pod.Name, pdbs[0].Name)
	}
	for _, pdb := range pdbs {
		c.queue.Add(pdb.Namespace + "/" + pdb.Name)
	}
}

// budgetsFor returns the budgets in the pod's namespace whose selector
// matches it. A nil selector matches nothing; an empty one matches every
// pod, as policy/v1 defines.
func (c *Controller) budgetsFor(pod *corev1.Pod) []*policyv1.PodDisruptionBudget {
	list, err := c.pdbs.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*policyv1.PodDisruptionBudget
	set := labels.Set(pod.Labels)
	for _, pdb := range list {
		if pdb.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue
		}
		if sel.Matches(set) {
			out = append(out, pdb)
		}
	}
	return out
}
