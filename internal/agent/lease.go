package agent

import (
	"context"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// NodeLeaseNamespace holds one Lease per node, named after it.
const NodeLeaseNamespace = corev1.NamespaceNodeLease

// leaseRetries is how often one renewal is retried (re-reading the Lease
// in between) before waiting for the next period, as the kubelet's lease
// controller does.
const leaseRetries = 5

// runLease renews the node's Lease every renew interval until ctx ends;
// then it simply stops, so the Lease expires as a dead node's would.
func (a *Agent) runLease(ctx context.Context) {
	ticker := a.cfg.Clock.NewTicker(a.cfg.LeaseRenewInterval)
	defer ticker.Stop()
	var cached *coordinationv1.Lease
	for {
		var err error
		if cached, err = a.renewLease(ctx, cached); err != nil && ctx.Err() == nil {
			a.log.Warn("Renewing node lease failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

// renewLease sets renewTime to now on the cached Lease (reading or
// creating it when there is none) and returns the Lease as written.
func (a *Agent) renewLease(ctx context.Context, cached *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	leases := a.cfg.Client.CoordinationV1().Leases(NodeLeaseNamespace)
	var lastErr error
	for range leaseRetries {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if cached == nil {
			l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				created, err := leases.Create(ctx, a.desiredLease(nil), metav1.CreateOptions{})
				if err == nil {
					return created, nil
				}
				lastErr = fmt.Errorf("creating lease: %w", err)
				continue
			}
			if err != nil {
				lastErr = fmt.Errorf("reading lease: %w", err)
				continue
			}
			cached = l
		}
		updated, err := leases.Update(ctx, a.desiredLease(cached), metav1.UpdateOptions{})
		if err == nil {
			return updated, nil
		}
		lastErr = fmt.Errorf("updating lease: %w", err)
		cached = nil // re-read: someone else wrote it, or it is gone
	}
	return nil, lastErr
}

// desiredLease is base (or a new Lease) held by this node, renewed now,
// and owned by the Node so that it goes when the Node does.
func (a *Agent) desiredLease(base *coordinationv1.Lease) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: NodeLeaseNamespace}}
	if base != nil {
		l = base.DeepCopy()
	}
	l.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(a.cfg.LeaseDuration.Seconds()))
	l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(a.cfg.Clock.Now()))
	if uid := a.nodeUID(); uid != "" && len(l.OwnerReferences) == 0 {
		l.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: corev1.SchemeGroupVersion.String(),
			Kind:       "Node",
			Name:       a.cfg.NodeName,
			UID:        uid,
		}}
	}
	return l
}
