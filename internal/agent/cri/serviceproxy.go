package cri

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"

	"github.com/skiff-sh/skiff/internal/proxy"
)

// startServiceProxy runs the node's service proxy (internal/proxy) until
// ctx ends, serving NodePorts on the node's InternalIPs and, once the pod
// CIDR is known, its bridge gateway. The returned func waits until it
// stopped and deleted its nftables table.
func startServiceProxy(ctx context.Context, cfg NodeConfig, hostIPs []string, podCIDR *podCIDRSignal, paths *dataPaths) (wait func(), err error) {
	var nodeIPs []netip.Addr
	for _, s := range hostIPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			nodeIPs = append(nodeIPs, ip)
		}
	}
	f := informers.NewSharedInformerFactory(cfg.Client, 0)
	p, err := proxy.New(proxy.Config{
		NodeName: cfg.NodeName, NodeIPs: nodeIPs,
		ClusterCIDRs: cfg.ClusterCIDRs, ServiceCIDRs: cfg.ServiceCIDRs,
		Client: cfg.Client, Informers: f,
		WriteLoadBalancerStatus: cfg.ServeLoadBalancerStatus,
	})
	if err != nil {
		return nil, fmt.Errorf("service proxy: %w", err)
	}
	paths.add(p)
	f.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() {
		defer f.Shutdown()
		if err := p.Run(ctx); err != nil && ctx.Err() == nil {
			cfg.Log.Error("Service proxy stopped", "err", err)
		}
	})
	wg.Go(func() {
		cidr, ok := podCIDR.wait(ctx)
		if !ok {
			return
		}
		gws, err := podGateways(cidr)
		if err != nil {
			cfg.Log.Error("Service proxy: node pod CIDR", "podCIDR", cidr, "err", err)
			return
		}
		p.SetBridgeGateways(gws)
	})
	return wg.Wait, nil
}

// router is a data path that sends traffic to pods: the service proxy and
// the Ingress proxy.
type router interface {
	RoutesTo(ip string) bool
}

// dataPaths are the node's routers. A deleted pod's containers are
// signalled only once none of them sends it new connections (the agent's
// TerminationGate), which makes rolling updates lose no request without
// a preStop sleep.
type dataPaths struct {
	mu      sync.Mutex
	routers []router
}

func (d *dataPaths) add(r router) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.routers = append(d.routers, r)
}

func (d *dataPaths) routesTo(ips []string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.routers {
		for _, ip := range ips {
			if r.RoutesTo(ip) {
				return true
			}
		}
	}
	return false
}

// gate waits until no router sends the pod new connections, or ctx ends.
// The EndpointSlice controller marks a deleted pod's endpoints
// terminating at once; each router stops routing to it when it applied
// that, so this waits for the whole chain, usually milliseconds.
func (d *dataPaths) gate(ctx context.Context, pod *corev1.Pod) error {
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []string{pod.Status.PodIP}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for d.routesTo(ips) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("still routed to after waiting: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}
