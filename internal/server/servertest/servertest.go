// Package servertest runs a complete in-process Skiff server for tests, on
// a random port and a temporary data directory, and stops it when the test
// ends.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/internal/controller/manager"
	"github.com/skiff-sh/skiff/internal/server"
)

// Server is a running test server.
type Server struct {
	DataDir string
	Port    int
	Config  *rest.Config
	Client  kubernetes.Interface

	cancel context.CancelFunc
	done   chan error
}

// Options adjusts a test server.
type Options struct {
	// DataDir reuses a directory (to test restarts); empty means a new one.
	DataDir string
	// Port is the HTTPS port; 0 picks a free one.
	Port int
	// Controllers lists controllers to run in the server (for example
	// builtin.Controllers); by default a test server is the API server
	// alone and a test runs what it tests.
	Controllers func(loopback *rest.Config) []manager.Controller
	// SimulatedNodes registers simulated nodes in the server.
	SimulatedNodes int
}

// Start runs a server and waits until it serves.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	dir := opts.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	s := &Server{DataDir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- server.Run(ctx, server.Config{
			DataDir:     dir,
			BindAddress: "127.0.0.1",
			HTTPSPort:   opts.Port,
			ServiceCIDR: "10.43.0.0/16",
			Ready:       ready,

			Controllers:    opts.Controllers,
			SimulatedNodes: opts.SimulatedNodes,
			Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	select {
	case <-ready:
	case err := <-s.done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not become ready in 30s")
	}
	t.Cleanup(s.Stop)
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig.yaml"))
	if err != nil {
		t.Fatalf("loading kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	s.Config = cfg
	u, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatalf("kubeconfig server %q: %v", cfg.Host, err)
	}
	s.Port, _ = strconv.Atoi(u.Port())
	s.Client = kubernetes.NewForConfigOrDie(cfg)
	return s
}

// Stop shuts the server down and waits for it; safe to call twice.
func (s *Server) Stop() {
	s.cancel()
	if s.done != nil {
		<-s.done
		s.done = nil
	}
}
