package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// sync makes the named node's pod CIDRs and the controller's state agree:
// a node that is gone gives its subnets back, a node that has CIDRs keeps
// them reserved, and a node without gets the next free subnet of each
// cluster CIDR.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.release(ctx, name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting node %s: %w", name, err)
	}
	if len(nodeCIDRs(node)) > 0 {
		c.occupy(ctx, node)
		return nil
	}
	cidrs, err := c.allocate(ctx, node)
	if err != nil {
		c.recorder.Eventf(node, corev1.EventTypeWarning, ReasonCIDRNotAvailable, "Node %s: %v", name, err)
		return err
	}
	if err := c.patchCIDRs(ctx, node, cidrs); err != nil {
		if apierrors.IsNotFound(err) {
			// The node went away under us; its delete event releases the
			// subnets. (A replacement under the same name fails the patch
			// instead, uid being immutable, and the retry sees the new
			// uid.)
			return nil
		}
		c.recorder.Eventf(node, corev1.EventTypeWarning, ReasonCIDRAssignmentFailed, "Node %s: writing pod CIDRs: %v", name, err)
		// The subnets stay reserved for this node: the retry writes the
		// same ones.
		return err
	}
	klog.FromContext(ctx).V(2).Info("Assigned pod CIDRs", "node", name, "podCIDRs", cidrs)
	return nil
}

// allocate returns the subnets reserved for node, taking them if none
// are. A lagging cache may show a node without the CIDRs this controller
// already wrote; it gets the same ones back.
func (c *Controller) allocate(ctx context.Context, node *corev1.Node) ([]netip.Prefix, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.allocs[node.Name]; ok {
		if a.uid == node.UID {
			return a.cidrs, nil
		}
		c.unsafeRelease(ctx, node.Name)
	}
	cidrs := make([]netip.Prefix, 0, len(c.sets))
	for _, s := range c.sets {
		p, err := s.allocate()
		if err != nil {
			for i, taken := range cidrs {
				_ = c.sets[i].release(taken)
			}
			return nil, err
		}
		cidrs = append(cidrs, p)
	}
	c.allocs[node.Name] = allocation{uid: node.UID, cidrs: cidrs}
	return cidrs, nil
}

// occupy reserves the CIDRs a node already carries (set by this
// controller before a restart, or by hand). CIDRs outside every cluster
// CIDR are the operator's business and are left alone.
func (c *Controller) occupy(ctx context.Context, node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cidrs := nodeCIDRs(node)
	if a, ok := c.allocs[node.Name]; ok {
		if a.uid == node.UID && equalPrefixes(a.cidrs, cidrs) {
			return
		}
		c.unsafeRelease(ctx, node.Name)
	}
	for _, p := range cidrs {
		s := c.setFor(p)
		if s == nil {
			klog.FromContext(ctx).V(2).Info("Node pod CIDR is outside the cluster CIDRs, ignoring", "node", node.Name, "podCIDR", p)
			continue
		}
		_ = s.occupy(p) // cannot fail: setFor checked the overlap
	}
	// Recorded whole; releasing skips the ones outside every set.
	c.allocs[node.Name] = allocation{uid: node.UID, cidrs: cidrs}
}

func (c *Controller) release(ctx context.Context, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unsafeRelease(ctx, name)
}

// unsafeRelease gives back what name holds; the caller holds mu.
func (c *Controller) unsafeRelease(ctx context.Context, name string) {
	a, ok := c.allocs[name]
	if !ok {
		return
	}
	delete(c.allocs, name)
	for _, p := range a.cidrs {
		if s := c.setFor(p); s != nil {
			_ = s.release(p)
		}
	}
	klog.FromContext(ctx).V(2).Info("Released pod CIDRs", "node", name, "podCIDRs", a.cidrs)
}

// setFor is the cluster CIDR set of p's family that overlaps p, or nil.
func (c *Controller) setFor(p netip.Prefix) *cidrSet {
	for _, s := range c.sets {
		if s.cluster.Overlaps(p) {
			return s
		}
	}
	return nil
}

// patchCIDRs writes spec.podCIDR and spec.podCIDRs with a merge patch, so
// it never conflicts with the agent's status writes. metadata.uid in the
// patch acts as a precondition (uid is immutable, so a mismatch is
// refused): a node recreated under the same name is not given the old
// node's subnets.
func (c *Controller) patchCIDRs(ctx context.Context, node *corev1.Node, cidrs []netip.Prefix) error {
	strs := make([]string, len(cidrs))
	for i, p := range cidrs {
		strs[i] = p.String()
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": node.UID},
		"spec":     map[string]any{"podCIDR": strs[0], "podCIDRs": strs},
	})
	if err != nil {
		return fmt.Errorf("encoding pod CIDR patch: %w", err)
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("patching node %s: %w", node.Name, err)
	}
	return nil
}

// nodeCIDRs parses spec.podCIDRs (or the older single spec.podCIDR);
// unparsable entries are skipped, validation keeps them out anyway.
func nodeCIDRs(n *corev1.Node) []netip.Prefix {
	strs := n.Spec.PodCIDRs
	if len(strs) == 0 && n.Spec.PodCIDR != "" {
		strs = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, s := range strs {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func equalPrefixes(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
