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
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/admission"
	"github.com/skiff-sh/skiff/internal/admission/defaulttolerationseconds"
	"github.com/skiff-sh/skiff/internal/admission/limitranger"
	"github.com/skiff-sh/skiff/internal/admission/resourcequota"
	"github.com/skiff-sh/skiff/internal/agent/simulated"
	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/apiserver/discovery"
	"github.com/skiff-sh/skiff/internal/controller/manager"
	"github.com/skiff-sh/skiff/internal/openapi"
	"github.com/skiff-sh/skiff/internal/pki"
	"github.com/skiff-sh/skiff/internal/registry/builtin"
	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/bolt"
	"github.com/skiff-sh/skiff/internal/version"
)

// Config is what `skiff server` needs from its flags.
type Config struct {
	DataDir     string
	BindAddress string
	HTTPSPort   int
	// AdvertiseAddress is where pods reach the API server: the endpoint of
	// Service default/kubernetes, served as well as BindAddress. Empty
	// means the real node's pod gateway (the first address of its pod
	// CIDR) when Agent is set, else BindAddress unless it is loopback, in
	// which case the Service gets no endpoints.
	AdvertiseAddress string
	// Agent runs a real node in this process, on containerd through CRI;
	// nil runs none (`skiff server --disable-agent`, and every test
	// server).
	Agent *AgentConfig
	// ServiceCIDR is where ClusterIPs are allocated from.
	ServiceCIDR string
	// CompactInterval is how often store history older than one interval
	// is discarded; 0 means 5 minutes.
	CompactInterval time.Duration
	// DisableControllers runs the API server alone (tests of a single
	// controller start their own).
	DisableControllers bool
	// SimulatedNodes registers that many simulated nodes in this process.
	SimulatedNodes int
	// Controllers lists the controllers to run, given their loopback
	// connection (cmd/skiff passes the built-in list); nil runs none.
	Controllers func(loopback *rest.Config) []manager.Controller
	// DefaultTolerationSeconds is how long pods tolerate a not-ready or
	// unreachable node by default (upstream's admission default: 300).
	DefaultTolerationSeconds int64
	// Ready, when set, is closed once the API server serves requests.
	Ready chan<- struct{}
	Log   *slog.Logger
}

// Run starts every server component and blocks until ctx is done, then
// shuts down cleanly: in-flight requests finish, watches end, the store
// flushes and closes.
func Run(ctx context.Context, cfg Config) error {
	start := time.Now()
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	serviceCIDR, err := netip.ParsePrefix(cfg.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("invalid --service-cidr %q: %w", cfg.ServiceCIDR, err)
	}
	advertise, err := parseAdvertiseAddress(cfg.AdvertiseAddress, serviceCIDR)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	// Listen first: a taken port fails fast, and port 0 (tests) resolves to
	// the real port before the kubeconfig is written.
	addr := net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.HTTPSPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	defer ln.Close()
	pkiOpts := pki.Options{
		BindAddress: cfg.BindAddress,
		Port:        ln.Addr().(*net.TCPAddr).Port,
		ServiceIP:   net.IP(serviceCIDR.Addr().Next().AsSlice()),
		Log:         log,
	}
	if advertise.IsValid() {
		pkiOpts.ExtraSANs = []string{advertise.String()}
	}
	bundle, err := pki.Ensure(cfg.DataDir, pkiOpts)
	if err != nil {
		return err
	}

	dbDir := filepath.Join(cfg.DataDir, "db")
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return fmt.Errorf("creating database dir: %w", err)
	}
	// The watch cache keeps the history clients watch from, so the store's
	// own in-memory event ring only needs to bridge short gaps.
	store, err := bolt.Open(filepath.Join(dbDir, "skiff.db"), bolt.Options{WatchCacheSize: 1024})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()

	// Admission plugins read LimitRanges and ResourceQuotas through an
	// informer on their own loopback connection, started once serving.
	admConfig, err := loopbackConfig(bundle, ln.Addr(), "skiff:admission")
	if err != nil {
		return err
	}
	admClient, err := kubernetes.NewForConfig(admConfig)
	if err != nil {
		return fmt.Errorf("admission client: %w", err)
	}
	admInformers := informers.NewSharedInformerFactory(admClient, 0)
	tolerationSeconds := cfg.DefaultTolerationSeconds
	if tolerationSeconds <= 0 {
		tolerationSeconds = 300
	}
	api, err := newAPIServer(store, serviceCIDR, log, &bundle.KubeletClient,
		[]admission.Plugin{
			defaulttolerationseconds.NewWithSeconds(tolerationSeconds, tolerationSeconds),
			limitranger.New(admClient, admInformers),
		},
		[]admission.Plugin{resourcequota.New(admClient, admInformers)})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := api.Start(runCtx); err != nil {
		return err
	}
	interval := cfg.CompactInterval
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	go storage.RunCompactor(runCtx, store, interval, log.With("component", "compactor"))

	// The certificate can change while serving: the node's pod gateway
	// becomes an advertise address, and a SAN, only once node IPAM ran.
	var serving atomic.Pointer[tls.Certificate]
	serving.Store(&bundle.Serving)
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Watches end when the server stops, not only when clients leave.
		BaseContext: func(net.Listener) context.Context { return runCtx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:   servingTLSConfig(bundle, &serving),
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	adv, err := startKubernetesService(runCtx, bootstrapConfig{
		bundle: bundle, loopback: ln.Addr(), srv: srv, cert: &serving, serviceCIDR: serviceCIDR,
		bind: bindAddr(cfg.BindAddress), advertise: advertise, agent: cfg.Agent, log: log,
	})
	if err != nil {
		return err
	}
	defer adv.close()
	if cfg.SimulatedNodes > 0 {
		if err := startSimulatedNodes(runCtx, bundle, ln.Addr(), cfg.SimulatedNodes, log); err != nil {
			return err
		}
	}
	admInformers.Start(runCtx.Done())
	defer admInformers.Shutdown()
	if cfg.Agent != nil {
		nodeDone, err := startRealNode(runCtx, bundle, ln.Addr(), cfg.DataDir, serviceCIDR, *cfg.Agent, log)
		if err != nil {
			return err
		}
		// Run returns only once the node stopped, containerd with it.
		defer func() { <-nodeDone }()
		defer stop()
	}
	if !cfg.DisableControllers && cfg.Controllers != nil {
		if err := startControlPlane(runCtx, bundle, ln.Addr(), cfg.Controllers, log); err != nil {
			return err
		}
	}
	log.Info("skiff API server ready", "address", "https://"+ln.Addr().String(),
		"kubeconfig", bundle.Paths.Kubeconfig, "startup", time.Since(start).Round(time.Millisecond))
	if cfg.Ready != nil {
		close(cfg.Ready)
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("shutting down")
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutting down HTTP server", "err", err)
	}
	return nil
}

// servingTLSConfig serves the certificate cert points at, which may be
// swapped while serving, and verifies client certificates against the
// cluster CA.
func servingTLSConfig(bundle *pki.Bundle, cert *atomic.Pointer[tls.Certificate]) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.Load(), nil },
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      bundle.CAPool,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// startControlPlane starts the controllers (behind leader election) in the
// background; they connect to the API server like any client.
func startControlPlane(ctx context.Context, bundle *pki.Bundle, addr net.Addr, list func(*rest.Config) []manager.Controller, log *slog.Logger) error {
	cfg, err := loopbackConfig(bundle, addr, "skiff:controller-manager")
	if err != nil {
		return err
	}
	go func() {
		err := manager.Run(ctx, manager.Config{RESTConfig: cfg, LeaseName: "skiff-controller-manager",
			Controllers: list(cfg), Log: log.With("component", "controller-manager")})
		if err != nil {
			log.Error("controller manager", "err", err)
		}
	}()
	return nil
}

// startSimulatedNodes registers n simulated nodes in this process; they
// share one client and one pod watch.
func startSimulatedNodes(ctx context.Context, bundle *pki.Bundle, addr net.Addr, n int, log *slog.Logger) error {
	rc, err := loopbackConfig(bundle, addr, "skiff:simulated-nodes")
	if err != nil {
		return err
	}
	go func() {
		err := simulated.Run(ctx, simulated.Config{RESTConfig: rc, Nodes: n, Log: log.With("component", "simulated-nodes")})
		if err != nil && ctx.Err() == nil {
			log.Error("simulated nodes", "err", err)
		}
	}()
	return nil
}

// newAPIServer assembles the API server from the built-in resources.
func newAPIServer(store storage.Store, serviceCIDR netip.Prefix, log *slog.Logger, kubeletCert *tls.Certificate, mutating, validating []admission.Plugin) (*apiserver.Server, error) {
	scheme, err := builtin.NewScheme()
	if err != nil {
		return nil, err
	}
	resources := builtin.Resources(builtin.Config{ServiceCIDR: serviceCIDR})
	oapi, err := openapi.New(resources, scheme)
	if err != nil {
		return nil, fmt.Errorf("building OpenAPI documents: %w", err)
	}
	return apiserver.New(apiserver.Config{
		Store:     store,
		Scheme:    scheme,
		Resources: resources,
		Discovery: discovery.New(resources),
		OpenAPI:   oapi,

		Admission:  mutating,
		Validation: validating,
		Version:    version.Info(),
		Log:        log,

		KubeletClientCert: kubeletCert,
	})
}
