package ingress

import (
	"context"
	"fmt"
	"net"
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// desiredStatus is the load-balancer status every served Ingress gets:
// the node IPs, sorted so the comparison with what is stored is stable.
// Entries that are not IPs are published as hostnames.
func desiredStatus(nodeIPs []string) []networkingv1.IngressLoadBalancerIngress {
	ips := append([]string(nil), nodeIPs...)
	sort.Strings(ips)
	out := make([]networkingv1.IngressLoadBalancerIngress, 0, len(ips))
	for _, ip := range ips {
		if net.ParseIP(ip) != nil {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
		} else {
			out = append(out, networkingv1.IngressLoadBalancerIngress{Hostname: ip})
		}
	}
	return out
}

func statusEqual(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IP != b[i].IP || a[i].Hostname != b[i].Hostname || len(a[i].Ports) != 0 || len(b[i].Ports) != 0 {
			return false
		}
	}
	return true
}

// enqueueStatus queues every served Ingress whose stored status differs,
// so an unchanged Ingress costs no write.
func (c *Controller) enqueueStatus(t *table) {
	if len(c.cfg.NodeIPs) == 0 {
		return
	}
	want := desiredStatus(c.cfg.NodeIPs)
	for key, ing := range t.served {
		if !statusEqual(ing.Status.LoadBalancer.Ingress, want) {
			c.statusQueue.Add(key)
		}
	}
}

// routingChanged reports whether an Ingress update can change routing:
// anything but status and bookkeeping metadata.
func routingChanged(old, cur *networkingv1.Ingress) bool {
	return !equality.Semantic.DeepEqual(old.Spec, cur.Spec) ||
		old.Annotations[legacyClassAnnotation] != cur.Annotations[legacyClassAnnotation] ||
		!old.DeletionTimestamp.Equal(cur.DeletionTimestamp)
}

// checkStatus queues an Ingress whose status someone changed away from
// what this controller publishes, if it is served.
func (c *Controller) checkStatus(ing *networkingv1.Ingress) {
	if len(c.cfg.NodeIPs) == 0 {
		return
	}
	t := c.table.Load()
	if t == nil {
		return
	}
	key := ing.Namespace + "/" + ing.Name
	if _, ok := t.served[key]; ok && !statusEqual(ing.Status.LoadBalancer.Ingress, desiredStatus(c.cfg.NodeIPs)) {
		c.statusQueue.Add(key)
	}
}

// syncStatus writes one Ingress's status if it is still served and
// still differs. Ingresses this controller stops serving keep their
// status: another controller may own them now and will write its own.
func (c *Controller) syncStatus(ctx context.Context, key string) error {
	t := c.table.Load()
	if t == nil {
		return nil
	}
	if _, ok := t.served[key]; !ok {
		return nil
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key never becomes valid
	}
	ing, err := c.ingresses.Ingresses(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get Ingress %s: %w", key, err)
	}
	want := desiredStatus(c.cfg.NodeIPs)
	if statusEqual(ing.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	ing = ing.DeepCopy()
	ing.Status.LoadBalancer.Ingress = want
	_, err = c.cfg.Client.NetworkingV1().Ingresses(ns).UpdateStatus(ctx, ing, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of Ingress %s: %w", key, err)
	}
	klog.FromContext(ctx).V(2).Info("Ingress status written", "ingress", klog.KObj(ing), "addresses", c.cfg.NodeIPs)
	return nil
}
