package localprovisioner

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

const (
	// ProvisionerName is the StorageClass provisioner this controller serves.
	ProvisionerName = "skiff.dev/local-path"
	// DefaultClassName is the StorageClass created at start.
	DefaultClassName = "local-path"
	// DefaultBaseDir is where volume directories live on nodes.
	DefaultBaseDir = "/var/lib/skiff/storage"
	// CleanupFinalizer holds a provisioned PV until NodeCleaner removed its
	// directory.
	CleanupFinalizer = "skiff.dev/local-path-cleanup"

	annSelectedNode  = "volume.kubernetes.io/selected-node"
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	annBindCompleted = "pv.kubernetes.io/bind-completed"
	annBoundByCtrl   = "pv.kubernetes.io/bound-by-controller"
	annDefaultClass  = "storageclass.kubernetes.io/is-default-class"
	annBetaClass     = corev1.BetaStorageClassAnnotation
	hostnameLabel    = "kubernetes.io/hostname"
	claimIndex       = "localprovisioner-claim"
	workers          = 2
	claimPrefix      = "pvc/"
	volumePrefix     = "pv/"
)

// Config configures the controller.
type Config struct {
	// BaseDir is the node directory volumes are created under;
	// DefaultBaseDir when empty.
	BaseDir string
	// ClassName is the StorageClass to create; DefaultClassName when empty.
	ClassName string
}

// Controller provisions and binds persistent volumes.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	pvcs     corelisters.PersistentVolumeClaimLister
	pvs      corelisters.PersistentVolumeLister
	classes  storagelisters.StorageClassLister
	nodes    corelisters.NodeLister
	pods     cache.Indexer
	synced   []cache.InformerSynced
	recorder record.EventRecorder
	clock    clock.WithTicker
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New builds the controller.
func New(cc controller.Context, cfg Config) (*Controller, error) {
	if cfg.BaseDir == "" {
		cfg.BaseDir = DefaultBaseDir
	}
	if cfg.ClassName == "" {
		cfg.ClassName = DefaultClassName
	}
	clk := cc.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	pvcInf := cc.Informers.Core().V1().PersistentVolumeClaims()
	pvInf := cc.Informers.Core().V1().PersistentVolumes()
	scInf := cc.Informers.Storage().V1().StorageClasses()
	podInf := cc.Informers.Core().V1().Pods().Informer()
	nodeInf := cc.Informers.Core().V1().Nodes()
	if err := podInf.AddIndexers(cache.Indexers{claimIndex: podClaims}); err != nil {
		return nil, fmt.Errorf("local provisioner pod index: %w", err)
	}
	c := &Controller{
		cfg: cfg, client: cc.Client, clock: clk,
		pvcs: pvcInf.Lister(), pvs: pvInf.Lister(), classes: scInf.Lister(), nodes: nodeInf.Lister(), pods: podInf.GetIndexer(),
		synced:   []cache.InformerSynced{pvcInf.Informer().HasSynced, pvInf.Informer().HasSynced, scInf.Informer().HasSynced, podInf.HasSynced, nodeInf.Informer().HasSynced},
		recorder: cc.Recorder("persistentvolume-controller"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "localprovisioner", Clock: clk}),
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		fn  func(any)
	}{
		{pvcInf.Informer(), c.enqueueClaim},
		{pvInf.Informer(), c.enqueueVolume},
		{podInf, c.enqueuePodClaims},
		// A new default class lets waiting class-less claims proceed.
		{scInf.Informer(), func(any) { c.enqueueAllClaims() }},
	}
	for _, h := range handlers {
		fn := h.fn
		if _, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: fn, UpdateFunc: func(_, cur any) { fn(cur) }, DeleteFunc: fn,
		}); err != nil {
			return nil, fmt.Errorf("local provisioner event handler: %w", err)
		}
	}
	return c, nil
}

// Run ensures the StorageClass, waits for the caches, then syncs until ctx
// ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if err := c.ensureClass(ctx); err != nil {
		return err
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("local provisioner: caches did not sync")
	}
	var wg sync.WaitGroup
	for range workers {
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

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	var err error
	if name, ok := strings.CutPrefix(key, volumePrefix); ok {
		err = c.syncVolume(ctx, name)
	} else {
		err = c.syncClaim(ctx, strings.TrimPrefix(key, claimPrefix))
	}
	if err != nil {
		if ctx.Err() == nil {
			klog.FromContext(ctx).V(2).Info("sync failed, retrying", "key", key, "err", err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func unwrap(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (c *Controller) enqueueClaim(obj any) {
	if pvc, ok := unwrap(obj).(*corev1.PersistentVolumeClaim); ok {
		c.queue.Add(claimPrefix + pvc.Namespace + "/" + pvc.Name)
		// A deleted claim releases its volume.
		if pvc.Spec.VolumeName != "" {
			c.queue.Add(volumePrefix + pvc.Spec.VolumeName)
		}
	}
}

func (c *Controller) enqueueVolume(obj any) {
	pv, ok := unwrap(obj).(*corev1.PersistentVolume)
	if !ok {
		return
	}
	c.queue.Add(volumePrefix + pv.Name)
	if ref := pv.Spec.ClaimRef; ref != nil {
		c.queue.Add(claimPrefix + ref.Namespace + "/" + ref.Name)
	} else if pv.DeletionTimestamp == nil {
		// An unclaimed volume may be what a waiting claim needs.
		c.enqueueAllClaims()
	}
}

// enqueuePodClaims: a pod bound to a node decides where its
// WaitForFirstConsumer claims are provisioned.
func (c *Controller) enqueuePodClaims(obj any) {
	pod, ok := unwrap(obj).(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	keys, _ := podClaims(pod)
	for _, k := range keys {
		c.queue.Add(claimPrefix + k)
	}
}

func (c *Controller) enqueueAllClaims() {
	claims, err := c.pvcs.List(everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, pvc := range claims {
		if pvc.Spec.VolumeName == "" {
			c.queue.Add(claimPrefix + pvc.Namespace + "/" + pvc.Name)
		}
	}
}

// podClaims indexes a pod by the claims its volumes use, including the
// claims of generic ephemeral volumes (named <pod>-<volume>).
func podClaims(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, pod.Namespace+"/"+v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Namespace+"/"+pod.Name+"-"+v.Name)
		}
	}
	return out, nil
}
