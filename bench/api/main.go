// Command api benchmarks the API server as issue 2 asks: start-to-ready
// time, idle RSS, create throughput and latency from 32 concurrent
// client-go clients, RSS and LIST latency with 10,000 pods, and the
// database size after compaction. Run it with `make bench-api`.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/bench/internal/proc"
)

var pauseAfterCreate bool

func main() {
	bin := flag.String("skiff", "bin/skiff", "path to the skiff binary")
	pods := flag.Int("pods", 10000, "pods to create")
	clients := flag.Int("clients", 32, "concurrent client-go clients")
	flag.BoolVar(&pauseAfterCreate, "pause", false, "after creating the pods, print the kubeconfig and wait for Enter (for profiling)")
	flag.Parse()
	if err := run(*bin, *pods, *clients); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type server struct {
	cmd     *exec.Cmd
	dataDir string
	port    int
}

func startServer(bin, dataDir string, port int) (*server, time.Duration, error) {
	// The API server alone: with controllers, the scheduler would write a
	// condition and an event for each of the 10,000 unschedulable pods.
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--https-port", strconv.Itoa(port), "--disable-agent",
		"--disable-controller-manager", "--compact-interval", "2s")
	cmd.Stderr = os.Stderr
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	s := &server{cmd: cmd, dataDir: dataDir, port: port}
	// /readyz is public; poll it over TLS without verifying (timing only).
	hc := &http.Client{Transport: insecureTransport(), Timeout: time.Second}
	for time.Since(begin) < 20*time.Second {
		resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, time.Since(begin), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, 0, fmt.Errorf("server not ready in 20s")
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

func (s *server) config() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(s.dataDir, "kubeconfig.yaml"))
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
	return cfg, nil
}

func run(bin string, nPods, nClients int) error {
	dataDir, err := os.MkdirTemp("", "skiff-bench-api")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	port, err := proc.FreePort()
	if err != nil {
		return err
	}
	// The first start creates certificates; measure a warm start as users
	// see it on every start after the first.
	s, cold, err := startServer(bin, dataDir, port)
	if err != nil {
		return err
	}
	s.stop()
	s, ready, err := startServer(bin, dataDir, port)
	if err != nil {
		return err
	}
	// s is replaced by a restart below; stop whichever runs at the end.
	defer func() { s.stop() }()
	fmt.Printf("start to ready (first start, creates PKI): %v\n", cold.Round(time.Millisecond))
	fmt.Printf("start to ready:                          %v   (target < 300ms)\n", ready.Round(time.Millisecond))
	// Idle means settled: past start-up and the first trim of the
	// executable's pages (internal/exepages) and its first re-check.
	time.Sleep(40 * time.Second)
	fmt.Printf("idle RSS:                                %.1f MB (private %.1f MB)   (target < 40 MB)\n",
		proc.RSSMB(s.cmd.Process.Pid), proc.RSSAnonMB(s.cmd.Process.Pid))

	cfg, err := s.config()
	if err != nil {
		return err
	}
	lat, elapsed, err := createPods(cfg, nPods, nClients)
	if err != nil {
		return err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("creates: %d pods with %d clients in %v: %.0f creates/s   (target >= 2000/s)\n",
		nPods, nClients, elapsed.Round(time.Millisecond), float64(nPods)/elapsed.Seconds())
	fmt.Printf("create latency p50 %v p99 %v   (target p99 < 20ms)\n", proc.Percentile(lat, 50).Round(10*time.Microsecond), proc.Percentile(lat, 99).Round(10*time.Microsecond))
	time.Sleep(2 * time.Second)
	if pauseAfterCreate {
		fmt.Printf("paused; kubeconfig %s; press Enter\n", filepath.Join(dataDir, "kubeconfig.yaml"))
		_, _ = fmt.Scanln()
	}
	fmt.Printf("RSS with %d pods:                     %.1f MB   (target < 150 MB)\n", nPods, proc.RSSMB(s.cmd.Process.Pid))

	for _, ct := range []string{"application/json", "application/vnd.kubernetes.protobuf"} {
		c := *cfg
		c.AcceptContentTypes, c.ContentType = ct, ct
		raw, size, err := timeRawList(&c, 5)
		if err != nil {
			return err
		}
		typed, n, err := timeList(&c, 3)
		if err != nil {
			return err
		}
		fmt.Printf("LIST %d pods as %s: server %v for %.1f MB (target < 150ms); with client-go decoding %v\n",
			n, ct, raw.Round(time.Millisecond), float64(size)/(1<<20), typed.Round(time.Millisecond))
	}

	// Churn every pod once so there is history to compact, then wait for
	// two compaction intervals and restart (bbolt reuses freed pages and
	// the store defragments on open when mostly free).
	if err := labelAll(cfg, nClients); err != nil {
		return err
	}
	db := filepath.Join(dataDir, "db", "skiff.db")
	fmt.Printf("database file after 2 writes per pod:    %.1f MB\n", fileMB(db))
	time.Sleep(5 * time.Second)
	s.stop()
	s, _, err = startServer(bin, dataDir, port)
	if err != nil {
		return err
	}
	fmt.Printf("database file after compaction:          %.1f MB   (target < 50 MB)\n", fileMB(db))
	return nil
}

func fileMB(path string) float64 {
	st, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return float64(st.Size()) / (1 << 20)
}

// benchPod is a pod as a Deployment would create it: labels, an owner,
// resources, ports, env and probes, about 1.5 KB of JSON.
func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default",
			Labels:      map[string]string{"app": "bench", "pod-template-hash": "5d9c7b8f6d", "tier": "backend"},
			Annotations: map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-11-27T10:00:00Z"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.local/bench/app:1.4.2",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}, {Name: "LOG_LEVEL", Value: "info"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}}},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
			}},
		},
	}
}

func createPods(cfg *rest.Config, n, clients int) ([]time.Duration, time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	start := time.Now()
	for c := 0; c < clients; c++ {
		// One clientset per client, as 32 separate programs would have.
		cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
		if err != nil {
			return nil, 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := range next {
				t0 := time.Now()
				_, err := cs.CoreV1().Pods("default").Create(context.Background(), benchPod(fmt.Sprintf("bench-%05d", i)), metav1.CreateOptions{})
				mine = append(mine, time.Since(t0))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, time.Since(start), firstErr
}

func timeList(cfg *rest.Config, rounds int) (time.Duration, int, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, 0, err
	}
	var ds []time.Duration
	n := 0
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return 0, 0, err
		}
		ds = append(ds, time.Since(t0))
		n = len(list.Items)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], n, nil
}

// timeRawList times the request until the whole body has arrived: the
// server's part of a LIST, without the client's decoding.
func timeRawList(cfg *rest.Config, rounds int) (time.Duration, int, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, 0, err
	}
	var ds []time.Duration
	size := 0
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		body, err := cs.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").DoRaw(context.Background())
		if err != nil {
			return 0, 0, err
		}
		ds = append(ds, time.Since(t0))
		size = len(body)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], size, nil
}

func labelAll(cfg *rest.Config, clients int) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	work := make(chan string, len(list.Items))
	for _, p := range list.Items {
		work <- p.Name
	}
	close(work)
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				_, err := cs.CoreV1().Pods("default").Patch(context.Background(), name, "application/merge-patch+json",
					[]byte(`{"metadata":{"labels":{"churned":"yes"}}}`), metav1.PatchOptions{})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
