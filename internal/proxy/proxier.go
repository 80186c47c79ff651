package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"sigs.k8s.io/knftables"
)

// DefaultTableName is the nftables table (one per family) the proxy owns.
const DefaultTableName = "skiff-proxy"

// Config is what a node's proxy needs to know. Zero durations take the
// defaults noted on each field.
type Config struct {
	NodeName string
	// NodeIPs are the node's InternalIPs: NodePorts are served on them, and
	// they are what LoadBalancer services get as ingress.
	NodeIPs []netip.Addr
	// BridgeGateways are the pod bridge's addresses on this node; NodePorts
	// are served there too, which is how pods and tests reach a NodePort
	// without route_localnet (127.0.0.1 is deliberately not served). When
	// the pod CIDR is only known later, use SetBridgeGateways.
	BridgeGateways []netip.Addr
	ClusterCIDRs   []netip.Prefix
	ServiceCIDRs   []netip.Prefix
	Client         kubernetes.Interface
	Informers      informers.SharedInformerFactory
	// WriteLoadBalancerStatus makes this node the one that fills in
	// status.loadBalancer of LoadBalancer Services with NodeIPs. Exactly
	// one node of a cluster should set it.
	WriteLoadBalancerStatus bool
	// TableName defaults to DefaultTableName.
	TableName string
	// MinSyncPeriod is the least time between two syncs, so a burst of
	// changes becomes one transaction. Default 1ms.
	MinSyncPeriod time.Duration
	// FullSyncPeriod is how often everything is rewritten, repairing any
	// drift (someone flushing the table). Default 1 hour: a full sync of
	// 1,000 services with 10 endpoints each takes seconds of nft time.
	FullSyncPeriod time.Duration
	// Conntrack deletes stale UDP flows after endpoints change. Default: a
	// netlink handle in the calling thread's network namespace.
	Conntrack ConntrackDeleter
	// NewNFT opens the table for a family; tests pass a knftables.Fake or
	// a wrapper that runs nft in a network namespace. Default knftables.New.
	NewNFT func(family knftables.Family, table string) (knftables.Interface, error)
}

// Proxier programs Services into the kernel. Build it with New, then Run.
type Proxier struct {
	cfg         Config
	services    corelisters.ServiceLister
	slices      discoverylisters.EndpointSliceLister
	cacheSynced []cache.InformerSynced
	tables      []*familyTable
	lbQueue     workqueue.TypedRateLimitingInterface[string]

	// mu guards dirty, full and cfg.BridgeGateways, which event handlers
	// and SetBridgeGateways set and the sync loop takes.
	mu    sync.Mutex
	dirty map[string]bool
	full  bool
	kick  chan struct{}

	// routed holds, per Service, the endpoint addresses the kernel's rules
	// send new connections to, as of the last successful sync (RoutesTo).
	routed map[string][]netip.Addr

	synced     chan struct{}
	syncedOnce sync.Once
	lastSync   time.Duration // duration of the last successful sync; sync loop only
}

// New checks cfg, opens one table per family of the service CIDRs and
// registers informer handlers. Nothing is written to the kernel until Run.
func New(cfg Config) (*Proxier, error) {
	if cfg.NodeName == "" || cfg.Informers == nil || len(cfg.ServiceCIDRs) == 0 {
		return nil, errors.New("proxy: NodeName, Informers and ServiceCIDRs are required")
	}
	if cfg.WriteLoadBalancerStatus && cfg.Client == nil {
		return nil, errors.New("proxy: WriteLoadBalancerStatus needs a Client")
	}
	if cfg.TableName == "" {
		cfg.TableName = DefaultTableName
	}
	if cfg.MinSyncPeriod == 0 {
		cfg.MinSyncPeriod = time.Millisecond
	}
	if cfg.FullSyncPeriod == 0 {
		cfg.FullSyncPeriod = time.Hour
	}
	if cfg.NewNFT == nil {
		cfg.NewNFT = func(f knftables.Family, table string) (knftables.Interface, error) { return knftables.New(f, table) }
	}
	if cfg.Conntrack == nil {
		h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil {
			return nil, fmt.Errorf("proxy: opening conntrack netlink: %w", err)
		}
		cfg.Conntrack = h
	}
	p := &Proxier{
		cfg:    cfg,
		dirty:  map[string]bool{},
		routed: map[string][]netip.Addr{},
		full:   true,
		kick:   make(chan struct{}, 1),
		synced: make(chan struct{}),
	}
	for _, fam := range []family{familyV4, familyV6} {
		if err := p.addFamily(fam); err != nil {
			return nil, err
		}
	}
	svcInf := cfg.Informers.Core().V1().Services()
	sliceInf := cfg.Informers.Discovery().V1().EndpointSlices()
	p.services, p.slices = svcInf.Lister(), sliceInf.Lister()
	p.cacheSynced = []cache.InformerSynced{svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced}
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.onService,
		UpdateFunc: func(_, cur any) { p.onService(cur) },
		DeleteFunc: p.onService,
	}); err != nil {
		return nil, fmt.Errorf("proxy: watching services: %w", err)
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.onSlice,
		UpdateFunc: func(_, cur any) { p.onSlice(cur) },
		DeleteFunc: p.onSlice,
	}); err != nil {
		return nil, fmt.Errorf("proxy: watching endpointslices: %w", err)
	}
	if cfg.WriteLoadBalancerStatus {
		p.lbQueue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	}
	return p, nil
}

func (p *Proxier) addFamily(fam family) error {
	var cidrs []netip.Prefix
	for _, c := range p.cfg.ServiceCIDRs {
		if c.Addr().Is4() == fam.v4 {
			cidrs = append(cidrs, c)
		}
	}
	if len(cidrs) == 0 {
		return nil
	}
	nft, err := p.cfg.NewNFT(fam.nft, p.cfg.TableName)
	if err != nil {
		return fmt.Errorf("proxy: opening nftables %s table %s: %w", fam.nft, p.cfg.TableName, err)
	}
	t := &familyTable{gen: generator{fam: fam}, nft: nft, serviceCIDRs: cidrs, applied: map[string]*objects{}}
	for _, c := range p.cfg.ClusterCIDRs {
		if c.Addr().Is4() == fam.v4 {
			t.gen.clusterCIDRs = append(t.gen.clusterCIDRs, c)
		}
	}
	p.tables = append(p.tables, t)
	return nil
}

// SetBridgeGateways replaces Config.BridgeGateways (the pod CIDR, and so
// the bridge's gateway address, arrives after the node registers) and
// rewrites the table with the new NodePort addresses.
func (p *Proxier) SetBridgeGateways(gws []netip.Addr) {
	p.mu.Lock()
	p.cfg.BridgeGateways = append([]netip.Addr(nil), gws...)
	p.full = true
	p.mu.Unlock()
	p.poke()
}

// unsafeNodePortIPs are the addresses NodePorts are served on for one family.
// Caller holds p.mu.
func (p *Proxier) unsafeNodePortIPs(fam family) []netip.Addr {
	var out []netip.Addr
	for _, a := range append(append([]netip.Addr{}, p.cfg.NodeIPs...), p.cfg.BridgeGateways...) {
		if a.Is4() == fam.v4 {
			out = append(out, a)
		}
	}
	return out
}

func (p *Proxier) onService(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	svc, ok := obj.(*v1.Service)
	if !ok {
		return
	}
	key := svc.Namespace + "/" + svc.Name
	p.markDirty(key)
	if p.lbQueue != nil && (svc.Spec.Type == v1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0) {
		p.lbQueue.Add(key)
	}
}

func (p *Proxier) onSlice(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	p.markDirty(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
}

func (p *Proxier) markDirty(key string) {
	p.mu.Lock()
	p.dirty[key] = true
	p.mu.Unlock()
	p.poke()
}

func (p *Proxier) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Synced is closed once the first full sync has reached the kernel.
func (p *Proxier) Synced() <-chan struct{} { return p.synced }

// Run syncs until ctx ends, then deletes the proxy's tables. It starts
// the informers it was given (starting is idempotent).
func (p *Proxier) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("component", "proxy")
	defer p.cleanup(logger)
	p.cfg.Informers.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), p.cacheSynced...) {
		return nil
	}
	if p.lbQueue != nil {
		var wg sync.WaitGroup
		wg.Go(func() { p.runLoadBalancerStatus(ctx) })
		defer wg.Wait()
		defer p.lbQueue.ShutDown()
	}
	p.poke()
	fullTicker := time.NewTicker(p.cfg.FullSyncPeriod)
	defer fullTicker.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-fullTicker.C:
			p.mu.Lock()
			p.full = true
			p.mu.Unlock()
		case <-p.kick:
		}
		if wait := p.cfg.MinSyncPeriod - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		last = time.Now()
		if err := p.syncOnce(ctx); err != nil {
			logger.Error(err, "Service proxy sync failed; retrying with a full sync")
			time.AfterFunc(time.Second, p.poke)
			continue
		}
		p.syncedOnce.Do(func() { close(p.synced) })
	}
}

// cleanup deletes the tables with a fresh context: Run's has ended.
func (p *Proxier) cleanup(logger klog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, t := range p.tables {
		if err := t.deleteTable(ctx); err != nil {
			logger.Error(err, "Removing service proxy rules")
		}
	}
}

// syncOnce takes the pending work and writes it to every family's table.
// On failure the work is not lost: the next sync is a full one.
func (p *Proxier) syncOnce(ctx context.Context) error {
	p.mu.Lock()
	full, dirty := p.full, p.dirty
	p.full, p.dirty = false, map[string]bool{}
	for _, t := range p.tables {
		t.nodePortIPs = p.unsafeNodePortIPs(t.gen.fam)
	}
	p.mu.Unlock()
	if !full && len(dirty) == 0 {
		return nil
	}
	start := time.Now()
	routed := map[string][]netip.Addr{}
	for _, t := range p.tables {
		desired, err := p.desired(t, full, dirty, routed)
		var flows []flowFilter
		if err == nil {
			flows, err = t.sync(ctx, desired, full)
		}
		if err != nil {
			p.mu.Lock()
			p.full = true
			p.mu.Unlock()
			return err
		}
		// The rules are right already; a failed cleanup only leaves some
		// UDP flows on old paths until they time out, so it is logged, not
		// retried.
		if err := deleteFlows(p.cfg.Conntrack, t.gen.fam, flows); err != nil {
			klog.FromContext(ctx).Error(err, "Cleaning up UDP conntrack entries")
		}
	}
	p.mu.Lock()
	if full {
		p.routed = routed
	} else {
		for key := range dirty {
			if addrs := routed[key]; len(addrs) > 0 {
				p.routed[key] = addrs
			} else {
				delete(p.routed, key)
			}
		}
	}
	p.mu.Unlock()
	p.lastSync = time.Since(start)
	klog.FromContext(ctx).V(4).Info("Synced service proxy rules", "full", full, "services", len(dirty), "took", p.lastSync)
	return nil
}

// desired computes the objects of the dirty Services, or of all Services
// for a full sync, from the informers' caches.
// routed collects the addresses each Service's rules send connections to.
func (p *Proxier) desired(t *familyTable, full bool, dirty map[string]bool, routed map[string][]netip.Addr) (map[string]*objects, error) {
	out := map[string]*objects{}
	if full {
		svcs, err := p.services.List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("listing services: %w", err)
		}
		for _, svc := range svcs {
			dirty[svc.Namespace+"/"+svc.Name] = true
		}
	}
	for key := range dirty {
		o, addrs, err := p.serviceObjects(t, key)
		if err != nil {
			return nil, err
		}
		out[key] = o
		routed[key] = append(routed[key], addrs...)
	}
	return out, nil
}

// serviceObjects returns a Service's objects for one family and the
// endpoint addresses they route new connections to.
func (p *Proxier) serviceObjects(t *familyTable, key string) (*objects, []netip.Addr, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, nil, err
	}
	svc, err := p.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("getting service %s: %w", key, err)
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
	slices, err := p.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return nil, nil, fmt.Errorf("listing endpointslices of %s: %w", key, err)
	}
	o := newObjects()
	var addrs []netip.Addr
	ports := servicePorts(svc, slices, t.gen.fam, p.cfg.NodeName)
	for i := range ports {
		t.gen.servicePortObjects(o, &ports[i])
		for _, ep := range usable(ports[i].endpoints, false) {
			addrs = append(addrs, ep.addr)
		}
	}
	return o, addrs, nil
}

// RoutesTo reports whether the rules in the kernel send new connections
// to ip: whether any Service's usable endpoints, as last programmed, hold
// it. The node agent waits while this holds before it signals a deleted
// pod's containers, so that the pod leaves the rotation first.
func (p *Proxier) RoutesTo(ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, addrs := range p.routed {
		for _, a := range addrs {
			if a == addr {
				return true
			}
		}
	}
	return false
}
