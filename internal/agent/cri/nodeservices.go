package cri

import (
	"context"
	"sync"

	"k8s.io/client-go/informers"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/dns"
	"github.com/skiff-sh/skiff/internal/ingress"
)

// startNodeServices starts the node's cluster DNS server and Ingress
// controller, each when configured, once the agent has registered the
// Node. They share the agent's informer factory (already started: their
// informers are started here, and stop with it). The returned func waits
// for both to stop after ctx ends. A failure in one is logged and stops
// only that one: pods keep running without it.
func startNodeServices(ctx context.Context, cfg NodeConfig, f informers.SharedInformerFactory, a *agent.Agent, nodeIPs []string, podCIDR *podCIDRSignal, paths *dataPaths) (wait func(), err error) {
	var srv *dns.Server
	if cfg.ServeDNS && len(cfg.ClusterDNS) > 0 {
		srv, err = dns.New(dns.Config{
			Domain: cfg.ClusterDomain, Informers: f, ResolvConf: hostResolvConf(), NameserverIPs: cfg.ClusterDNS,
		})
		if err != nil {
			return nil, err
		}
	}
	var ic *ingress.Controller
	if cfg.IngressHTTPAddress != "" || cfg.IngressHTTPSAddress != "" {
		ic, err = ingress.New(ingress.Config{
			Client: cfg.Client, Informers: f, NodeIPs: nodeIPs,
			HTTPAddr: cfg.IngressHTTPAddress, HTTPSAddr: cfg.IngressHTTPSAddress,
		})
		if err != nil {
			return nil, err
		}
		paths.add(ic)
	}
	var wg sync.WaitGroup
	if srv == nil && ic == nil {
		return wg.Wait, nil
	}
	f.Start(ctx.Done()) // the new informers; the agent's run already
	registered := func() bool {
		select {
		case <-a.Ready():
			return true
		case <-ctx.Done():
			return false
		}
	}
	if srv != nil {
		dnsCfg := cfg
		dnsCfg.Log = cfg.Log.With("component", "cluster-dns")
		log := dnsCfg.Log
		wg.Go(func() {
			if !registered() {
				return
			}
			if err := serveClusterDNS(ctx, dnsCfg, srv, podCIDR); err != nil {
				log.Error("Cluster DNS stopped", "err", err)
			}
		})
	}
	if ic != nil {
		log := cfg.Log.With("component", "ingress")
		wg.Go(func() {
			if !registered() {
				return
			}
			if err := ic.Run(ctx); err != nil {
				log.Error("Ingress controller stopped", "http", cfg.IngressHTTPAddress, "https", cfg.IngressHTTPSAddress, "err", err)
			}
		})
	}
	return wg.Wait, nil
}
