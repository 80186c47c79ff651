package kubeletserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// DefaultPort is the kubelet's port, reported in the Node's
// status.daemonEndpoints.kubeletEndpoint.port.
const DefaultPort = 10250

// Runtime is what the server needs of every container runtime: finding a
// pod's containers and sandboxes (agent.Runtime has both).
type Runtime interface {
	ListContainers(ctx context.Context, filter agent.ContainerFilter) ([]agent.ContainerStatus, error)
	ListPodSandboxes(ctx context.Context, filter agent.SandboxFilter) ([]agent.SandboxStatus, error)
}

// Streamer is implemented by runtimes that run real containers
// (*cri.Runtime): CRI's streaming calls, which return a URL on the
// runtime's own streaming server, and where a container's log file is. A
// runtime without it (the simulated one) answers every request with 400.
type Streamer interface {
	Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error)
	Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error)
	PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error)
	ContainerLog(ctx context.Context, containerID string) (path string, state agent.ContainerState, err error)
}

// Config configures the server.
type Config struct {
	// Addr is the listen address; empty means ":10250" (every interface,
	// as the kubelet's default 0.0.0.0:10250).
	Addr string
	// Pods finds a pod bound to this node by namespace and name:
	// (*agent.Agent).PodByName.
	Pods func(namespace, name string) (*corev1.Pod, bool)
	// Runtime is the node's container runtime.
	Runtime Runtime
	// ClientCAs verify callers' client certificates: the cluster CA, which
	// signs the API server's. Required: the server refuses unauthenticated
	// callers.
	ClientCAs *x509.CertPool
	// ServingCert is the server's certificate; nil generates a self-signed
	// one for Hosts at start, as the kubelet does without --tls-cert-file.
	ServingCert *tls.Certificate
	// Hosts are the names and IPs the self-signed certificate covers.
	Hosts []string
	Log   *slog.Logger
	// LogPollInterval is how often a followed log is checked for new
	// output; default 100ms.
	LogPollInterval time.Duration
}

// Server is the node's kubelet API: container logs, exec, attach and
// port-forward, for the API server to proxy to.
type Server struct {
	cfg     Config
	handler http.Handler
}

// New checks cfg and builds the server; it generates the self-signed
// serving certificate if none is given.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Pods == nil:
		return nil, errors.New("kubelet server: Pods is required")
	case cfg.Runtime == nil:
		return nil, errors.New("kubelet server: Runtime is required")
	case cfg.ClientCAs == nil:
		return nil, errors.New("kubelet server: ClientCAs is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = fmt.Sprintf(":%d", DefaultPort)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.LogPollInterval <= 0 {
		cfg.LogPollInterval = 100 * time.Millisecond
	}
	if cfg.ServingCert == nil {
		cert, err := SelfSignedCert(cfg.Hosts, time.Now())
		if err != nil {
			return nil, err
		}
		cfg.ServingCert = &cert
	}
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveLogs)
	for _, method := range []string{"GET", "POST"} {
		mux.HandleFunc(method+" /exec/{namespace}/{pod}/{container}", s.serveExec)
		mux.HandleFunc(method+" /attach/{namespace}/{pod}/{container}", s.serveAttach)
		mux.HandleFunc(method+" /portForward/{namespace}/{pod}", s.servePortForward)
	}
	// Profiling, as upstream's kubelet serves it (enableProfilingHandler),
	// reached through the API server's nodes/proxy.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	s.handler = s.authenticate(mux)
	return s, nil
}

// Handler serves the kubelet API's paths to authenticated callers; the
// request must have come over TLS with a client certificate (see
// TLSConfig).
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig is the listener's TLS configuration: the serving certificate,
// and client certificates requested but checked by Handler, so that a
// caller without a valid one gets a 401 rather than a failed handshake.
// HTTP/1.1 only: SPDY and WebSocket upgrades need it.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{*s.cfg.ServingCert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// Run listens on Config.Addr and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("kubelet server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then closes it. Upgraded streams
// (exec, port-forward) run on until either end closes them; followed logs
// end with ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		_ = srv.Close()
	}()
	s.cfg.Log.Debug("Kubelet API serving", "addr", ln.Addr().String())
	err := srv.ServeTLS(ln, "", "")
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("kubelet server: %w", err)
}

// writeError answers with a plain-text message, as the kubelet does; the
// API server passes it on to the client inside its Status.
func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	http.Error(w, fmt.Sprintf(format, args...), code)
}
