package localprovisioner

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

func everything() labels.Selector { return labels.Everything() }

// syncClaim moves one claim towards Bound: give it the default class,
// finish a binding in progress, bind it to a matching Available volume, or
// provision one once its node is known.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // malformed keys never become valid
	}
	pvc, err := c.pvcs.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pvc.DeletionTimestamp != nil {
		return nil
	}
	if pvc.Spec.VolumeName != "" {
		return c.syncBoundClaim(ctx, pvc)
	}
	if pvc.Spec.StorageClassName == nil && pvc.Annotations[annBetaClass] == "" {
		return c.assignDefaultClass(ctx, pvc)
	}
	class := claimClass(pvc)
	var sc *storagev1.StorageClass
	if class != "" {
		if sc, err = c.classes.Get(class); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	node := c.selectedNode(pvc)
	if waitsForConsumer(sc) && node == "" {
		return nil // a pod's scheduling event brings the key back
	}
	pvs, err := c.pvs.List(everything())
	if err != nil {
		return err
	}
	if pv := findMatch(pvs, pvc, c.nodeObject(node)); pv != nil {
		return c.bind(ctx, pv.DeepCopy(), pvc.DeepCopy())
	}
	if sc == nil || sc.Provisioner != ProvisionerName || node == "" {
		return nil // nothing to bind to yet; a new volume's event retries
	}
	pv, err := c.provision(ctx, pvc, sc, node)
	if err != nil {
		return err
	}
	return c.bind(ctx, pv, pvc.DeepCopy())
}

func claimClass(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return pvc.Annotations[annBetaClass]
}

func waitsForConsumer(sc *storagev1.StorageClass) bool {
	return sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// selectedNode is the scheduler's annotation or, since Skiff's scheduler
// does not write it, the node of the first bound pod using the claim.
func (c *Controller) selectedNode(pvc *corev1.PersistentVolumeClaim) string {
	if n := pvc.Annotations[annSelectedNode]; n != "" {
		return n
	}
	pods, err := c.pods.ByIndex(claimIndex, pvc.Namespace+"/"+pvc.Name)
	if err != nil {
		return ""
	}
	for _, o := range pods {
		if pod := o.(*corev1.Pod); pod.Spec.NodeName != "" && pod.DeletionTimestamp == nil {
			return pod.Spec.NodeName
		}
	}
	return ""
}

// nodeObject is the node a claim's pod landed on, for node affinity
// checks; a node not (yet) in the cache stands in with just its hostname
// label. nil when no node is selected.
func (c *Controller) nodeObject(name string) *corev1.Node {
	if name == "" {
		return nil
	}
	if n, err := c.nodes.Get(name); err == nil {
		return n
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{hostnameLabel: name}}}
}

// assignDefaultClass gives a class-less claim the default class, as
// upstream's PV controller does retroactively; with no default class the
// claim binds only to class-less volumes, so it goes on unchanged.
func (c *Controller) assignDefaultClass(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	def, err := c.defaultClass()
	if err != nil {
		return err
	}
	if def == "" {
		pvc = pvc.DeepCopy()
		empty := ""
		pvc.Spec.StorageClassName = &empty // only for matching, never written
		pvs, err := c.pvs.List(everything())
		if err != nil {
			return err
		}
		if pv := findMatch(pvs, pvc, nil); pv != nil {
			return c.bind(ctx, pv.DeepCopy(), pvc)
		}
		return nil
	}
	pvc = pvc.DeepCopy()
	pvc.Spec.StorageClassName = &def
	_, err = c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("assigning default class %s to %s/%s: %w", def, pvc.Namespace, pvc.Name, err)
	}
	return nil // the update's event brings the claim back
}

// provision creates the PV for a claim on node; an existing one (from an
// earlier attempt) is reused.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, node string) (*corev1.PersistentVolume, error) {
	name := "pvc-" + string(pvc.UID)
	if pv, err := c.pvs.Get(name); err == nil {
		return pv.DeepCopy(), nil
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	dirType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annProvisionedBy: ProvisionerName},
			Finalizers:  []string{CleanupFinalizer},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes: pvc.Spec.AccessModes,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: filepath.Join(c.cfg.BaseDir, name), Type: &dirType}},
			ClaimRef:                      claimRef(pvc),
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              sc.Name,
			VolumeMode:                    pvc.Spec.VolumeMode,
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: hostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
	created, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = c.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("provisioning %s for %s/%s: %w", name, pvc.Namespace, pvc.Name, err)
	}
	c.recorder.Eventf(pvc, corev1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume %s on node %s", name, node)
	return created, nil
}

func claimRef(pvc *corev1.PersistentVolumeClaim) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
		Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID}
}
