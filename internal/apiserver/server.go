package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/skiff-sh/skiff/internal/admission"
	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/watchcache"
)

// keyPrefix is where every object lives in the Store.
const keyPrefix = "/registry/"

// Config is what the API server is built from.
type Config struct {
	Store     storage.Store
	Scheme    *runtime.Scheme
	Resources []registry.Resource
	// Discovery serves /api, /apis and their group/version documents.
	Discovery http.Handler
	// OpenAPI serves /openapi/v2 and /openapi/v3.
	OpenAPI http.Handler
	// Admission plugins run, in order, on every create and update after
	// defaulting and before the strategy prepares and validates the object
	// (upstream's mutating admission).
	Admission []admission.Plugin
	// Validation plugins run after validation, just before the write
	// (upstream's validating admission, e.g. quota charging).
	Validation []admission.Plugin
	Version    version.Info
	// KubeletClientCert is what the API server presents to node agents
	// when it proxies pods/log, exec, attach and port-forward to them
	// (upstream's --kubelet-client-certificate); nil presents none, and
	// agents will refuse those requests.
	KubeletClientCert *tls.Certificate
	Log               *slog.Logger
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
}

// Server serves the Kubernetes API over a Store.
type Server struct {
	store      storage.Store
	scheme     *runtime.Scheme
	codecs     *codecs
	cache      *watchcache.Cache
	resources  map[schema.GroupVersionResource]*resource
	discovery  http.Handler
	openapi    http.Handler
	admission  []admission.Plugin
	validation []admission.Plugin
	version    version.Info
	log        *slog.Logger
	now        func() time.Time
	mux        *http.ServeMux

	// kubeletTransport and kubeletClient reach node agents.
	kubeletTransport *http.Transport
	kubeletClient    *http.Client
}

// New builds a Server; Start must be called before it serves.
func New(cfg Config) (*Server, error) {
	s := &Server{
		store:      cfg.Store,
		scheme:     cfg.Scheme,
		codecs:     newCodecs(cfg.Scheme),
		resources:  map[schema.GroupVersionResource]*resource{},
		discovery:  cfg.Discovery,
		admission:  cfg.Admission,
		validation: cfg.Validation,
		openapi:    cfg.OpenAPI,
		version:    cfg.Version,
		log:        cfg.Log,
		now:        cfg.Now,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.kubeletTransport = newKubeletTransport(cfg.KubeletClientCert)
	s.kubeletClient = newKubeletClient(s.kubeletTransport)
	if s.now == nil {
		s.now = time.Now
	}
	s.cache = watchcache.New(cfg.Store, watchcache.Config{Prefix: keyPrefix}, s.log.With("component", "watchcache"))
	cached := map[schema.GroupVersionResource]*watchcache.Resource{}
	for i := range cfg.Resources {
		res, err := s.newResource(cfg.Resources[i])
		if err != nil {
			return nil, err
		}
		s.resources[res.GVR] = res
	}
	// Each storage resource gets one cache, decoded with its own strategy
	// (field selectors), shared by every version served from it.
	for _, res := range s.resources {
		sgvr := res.Storage()
		owner := s.resources[sgvr]
		if owner == nil {
			return nil, fmt.Errorf("resource %s is stored as %s, which is not served", res.GVR, sgvr)
		}
		if cached[sgvr] == nil {
			cached[sgvr] = s.cache.Register(owner.prefix, s.decoder(owner))
		}
		res.cache = cached[sgvr]
	}
	s.mux = s.routes()
	return s, nil
}

// Start loads the watch cache, rebuilds write hooks' reservations and
// creates the built-in namespaces. The cache follows the store until ctx
// ends.
func (s *Server) Start(ctx context.Context) error {
	if err := s.cache.Start(ctx); err != nil {
		return fmt.Errorf("starting watch cache: %w", err)
	}
	for _, res := range s.resources {
		if res.Strategy.Hooks == nil {
			continue
		}
		objs, _ := res.cache.List(res.prefix, watchcache.Everything)
		list := make([]runtime.Object, len(objs))
		for i, o := range objs {
			obj, err := o.Decode()
			if err != nil {
				return err
			}
			list[i] = obj
		}
		if err := res.Strategy.Hooks.Rebuild(list); err != nil {
			return fmt.Errorf("rebuilding reservations for %s: %w", res.GVR, err)
		}
	}
	return s.ensureSystemNamespaces(ctx)
}

// Handler is the root HTTP handler, with authentication in front.
func (s *Server) Handler() http.Handler {
	return s.authenticate(s.recoverPanics(s.mux))
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	health := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	}
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("GET /livez", health)
	mux.HandleFunc("GET /readyz", health)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.version)
	})
	// Profiling, as upstream serves it, for authenticated clients.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	if s.openapi != nil {
		mux.Handle("/openapi/", s.openapi)
	}
	mux.HandleFunc("/api", s.serveAPI)
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/apis", s.serveAPI)
	mux.HandleFunc("/apis/", s.serveAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, notFoundPath(r.URL.Path))
	})
	return mux
}

// serveAPI dispatches resource requests; everything else under /api and
// /apis is discovery.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	info, ok := parseRequest(r)
	if !ok {
		if s.discovery != nil {
			s.discovery.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	res := s.resources[info.GroupVersion.WithResource(info.Resource)]
	if res == nil {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	if err := s.serveResource(w, r, res, info); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.writeError(w, r, fmt.Errorf("internal error: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// notFoundPath is upstream's answer for a URL that names no resource.
func notFoundPath(string) error {
	st := metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource", Details: &metav1.StatusDetails{}}
	return &apierrors.StatusError{ErrStatus: st}
}

// admit runs one phase of admission plugins on one write.
func (s *Server) admit(ctx context.Context, plugins []admission.Plugin, a *admission.Attributes) error {
	for _, p := range plugins {
		if err := p.Admit(ctx, a); err != nil {
			return err
		}
	}
	return nil
}
