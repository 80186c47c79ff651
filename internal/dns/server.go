package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Defaults, as kubelet's clusterDomain and CoreDNS's kubernetes plugin.
const (
	DefaultDomain     = "cluster.local"
	DefaultResolvConf = "/etc/resolv.conf"
	DefaultTTL        = 5
	defaultTimeout    = 2 * time.Second
	// maxUDPSize caps what we send over UDP whatever a client advertises;
	// 1232 is the DNS flag day 2020 size that avoids IP fragmentation.
	maxUDPSize = 1232
	// sliceServiceIndex indexes EndpointSlices by namespace/service.
	sliceServiceIndex = "skiff-dns-service"
)

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	// Domain is the cluster domain the server is authoritative for.
	Domain string
	// Informers supplies Services, EndpointSlices and Namespaces. New
	// registers its informers and handlers; the caller calls Start on the
	// factory afterwards (again, if it was already started for others).
	Informers informers.SharedInformerFactory
	// Upstreams are the resolvers ("ip" or "ip:port") for names outside the
	// domain. When empty they are read from ResolvConf.
	Upstreams []string
	// ResolvConf is read for upstream nameservers when Upstreams is empty.
	ResolvConf string
	// NameserverIPs, if set, answer ns.dns.<domain>, the target of the zone's
	// NS record (CoreDNS answers it with its own Service address).
	NameserverIPs []string
	// TTL of every record served from the cluster zone, in seconds.
	TTL uint32
	// UpstreamTimeout bounds one exchange with one upstream.
	UpstreamTimeout time.Duration
}

// Server answers the cluster zone from memory and forwards other names.
type Server struct {
	zone     string // lower-case FQDN, "cluster.local."
	ttl      uint32
	table    *table
	fwd      *forwarder
	nsAddrs  []dns.RR
	nsStore  cache.Store
	svcStore cache.Store
	slices   cache.Indexer
	synced   []cache.InformerSynced
	ready    atomic.Bool
	// updateMu serialises rebuilds, so two handlers building the same
	// Service from the cache cannot install their results out of order.
	updateMu sync.Mutex
}

// New builds a Server and registers its informer handlers. It reads
// ResolvConf once, here.
func New(cfg Config) (*Server, error) {
	if cfg.Informers == nil {
		return nil, errors.New("dns: Config.Informers is required")
	}
	domain := strings.Trim(strings.ToLower(cfg.Domain), ".")
	if domain == "" {
		domain = DefaultDomain
	}
	if _, ok := dns.IsDomainName(domain); !ok {
		return nil, fmt.Errorf("dns: invalid cluster domain %q", cfg.Domain)
	}
	s := &Server{zone: dns.Fqdn(domain), ttl: cfg.TTL, table: newTable()}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	if err := s.setNameservers(cfg.NameserverIPs); err != nil {
		return nil, err
	}
	fwd, err := newForwarder(cfg)
	if err != nil {
		return nil, err
	}
	s.fwd = fwd
	if err := s.register(cfg.Informers); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) setNameservers(ips []string) error {
	name := "ns.dns." + s.zone
	for _, ip := range ips {
		parsed := net.ParseIP(ip)
		switch {
		case parsed == nil:
			return fmt.Errorf("dns: invalid nameserver address %q", ip)
		case parsed.To4() != nil:
			s.nsAddrs = append(s.nsAddrs, &dns.A{Hdr: s.hdr(name, dns.TypeA), A: parsed.To4()})
		default:
			s.nsAddrs = append(s.nsAddrs, &dns.AAAA{Hdr: s.hdr(name, dns.TypeAAAA), AAAA: parsed})
		}
	}
	s.nsAddrs = slices.Clip(s.nsAddrs) // shared by replies, see buildService
	return nil
}

func (s *Server) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.ttl}
}

func (s *Server) register(f informers.SharedInformerFactory) error {
	svcInf := f.Core().V1().Services().Informer()
	sliceInf := f.Discovery().V1().EndpointSlices().Informer()
	nsInf := f.Core().V1().Namespaces().Informer()
	if err := sliceInf.AddIndexers(cache.Indexers{sliceServiceIndex: sliceServiceKeys}); err != nil {
		return fmt.Errorf("dns: indexing EndpointSlices by service: %w", err)
	}
	s.svcStore, s.slices, s.nsStore = svcInf.GetStore(), sliceInf.GetIndexer(), nsInf.GetStore()

	svcReg, err := svcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.syncObject(obj) },
		UpdateFunc: func(_, obj any) { s.syncObject(obj) },
		DeleteFunc: func(obj any) { s.syncObject(obj) },
	})
	if err != nil {
		return fmt.Errorf("dns: watching services: %w", err)
	}
	sliceReg, err := sliceInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.syncSlice(obj) },
		UpdateFunc: func(old, obj any) {
			// A slice relabelled to another Service changes both.
			s.syncSlice(old)
			s.syncSlice(obj)
		},
		DeleteFunc: func(obj any) { s.syncSlice(obj) },
	})
	if err != nil {
		return fmt.Errorf("dns: watching endpointslices: %w", err)
	}
	nsReg, err := nsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{})
	if err != nil {
		return fmt.Errorf("dns: watching namespaces: %w", err)
	}
	// The registrations' HasSynced turn true only after the handlers have
	// seen the initial list, so readiness means the table is complete.
	s.synced = []cache.InformerSynced{svcReg.HasSynced, sliceReg.HasSynced, nsReg.HasSynced}
	return nil
}

func sliceServiceKeys(obj any) ([]string, error) {
	sl, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := sl.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{sl.Namespace + "/" + name}, nil
}

func (s *Server) syncObject(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		s.syncService(t.Key)
		return
	}
	if svc, ok := obj.(*corev1.Service); ok {
		s.syncService(svc.Namespace + "/" + svc.Name)
	}
}

func (s *Server) syncSlice(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	keys, _ := sliceServiceKeys(obj)
	for _, k := range keys {
		s.syncService(k)
	}
}

// syncService rebuilds one Service's records from the informer caches. It
// reads the caches, not the event, so whichever handler runs last installs
// the current state.
func (s *Server) syncService(key string) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	var recs *serviceRecords
	if obj, exists, err := s.svcStore.GetByKey(key); err == nil && exists {
		svc := obj.(*corev1.Service)
		objs, _ := s.slices.ByIndex(sliceServiceIndex, key)
		sl := make([]*discoveryv1.EndpointSlice, 0, len(objs))
		for _, o := range objs {
			sl = append(sl, o.(*discoveryv1.EndpointSlice))
		}
		recs = buildService(svc, sl, s.zone, s.ttl)
	}
	s.table.replace(key, recs, time.Now())
}

// Ready reports whether the handlers have seen the informers' initial lists.
// Until then a name the table does not know is answered SERVFAIL rather
// than NXDOMAIN, as CoreDNS does, so clients retry instead of caching it.
func (s *Server) Ready() bool {
	if s.ready.Load() {
		return true
	}
	for _, f := range s.synced {
		if !f() {
			return false
		}
	}
	s.ready.Store(true)
	return true
}

// Domain is the cluster domain served, without the trailing dot.
func (s *Server) Domain() string { return strings.TrimSuffix(s.zone, ".") }

// Listener is a UDP socket and a TCP listener bound to one address.
type Listener struct {
	Packet net.PacketConn
	Stream net.Listener
}

// Addr is the bound address (the same port for both protocols).
func (l Listener) Addr() string { return l.Packet.LocalAddr().String() }

// Close closes both sockets.
func (l Listener) Close() error {
	return errors.Join(l.Packet.Close(), l.Stream.Close())
}

// Listen binds UDP and TCP on addr. With port 0 it picks a port free for
// both, retrying a few times when TCP finds the UDP port taken.
func Listen(addr string) (Listener, error) {
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return Listener{}, fmt.Errorf("dns: listening on udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return Listener{Packet: pc, Stream: ln}, nil
		}
		pc.Close()
		lastErr = fmt.Errorf("dns: listening on tcp %s: %w", pc.LocalAddr(), err)
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return Listener{}, lastErr
}

// Serve listens on every address (UDP and TCP) and answers until ctx ends,
// then closes the listeners and returns nil.
func (s *Server) Serve(ctx context.Context, addrs ...string) error {
	var ls []Listener
	for _, a := range addrs {
		l, err := Listen(a)
		if err != nil {
			for _, open := range ls {
				open.Close()
			}
			return err
		}
		ls = append(ls, l)
	}
	return s.ServeListeners(ctx, ls...)
}

// ServeListeners answers on already bound listeners until ctx ends, then
// shuts them down. It returns the first serving error, if any.
func (s *Server) ServeListeners(ctx context.Context, ls ...Listener) error {
	if len(ls) == 0 {
		return errors.New("dns: no listeners")
	}
	logger := klog.FromContext(ctx)
	started := make(chan struct{}, 2*len(ls))
	notify := func() { started <- struct{}{} }
	var servers []*dns.Server
	for _, l := range ls {
		servers = append(servers,
			&dns.Server{PacketConn: l.Packet, Handler: s, UDPSize: dns.DefaultMsgSize, NotifyStartedFunc: notify},
			&dns.Server{Listener: l.Stream, Handler: s, NotifyStartedFunc: notify})
		logger.V(2).Info("Serving cluster DNS", "addr", l.Addr(), "domain", s.Domain())
	}
	if len(s.fwd.upstreams) == 0 {
		logger.Info("No upstream resolvers: names outside the cluster domain will fail", "domain", s.Domain())
	}
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errs <- srv.ActivateAndServe() }()
	}
	// Shutdown refuses a server that has not started yet, which would then
	// run forever: wait until every one is up (or one failed) first.
	var first error
	for range servers {
		select {
		case <-started:
		case err := <-errs:
			first = fmt.Errorf("dns: serving: %w", err)
		}
		if first != nil {
			break
		}
	}
	if first == nil {
		select {
		case <-ctx.Done():
		case err := <-errs:
			first = fmt.Errorf("dns: serving: %w", err)
		}
	}
	for _, srv := range servers {
		// A server that failed to start reports an error here; the
		// interesting one was already taken from errs.
		_ = srv.Shutdown()
	}
	for _, l := range ls {
		l.Close()
	}
	return first
}
