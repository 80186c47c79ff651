package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/internal/pki"
)

// advertiser makes the API server reachable at its advertise address, the
// address the kubernetes Service's endpoints publish: it has the serving
// certificate cover the address, listens there when the bind address does
// not already, and hands the address to the Service reconciler.
type advertiser struct {
	bind   netip.Addr
	port   int
	srv    *http.Server
	bundle *pki.Bundle
	// cert is what the TLS listeners serve; replaced when the certificate
	// is reissued for a new address.
	cert *atomic.Pointer[tls.Certificate]
	svc  *kubernetesService
	log  *slog.Logger

	mu sync.Mutex // guards the fields below
	// listeners are the extra listeners, by address; closed by close.
	listeners map[netip.Addr]net.Listener
	current   netip.Addr
}

// bindCovers reports whether a listener on bind accepts connections to
// addr: the same address, or the wildcard of its family (Linux's "::"
// socket is dual-stack, "0.0.0.0" is IPv4 only).
func bindCovers(bind, addr netip.Addr) bool {
	if bind == addr {
		return true
	}
	return bind.IsUnspecified() && (bind.Is6() || addr.Is4())
}

// publish makes addr the advertise address. Serving comes before
// publishing, so the endpoints never name an address nobody listens on.
func (a *advertiser) publish(ctx context.Context, addr netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr == a.current {
		return nil
	}
	cert, err := a.bundle.AddServingIPs(net.IP(addr.AsSlice()))
	if err != nil {
		return fmt.Errorf("serving certificate for advertise address %s: %w", addr, err)
	}
	a.cert.Store(&cert)
	if !bindCovers(a.bind, addr) && a.listeners[addr] == nil {
		hostPort := netip.AddrPortFrom(addr, uint16(a.port)).String()
		ln, err := listenFreebind(ctx, hostPort)
		if err != nil {
			return fmt.Errorf("listening on advertise address %s: %w", hostPort, err)
		}
		a.listeners[addr] = ln
		go func() {
			if err := a.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
				a.log.Error("Serving on the advertise address stopped", "address", hostPort, "err", err)
			}
		}()
		a.log.Info("API server listening on its advertise address", "address", "https://"+hostPort)
	}
	a.current = addr
	a.svc.setAdvertise(advertiseAddr, addr)
	return nil
}

// close closes the extra listeners (http.Server.Shutdown does too; this
// covers a Run that fails before it gets there).
func (a *advertiser) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ln := range a.listeners {
		_ = ln.Close()
	}
}

// advertiseFromBind is the advertise address of a server without a node of
// its own: the bind address, the host's default-route address for a
// wildcard bind (upstream's choice), none for loopback. The reason says why
// there is none, for the operator.
func advertiseFromBind(bind, serviceIP netip.Addr, hostIP func() (net.IP, error)) (netip.Addr, string) {
	addr := bind
	switch {
	case !bind.IsValid():
		return netip.Addr{}, "--bind-address is not an IP address; set --advertise-address"
	case bind.IsLoopback():
		return netip.Addr{}, fmt.Sprintf("the API server listens on loopback only (--bind-address %s), which pods cannot reach; set --advertise-address or --bind-address", bind)
	case bind.IsUnspecified():
		ip, err := hostIP()
		a, ok := netip.AddrFromSlice(ip)
		if err != nil || !ok {
			return netip.Addr{}, fmt.Sprintf("no host address found for --bind-address %s (%v); set --advertise-address", bind, err)
		}
		addr = a.Unmap()
	}
	if addr.Is4() != serviceIP.Is4() {
		return netip.Addr{}, fmt.Sprintf("address %s is not of the service range's IP family; set --advertise-address", addr)
	}
	return addr, ""
}

// hostIP is upstream's pick of the host's address for a wildcard bind.
func hostIP() (net.IP, error) { return utilnet.ChooseHostInterface() }

// podGateway is the first address of the node's pod CIDR of the service
// IP's family: CNI gives it to the bridge as the pods' gateway, so it is
// the host address every pod can reach.
func podGateway(node *corev1.Node, serviceIP netip.Addr) (netip.Addr, bool) {
	cidrs := node.Spec.PodCIDRs
	if len(cidrs) == 0 && node.Spec.PodCIDR != "" {
		cidrs = []string{node.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil || p.Addr().Is4() != serviceIP.Is4() {
			continue
		}
		return p.Masked().Addr().Next(), true
	}
	return netip.Addr{}, false
}

// followNodeGateway watches this server's own Node and publishes its pod
// gateway once node IPAM assigned the pod CIDR (and again should it
// change), until ctx ends.
func (a *advertiser) followNodeGateway(ctx context.Context, client kubernetes.Interface, nodeName string, serviceIP netip.Addr) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", nodeName).String()
		}))
	onNode := func(obj any) {
		node, ok := obj.(*corev1.Node)
		if !ok {
			return
		}
		gw, ok := podGateway(node, serviceIP)
		if !ok {
			return
		}
		if err := a.publish(ctx, gw); err != nil {
			a.log.Error("Publishing the node's pod gateway as the API server's advertise address", "node", nodeName, "err", err)
		}
	}
	_, err := factory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onNode,
		UpdateFunc: func(_, obj any) { onNode(obj) },
	})
	if err != nil {
		a.log.Error("Watching the server's node", "node", nodeName, "err", err)
		return
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}

// bootstrapConfig is what startKubernetesService needs from Run.
type bootstrapConfig struct {
	bundle      *pki.Bundle
	loopback    net.Addr // the bind listener's address, for the loopback client
	srv         *http.Server
	cert        *atomic.Pointer[tls.Certificate]
	serviceCIDR netip.Prefix
	bind        netip.Addr
	// advertise is --advertise-address; invalid means the default.
	advertise netip.Addr
	// agent is the server's own real node; nil when it runs none.
	agent *AgentConfig
	log   *slog.Logger
}

// startKubernetesService starts the kubernetes Service reconciler and
// decides the advertise address: the explicit one at once (failing Run if
// it cannot be served), the node's pod gateway once known, else the bind
// address's. The caller closes the returned advertiser when Run ends.
func startKubernetesService(ctx context.Context, c bootstrapConfig) (_ *advertiser, err error) {
	var nodeName string
	if c.agent != nil {
		if nodeName, err = c.agent.nodeName(); err != nil {
			return nil, err
		}
	}
	rc, err := loopbackConfig(c.bundle, c.loopback, "system:apiserver")
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes Service client: %w", err)
	}
	serviceIP := c.serviceCIDR.Masked().Addr().Next()
	log := c.log.With("component", "kubernetes-service")
	port := c.loopback.(*net.TCPAddr).Port
	svc := newKubernetesService(client, serviceIP, port, log)
	a := &advertiser{
		bind: c.bind, port: port, srv: c.srv, bundle: c.bundle, cert: c.cert, svc: svc, log: log,
		listeners: map[netip.Addr]net.Listener{},
	}
	switch {
	case c.advertise.IsValid():
		if err := a.publish(ctx, c.advertise); err != nil {
			a.close()
			return nil, err
		}
	case nodeName != "":
		log.Info("The kubernetes Service gets endpoints once node IPAM assigns this server's node a pod CIDR: its gateway is the advertise address",
			"node", nodeName)
		go a.followNodeGateway(ctx, client, nodeName, serviceIP)
	default:
		addr, reason := advertiseFromBind(c.bind, serviceIP, hostIP)
		if !addr.IsValid() {
			log.Warn("Publishing no endpoints for the kubernetes Service: in-cluster clients cannot reach the API server", "reason", reason)
			svc.setAdvertise(advertiseNone, netip.Addr{})
			break
		}
		if err := a.publish(ctx, addr); err != nil {
			a.close()
			return nil, err
		}
	}
	go svc.Run(ctx)
	return a, nil
}

// parseAdvertiseAddress checks --advertise-address: empty means the
// default; otherwise an address pods can reach, of the service range's
// family (a Service's endpoints are of its own family).
func parseAdvertiseAddress(s string, serviceCIDR netip.Prefix) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid --advertise-address %q: %w", s, err)
	}
	addr = addr.Unmap()
	switch {
	case addr.IsUnspecified() || addr.IsLoopback() || addr.IsMulticast():
		return netip.Addr{}, fmt.Errorf("--advertise-address %s: pods cannot reach a loopback, unspecified or multicast address", addr)
	case addr.Is4() != serviceCIDR.Addr().Is4():
		return netip.Addr{}, fmt.Errorf("--advertise-address %s is not of the IP family of --service-cidr %s", addr, serviceCIDR)
	}
	return addr, nil
}

// bindAddr is the bind listener's address: empty is the wildcard (Go then
// listens on every interface), a host name is invalid (it covers nothing).
func bindAddr(s string) netip.Addr {
	if s == "" {
		return netip.IPv6Unspecified()
	}
	a, _ := netip.ParseAddr(s)
	return a.Unmap()
}
