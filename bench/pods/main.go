// Command pods benchmarks the real node agent as issue 4 asks: the startup
// latency of 100 pods whose image is already on the node, measured as
// upstream's pod startup SLO does (from the pod's creation to the watch
// showing it Running with every container started), reported as p50 and
// p99, plus the agent's RSS and its CPU while the pods run undisturbed.
//
// It needs root: it starts `skiff server --disable-agent` (the control
// plane) and a separate `skiff agent --runtime=cri` (so the agent's own
// memory and CPU can be read, without containerd's) and imports the test
// images. Then it runs two rounds of 100 pods: one created every
// -interval (200ms: 5 pods/s), the way ClusterLoader2 measures the SLO on
// "latency pods" created at a modest rate, and one created all at once,
// which measures how the node copes with a burst (on 2 cores, starting a
// pod costs runc, the shim, containerd and four CNI plugins about 130ms
// of CPU, so a burst of 100 takes seconds however it is scheduled). Run
// it with `make bench-pods`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/bench/internal/proc"
	"github.com/skiff-sh/skiff/bench/internal/realnode"
	"github.com/skiff-sh/skiff/test/images"
)

func main() {
	bin := flag.String("skiff", "bin/skiff", "path to the skiff binary")
	imageDir := flag.String("images", "build/images", "directory of the test image archives (make images)")
	pods := flag.Int("pods", 100, "pods to start")
	interval := flag.Duration("interval", 200*time.Millisecond, "time between pod creations in the paced round")
	idle := flag.Duration("idle", 20*time.Second, "how long to measure the agent's idle CPU")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: the pod startup benchmark runs real containers and needs root")
		os.Exit(1)
	}
	if err := run(*bin, *imageDir, *pods, *interval, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin, imageDir string, count int, interval, idle time.Duration) (err error) {
	ctx := context.Background()
	n, err := realnode.Start(ctx, realnode.Options{Bin: bin, ImageDir: imageDir, SeparateAgent: true})
	if err != nil {
		return err
	}
	defer func() { n.Stop(err != nil) }()
	client := n.Client
	agentPID := n.Agent.Process.Pid
	fmt.Printf("node Ready; agent RSS before pods: %.1f MB (private %.1f MB)\n", proc.RSSMB(agentPID), proc.RSSAnonMB(agentPID))

	for round, gap := range []time.Duration{interval, 0} {
		if err := startRound(ctx, client, count, gap, round); err != nil {
			return err
		}
		if round == 0 {
			// Idle: the pods run, nothing changes.
			time.Sleep(5 * time.Second)
			cpu0, t0 := proc.CPUSeconds(agentPID), time.Now()
			time.Sleep(idle)
			busy := (proc.CPUSeconds(agentPID) - cpu0) / time.Since(t0).Seconds()
			fmt.Printf("agent with %d pods running: RSS %.1f MB (private %.1f MB)   (target < 40 MB); idle CPU %.2f%% of a core   (target < 1%%)\n",
				count, proc.RSSMB(agentPID), proc.RSSAnonMB(agentPID), busy*100)
		}
		if err := deleteAll(ctx, client, count); err != nil {
			return err
		}
	}
	return nil
}

// startRound starts count pods, one every gap (0: all at once), and
// prints their startup latencies.
func startRound(ctx context.Context, client kubernetes.Interface, count int, gap time.Duration, round int) error {
	w := newWatcher(client)
	defer w.close()
	lat, err := startPods(ctx, client, w, count, gap, fmt.Sprintf("r%d", round))
	if err != nil {
		return err
	}
	slices.Sort(lat)
	mode := "all at once"
	if gap > 0 {
		mode = "one every " + gap.String()
	}
	fmt.Printf("startup latency of %d pods created %s (create to Running, watched): p50 %v p99 %v max %v   (targets p50 < 500ms, p99 < 1.5s)\n",
		count, mode, proc.Percentile(lat, 50).Round(time.Millisecond), proc.Percentile(lat, 99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	return nil
}

// deleteAll deletes the pods and waits until their containers stopped and
// they are gone.
func deleteAll(ctx context.Context, client kubernetes.Interface, count int) error {
	begin := time.Now()
	if err := client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("deleting the pods: %w", err)
	}
	if err := proc.WaitFor(5*time.Minute, func() bool {
		l, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0
	}); err != nil {
		return fmt.Errorf("waiting for the pods to go: %w", err)
	}
	fmt.Printf("%d pods deleted (containers stopped) in %v\n", count, time.Since(begin).Round(time.Millisecond))
	return nil
}

// startPods creates count pods and returns each one's time from its
// create call to the watch seeing it Running with all containers started.
func startPods(ctx context.Context, client kubernetes.Interface, w *watcher, count int, interval time.Duration, prefix string) ([]time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for i := range count {
		name := fmt.Sprintf("startup-%s-%03d", prefix, i)
		w.created(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.CoreV1().Pods("default").Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
				errs <- fmt.Errorf("creating %s: %w", name, err)
			}
		}()
		if interval > 0 {
			time.Sleep(interval)
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := proc.WaitFor(5*time.Minute, func() bool { return w.running() == count }); err != nil {
		return nil, fmt.Errorf("waiting for %d pods Running: %w (%d are)", count, err, w.running())
	}
	return w.latencies(), nil
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "startup"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "server", Image: images.TestServerRef, ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

// watcher records when each pod was created (just before its create call)
// and when a watch first saw it Running with every container started.
type watcher struct {
	mu      sync.Mutex
	begin   map[string]time.Time
	started map[string]time.Duration
	stop    chan struct{}
}

func newWatcher(client kubernetes.Interface) *watcher {
	w := &watcher{begin: map[string]time.Time{}, started: map[string]time.Duration{}, stop: make(chan struct{})}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"))
	inf := factory.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.observe(o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { w.observe(o.(*corev1.Pod)) },
	})
	factory.Start(w.stop)
	factory.WaitForCacheSync(w.stop)
	return w
}

func (w *watcher) close() { close(w.stop) }

func (w *watcher) created(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.begin[name] = time.Now()
}

func (w *watcher) observe(p *corev1.Pod) {
	now := time.Now()
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, done := w.started[p.Name]; !done {
		if b, ok := w.begin[p.Name]; ok {
			w.started[p.Name] = now.Sub(b)
		}
	}
}

func (w *watcher) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.started)
}

func (w *watcher) latencies() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]time.Duration, 0, len(w.started))
	for _, d := range w.started {
		out = append(out, d)
	}
	return out
}
