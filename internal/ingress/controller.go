package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Defaults for Config.
const (
	DefaultControllerName = "skiff.dev/ingress"
	DefaultClassName      = "skiff"
	defaultDrainTimeout   = 10 * time.Second
)

// Config is what one node's Ingress controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers is shared with the node's other components; Run starts
	// it (starting is idempotent) and waits for the caches it uses.
	Informers informers.SharedInformerFactory
	// HTTPAddr and HTTPSAddr are where the proxy listens (":80", ":443";
	// tests use "127.0.0.1:0"); empty disables that listener.
	HTTPAddr, HTTPSAddr string
	// NodeIPs are published in status.loadBalancer of served Ingresses;
	// empty leaves status alone. With several nodes, give every node the
	// same list (or only one node a list), or they overwrite each other.
	NodeIPs []string
	// ControllerName and ClassName default to skiff.dev/ingress and skiff.
	ControllerName, ClassName string
	// DrainTimeout bounds how long Run waits for in-flight requests when
	// ctx ends; 0 means 10s.
	DrainTimeout time.Duration
}

// Controller is the Ingress controller and L7 proxy of one node.
type Controller struct {
	cfg         Config
	ingresses   networkinglisters.IngressLister
	classes     networkinglisters.IngressClassLister
	services    corelisters.ServiceLister
	slices      discoverylisters.EndpointSliceLister
	sliceIndex  cache.Indexer // nil when the index could not be added
	secrets     corelisters.SecretLister
	synced      []cache.InformerSynced
	statusQueue workqueue.TypedRateLimitingInterface[string]

	table       atomic.Pointer[table]
	pool        *pool
	defaultCert *tls.Certificate
	// certCache is touched only by the rebuilding goroutine.
	certCache map[string]cachedCert

	// mu guards the dirty state the event handlers fill and the worker
	// drains; kick wakes the worker.
	mu         sync.Mutex
	dirtyAll   bool
	dirtySvcs  map[string]struct{}
	dirtySecrs map[string]struct{}
	kick       chan struct{}

	ready               chan struct{}
	httpAddr, httpsAddr string // set before ready is closed
}

// sliceServiceIndex indexes EndpointSlices by "namespace/service".
const sliceServiceIndex = "skiff-ingress-service"

// New registers the informers the controller needs; Run serves.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Informers == nil {
		return nil, errors.New("ingress: Config needs Client and Informers")
	}
	if cfg.ControllerName == "" {
		cfg.ControllerName = DefaultControllerName
	}
	if cfg.ClassName == "" {
		cfg.ClassName = DefaultClassName
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = defaultDrainTimeout
	}
	cert, err := selfSignedCert()
	if err != nil {
		return nil, err
	}
	c := &Controller{
		cfg:         cfg,
		pool:        newPool(),
		defaultCert: cert,
		certCache:   map[string]cachedCert{},
		dirtyAll:    true,
		dirtySvcs:   map[string]struct{}{},
		dirtySecrs:  map[string]struct{}{},
		kick:        make(chan struct{}, 1),
		ready:       make(chan struct{}),
		statusQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ingress-status"}),
	}
	if err := c.register(); err != nil {
		return nil, err
	}
	return c, nil
}

// register wires the event handlers. Handlers only mark what is dirty;
// the worker decides whether it matters, against the table it will
// build, so no event is lost to a table that is being replaced.
func (c *Controller) register() error {
	f := c.cfg.Informers
	ing := f.Networking().V1().Ingresses()
	cls := f.Networking().V1().IngressClasses()
	svc := f.Core().V1().Services()
	sl := f.Discovery().V1().EndpointSlices()
	sec := f.Core().V1().Secrets()
	c.ingresses, c.classes, c.services = ing.Lister(), cls.Lister(), svc.Lister()
	c.slices, c.secrets = sl.Lister(), sec.Lister()

	all := func(any) { c.markAll() }
	ingChanged := func(old, cur any) {
		if o, ok := old.(*networkingv1.Ingress); ok {
			if n, ok := cur.(*networkingv1.Ingress); ok && !routingChanged(o, n) {
				// Status writes (ours included) change nothing we route
				// on; only check the status is still what we publish.
				c.checkStatus(n)
				return
			}
		}
		c.markAll()
	}
	svcKey := func(obj any) { c.markService(objectKey(obj)) }
	sliceKey := func(obj any) { c.markService(sliceServiceKey(obj)) }
	secKey := func(obj any) { c.markSecret(objectKey(obj)) }
	informersAndHandlers := []struct {
		inf cache.SharedIndexInformer
		fn  func(any)
	}{
		{ing.Informer(), all}, {cls.Informer(), all}, {svc.Informer(), svcKey},
		{sl.Informer(), sliceKey}, {sec.Informer(), secKey},
	}
	for _, ih := range informersAndHandlers {
		fn := ih.fn
		update := func(_, obj any) { fn(obj) }
		if ih.inf == ing.Informer() {
			update = ingChanged
		}
		_, err := ih.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { fn(obj) },
			UpdateFunc: update,
			DeleteFunc: func(obj any) { fn(obj) },
		})
		if err != nil {
			return fmt.Errorf("ingress: add event handler: %w", err)
		}
		c.synced = append(c.synced, ih.inf.HasSynced)
	}
	// The index makes a backend's slices a map lookup; if another
	// component already started the shared informer it cannot be added,
	// and a label-selector list of the namespace does the same job.
	if err := sl.Informer().AddIndexers(cache.Indexers{sliceServiceIndex: indexSliceByService}); err == nil {
		c.sliceIndex = sl.Informer().GetIndexer()
	}
	return nil
}

func indexSliceByService(obj any) ([]string, error) {
	if k := sliceServiceKey(obj); k != "" {
		return []string{k}, nil
	}
	return nil, nil
}

func sliceServiceKey(obj any) string {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return ""
	}
	return s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
}

func objectKey(obj any) string {
	k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return ""
	}
	return k
}

func (c *Controller) markAll() {
	c.mu.Lock()
	c.dirtyAll = true
	c.mu.Unlock()
	c.wake()
}

func (c *Controller) markService(key string) {
	if key == "" {
		return
	}
	c.mu.Lock()
	c.dirtySvcs[key] = struct{}{}
	c.mu.Unlock()
	c.wake()
}

func (c *Controller) markSecret(key string) {
	if key == "" {
		return
	}
	c.mu.Lock()
	c.dirtySecrs[key] = struct{}{}
	c.mu.Unlock()
	c.wake()
}

func (c *Controller) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Ready is closed once the caches synced, the first table is built and
// the listeners are bound.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// HTTPAddr and HTTPSAddr are the bound listener addresses, valid after
// Ready; empty when that listener is disabled.
func (c *Controller) HTTPAddr() string  { return c.httpAddr }
func (c *Controller) HTTPSAddr() string { return c.httpsAddr }

// Run serves until ctx ends, then stops accepting, waits up to
// DrainTimeout for in-flight requests and closes backend connections.
// Call it once. Upgraded (WebSocket) connections are not waited for:
// they are no longer tracked once upgraded, as net/http does with
// hijacked ones, and they end with the process.
func (c *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("ingress")
	ctx = klog.NewContext(ctx, logger)
	c.cfg.Informers.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended first: a normal shutdown
	}
	if err := c.ensureClass(ctx); err != nil {
		// Not fatal: an admin may create the class, and its event
		// brings the Ingresses in.
		logger.Error(err, "Creating the default IngressClass")
	}
	c.sync(ctx)
	servers, err := c.listen()
	if err != nil {
		return err
	}
	close(c.ready)
	logger.Info("Ingress proxy serving", "http", c.httpAddr, "https", c.httpsAddr)

	// runCtx also ends when a listener fails, so the workers stop too.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ctx = runCtx
	var wg sync.WaitGroup
	wg.Go(func() { c.worker(ctx) })
	wg.Go(func() { _ = c.statusWorkers().Run(ctx) })
	errc := make(chan error, len(servers))
	for _, s := range servers {
		wg.Go(func() { errc <- s.serve() })
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("ingress: serve: %w", err)
	}
	stop()
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.DrainTimeout)
	defer cancel()
	for _, s := range servers {
		// Past the drain timeout the stragglers are cut off.
		s.shutdown(drainCtx)
	}
	wg.Wait()
	c.pool.close()
	return err
}

// worker applies what the event handlers marked dirty: a full rebuild
// when Ingresses, classes or referenced Secrets changed, otherwise a
// refresh of just the backends of the services whose endpoints changed.
func (c *Controller) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		c.sync(ctx)
	}
}

func (c *Controller) sync(ctx context.Context) {
	c.mu.Lock()
	all, svcs, secrs := c.dirtyAll, c.dirtySvcs, c.dirtySecrs
	c.dirtyAll, c.dirtySvcs, c.dirtySecrs = false, map[string]struct{}{}, map[string]struct{}{}
	c.mu.Unlock()

	t := c.table.Load()
	for k := range secrs {
		if t == nil {
			break
		}
		if _, ok := t.secrets[k]; ok {
			all = true
		}
	}
	if all || t == nil {
		c.rebuild(ctx)
		return
	}
	changed := false
	for k := range svcs {
		for _, b := range t.backends[k] {
			b.eps.Store(c.resolve(b))
			changed = true
		}
	}
	if changed {
		c.pool.retain(liveEndpoints(t))
	}
}

// ensureClass creates the skiff IngressClass, marked as the default,
// unless a class of that name already exists (the admin's word wins).
func (c *Controller) ensureClass(ctx context.Context) error {
	if _, err := c.classes.Get(c.cfg.ClassName); err == nil {
		return nil
	}
	class := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        c.cfg.ClassName,
			Annotations: map[string]string{defaultClassAnnotation: "true"},
		},
		Spec: networkingv1.IngressClassSpec{Controller: c.cfg.ControllerName},
	}
	_, err := c.cfg.Client.NetworkingV1().IngressClasses().Create(ctx, class, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create IngressClass %s: %w", c.cfg.ClassName, err)
	}
	return nil
}

func (c *Controller) listen() ([]*frontend, error) {
	var out []*frontend
	for _, l := range []struct {
		addr string
		tls  bool
		dst  *string
	}{{c.cfg.HTTPAddr, false, &c.httpAddr}, {c.cfg.HTTPSAddr, true, &c.httpsAddr}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, f := range out {
				_ = f.ln.Close()
			}
			return nil, fmt.Errorf("ingress: listen on %s: %w", l.addr, err)
		}
		*l.dst = ln.Addr().String()
		var tlsConfig *tls.Config
		if l.tls {
			tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.getCertificate}
		}
		out = append(out, newFrontend(c, ln, tlsConfig))
	}
	return out, nil
}

// getCertificate picks the certificate of the Ingress TLS entry naming
// the SNI host, falling back to the self-signed default.
func (c *Controller) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if t := c.table.Load(); t != nil {
		if cert := t.certs.lookup(hello.ServerName); cert != nil {
			return cert, nil
		}
	}
	return c.defaultCert, nil
}

func (c *Controller) statusWorkers() controller.Workers[string] {
	return controller.Workers[string]{
		Name:         "ingress-status",
		Queue:        c.statusQueue,
		Count:        1,
		MaxRetries:   15,
		Synced:       c.synced,
		Sync:         c.syncStatus,
		KeyName:      "ingress",
		RetryMessage: "Retrying Ingress status",
		Dropped: func(key string, err error) error {
			return fmt.Errorf("dropping Ingress %s status out of the queue: %w", key, err)
		},
	}
}
