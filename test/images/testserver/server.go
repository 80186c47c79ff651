package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// config is what flags and environment variables set.
type config struct {
	podName   string
	podIP     string
	latency   time.Duration // added to every echo request
	errorRate float64       // fraction of echo requests answered 500
	filesDir  string        // served under /files/
}

// server holds the mutable test knobs: health, readiness, held memory.
type server struct {
	cfg       config
	unhealthy atomic.Bool
	unready   atomic.Bool
	// exit is os.Exit in the binary; tests replace it.
	exit func(code int)

	mu   sync.Mutex // guards held
	held [][]byte   // memory kept alive by /alloc
}

func newServer(cfg config, exit func(int)) *server {
	return &server{cfg: cfg, exit: exit}
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.echo)
	mux.HandleFunc("/healthz", s.probe(&s.unhealthy))
	mux.HandleFunc("/readyz", s.probe(&s.unready))
	mux.HandleFunc("/exit", s.exitHandler)
	mux.HandleFunc("/alloc", s.alloc)
	mux.HandleFunc("/sleep", sleep)
	files := http.FileServer(http.Dir(s.cfg.filesDir))
	mux.Handle("/files/", http.StripPrefix("/files", files))
	return mux
}

// echoResponse tells a client which pod answered; tests use it to see
// load balancing and pod identity.
type echoResponse struct {
	Pod      string              `json:"pod"`
	IP       string              `json:"ip"`
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Query    string              `json:"query,omitempty"`
	Remote   string              `json:"remote"`
	Host     string              `json:"host"`
	Headers  map[string][]string `json:"headers"`
	Hostname string              `json:"hostname"`
}

func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	if s.cfg.latency > 0 {
		select {
		case <-time.After(s.cfg.latency):
		case <-r.Context().Done():
			return
		}
	}
	if s.cfg.errorRate > 0 && rand.Float64() < s.cfg.errorRate {
		http.Error(w, "injected error from "+s.cfg.podName, http.StatusInternalServerError)
		return
	}
	host, _ := os.Hostname()
	writeJSON(w, http.StatusOK, echoResponse{
		Pod: s.cfg.podName, IP: s.cfg.podIP, Method: r.Method, Path: r.URL.Path,
		Query: r.URL.RawQuery, Remote: r.RemoteAddr, Host: r.Host, Headers: r.Header,
		Hostname: host,
	})
}

// probe serves GET as the probe (200 "ok" or 500) and POST ?fail=1 / 0 to
// flip it, so a test can make a pod unready or unhealthy on demand.
func (s *server) probe(failing *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			fail, err := strconv.ParseBool(r.URL.Query().Get("fail"))
			if err != nil {
				http.Error(w, "fail must be a boolean (1 or 0)", http.StatusBadRequest)
				return
			}
			failing.Store(fail)
		}
		if failing.Load() {
			http.Error(w, "failing", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// exitHandler answers first, then exits with ?code=N (default 0), so the
// client sees a response rather than a reset connection.
func (s *server) exitHandler(w http.ResponseWriter, r *http.Request) {
	code := 0
	if c := r.URL.Query().Get("code"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 || n > 255 {
			http.Error(w, "code must be 0-255", http.StatusBadRequest)
			return
		}
		code = n
	}
	fmt.Fprintf(w, "exiting with code %d\n", code)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	go func() {
		time.Sleep(50 * time.Millisecond) // let the response leave
		s.exit(code)
	}()
}

// alloc allocates ?mb=N MiB and keeps it (touched, so it is resident) for
// the life of the process: memory limits and OOM kills become testable.
func (s *server) alloc(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb < 0 || mb > 1<<16 {
		http.Error(w, "mb must be 0-65536", http.StatusBadRequest)
		return
	}
	b := make([]byte, mb<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	s.mu.Lock()
	s.held = append(s.held, b)
	total := 0
	for _, h := range s.held {
		total += len(h)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int{"allocatedMB": mb, "heldMB": total >> 20})
}

// sleep answers after ?d=DURATION: an in-flight request for testing
// graceful termination.
func sleep(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil {
		http.Error(w, "d must be a duration", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(d):
		fmt.Fprintf(w, "slept %s\n", d)
	case <-r.Context().Done():
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// firstIP is the pod IP when POD_IP is not set: the first global unicast
// address of any interface.
func firstIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}
