package proxy

import (
	"context"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// runLoadBalancerStatus is the servicelb part: like k3s, a LoadBalancer
// Service is "provisioned" by serving it on node addresses, so its
// status.loadBalancer.ingress lists them. Only the node configured with
// WriteLoadBalancerStatus runs this; every node serves whatever IPs the
// status lists that are its own.
func (p *Proxier) runLoadBalancerStatus(ctx context.Context) {
	for p.processLoadBalancer(ctx) {
	}
}

func (p *Proxier) processLoadBalancer(ctx context.Context) bool {
	key, quit := p.lbQueue.Get()
	if quit {
		return false
	}
	defer p.lbQueue.Done(key)
	if err := p.syncLoadBalancerStatus(ctx, key); err != nil {
		klog.FromContext(ctx).V(2).Info("Retrying LoadBalancer status", "service", key, "err", err)
		p.lbQueue.AddRateLimited(key)
		return true
	}
	p.lbQueue.Forget(key)
	return true
}

func (p *Proxier) syncLoadBalancerStatus(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key never becomes valid
	}
	svc, err := p.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// A Service asking for another implementation (loadBalancerClass) is
	// left alone, as upstream's cloud controllers do.
	if svc.Spec.LoadBalancerClass != nil {
		return nil
	}
	want := p.loadBalancerIngress(svc)
	if svc.Spec.Type != v1.ServiceTypeLoadBalancer {
		// No longer a LoadBalancer: take back only what this node wrote.
		if !sameIngress(svc.Status.LoadBalancer.Ingress, want) {
			return nil
		}
		want = nil
	}
	if sameIngress(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	upd := svc.DeepCopy()
	upd.Status.LoadBalancer.Ingress = want
	if _, err := p.cfg.Client.CoreV1().Services(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of %s: %w", key, err)
	}
	return nil
}

// loadBalancerIngress is the node's InternalIPs of the families the
// Service uses.
func (p *Proxier) loadBalancerIngress(svc *v1.Service) []v1.LoadBalancerIngress {
	var v4, v6 bool
	for _, f := range svc.Spec.IPFamilies {
		v4 = v4 || f == v1.IPv4Protocol
		v6 = v6 || f == v1.IPv6Protocol
	}
	if len(svc.Spec.IPFamilies) == 0 {
		v4 = true
	}
	var out []v1.LoadBalancerIngress
	for _, ip := range p.cfg.NodeIPs {
		if (ip.Is4() && v4) || (!ip.Is4() && v6) {
			out = append(out, v1.LoadBalancerIngress{IP: ip.String()})
		}
	}
	return out
}

func sameIngress(a, b []v1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y v1.LoadBalancerIngress) bool { return x.IP == y.IP })
}
