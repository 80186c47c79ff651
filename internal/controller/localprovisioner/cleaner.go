package localprovisioner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// NodeCleaner runs in the agent: it removes the directories of deleted
// local-path volumes pinned to its node, then their cleanup finalizer.
type NodeCleaner struct {
	client  kubernetes.Interface
	node    string
	baseDir string
	factory informers.SharedInformerFactory
	pvs     corelisters.PersistentVolumeLister
	synced  cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
}

// NewNodeCleaner builds a cleaner for node; baseDir must be the
// controller's Config.BaseDir (DefaultBaseDir when empty). It only ever
// deletes directories directly under baseDir.
func NewNodeCleaner(client kubernetes.Interface, node, baseDir string) (*NodeCleaner, error) {
	if baseDir == "" {
		baseDir = DefaultBaseDir
	}
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().PersistentVolumes()
	n := &NodeCleaner{client: client, node: node, baseDir: filepath.Clean(baseDir), factory: f,
		pvs: inf.Lister(), synced: inf.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "localpath-cleaner"})}
	enqueue := func(obj any) {
		if pv, ok := unwrap(obj).(*corev1.PersistentVolume); ok && n.mine(pv) {
			n.queue.Add(pv.Name)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("local-path cleaner event handler: %w", err)
	}
	return n, nil
}

// mine: a deleted volume of ours, pinned to this node, still holding the
// finalizer.
func (n *NodeCleaner) mine(pv *corev1.PersistentVolume) bool {
	return pv.DeletionTimestamp != nil && slices.Contains(pv.Finalizers, CleanupFinalizer) &&
		pv.Annotations[annProvisionedBy] == ProvisionerName && pinnedTo(pv) == n.node
}

func pinnedTo(pv *corev1.PersistentVolume) string {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return ""
	}
	for _, t := range na.Required.NodeSelectorTerms {
		for _, e := range t.MatchExpressions {
			if e.Key == hostnameLabel && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) == 1 {
				return e.Values[0]
			}
		}
	}
	return ""
}

// Run cleans until ctx ends.
func (n *NodeCleaner) Run(ctx context.Context) error {
	defer n.queue.ShutDown()
	n.factory.Start(ctx.Done())
	defer n.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), n.synced) {
		return nil
	}
	go func() {
		<-ctx.Done()
		n.queue.ShutDown()
	}()
	for {
		name, quit := n.queue.Get()
		if quit {
			return nil
		}
		if err := n.clean(ctx, name); err != nil {
			klog.FromContext(ctx).V(2).Info("local-path cleanup failed, retrying", "pv", name, "err", err)
			n.queue.AddRateLimited(name)
		} else {
			n.queue.Forget(name)
		}
		n.queue.Done(name)
	}
}

func (n *NodeCleaner) clean(ctx context.Context, name string) error {
	pv, err := n.pvs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || !n.mine(pv) {
		return err
	}
	if pv.Spec.HostPath != nil {
		if err := RemoveVolumeDir(n.baseDir, pv.Spec.HostPath.Path); err != nil {
			return err
		}
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := n.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Finalizers = slices.DeleteFunc(cur.Finalizers, func(f string) bool { return f == CleanupFinalizer })
		_, err = n.client.CoreV1().PersistentVolumes().Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// RemoveVolumeDir deletes a provisioned volume's directory, refusing any
// path that is not a direct child of baseDir, so a forged PV cannot make
// the agent delete arbitrary host paths.
func RemoveVolumeDir(baseDir, path string) error {
	base, p := filepath.Clean(baseDir), filepath.Clean(path)
	if filepath.Dir(p) != base || strings.HasPrefix(filepath.Base(p), ".") {
		return fmt.Errorf("refusing to delete %s: not a volume directory under %s", path, baseDir)
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("removing volume directory %s: %w", p, err)
	}
	return nil
}
