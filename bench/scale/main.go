// Command scale benchmarks the control plane as issue 3 asks: a server with
// 100 simulated nodes runs a Deployment of 10,000 replicas from apply to all
// pods Running and Ready, rolls all of them to a new image, and deletes the
// Deployment. It reports pods/s created, scheduled and Running, the p99 time
// from a pod's creation to its binding as seen by a watcher, the server's
// RSS and CPU seconds, and the most pods ever present at once (no
// controller may create more than the spec allows). Run it with
// `make bench-scale`.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/bench/internal/proc"
)

func main() {
	bin := flag.String("skiff", "bin/skiff", "path to the skiff binary")
	nodes := flag.Int("nodes", 100, "simulated nodes")
	replicas := flag.Int("replicas", 10000, "deployment replicas")
	flag.Parse()
	if err := run(*bin, *nodes, int32(*replicas)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// tracker records, per pod, when a watcher first saw it created, bound and
// Running+Ready.
type tracker struct {
	mu                        sync.Mutex
	created, bound, running   map[string]time.Time
	live, maxLive             int
	createdAt, boundAt, runAt []time.Time
	schedLatency              []time.Duration
}

func newTracker() *tracker {
	return &tracker{created: map[string]time.Time{}, bound: map[string]time.Time{}, running: map[string]time.Time{}}
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (t *tracker) observe(p *corev1.Pod) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	k := string(p.UID)
	if _, ok := t.created[k]; !ok {
		t.created[k] = now
		t.createdAt = append(t.createdAt, now)
		t.live++
		t.maxLive = max(t.maxLive, t.live)
	}
	if _, ok := t.bound[k]; !ok && p.Spec.NodeName != "" {
		t.bound[k] = now
		t.boundAt = append(t.boundAt, now)
		t.schedLatency = append(t.schedLatency, now.Sub(t.created[k]))
	}
	if _, ok := t.running[k]; !ok && podReady(p) {
		t.running[k] = now
		t.runAt = append(t.runAt, now)
	}
}

func (t *tracker) gone(obj any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live--
}

func run(bin string, nodes int, replicas int32) error {
	dataDir, err := os.MkdirTemp("", "skiff-bench-scale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--https-port", strconv.Itoa(port),
		"--disable-agent", "--simulated-nodes", strconv.Itoa(nodes))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	kubeconfig := filepath.Join(dataDir, "kubeconfig.yaml")
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(kubeconfig); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := proc.WaitFor(2*time.Minute, func() bool {
		n, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(n.Items) == nodes
	}); err != nil {
		return fmt.Errorf("waiting for %d nodes: %w", nodes, err)
	}
	fmt.Printf("%d simulated nodes registered\n", nodes)

	t := newTracker()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"))
	inf := factory.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.observe(o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { t.observe(o.(*corev1.Pod)) },
		DeleteFunc: t.gone,
	})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	cpu0 := proc.CPUSeconds(cmd.Process.Pid)

	start := time.Now()
	d := deployment(replicas)
	if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := proc.WaitFor(10*time.Minute, func() bool { return count(t, &t.runAt) >= int(replicas) }); err != nil {
		return fmt.Errorf("waiting for %d pods Running: %w (running %d)", replicas, err, count(t, &t.runAt))
	}
	total := time.Since(start)
	report(t, start, total, replicas)
	fmt.Printf("RSS of skiff server with %d pods: %.0f MB (private %.0f MB)   (target < 400 MB)\n",
		replicas, proc.RSSMB(cmd.Process.Pid), proc.RSSAnonMB(cmd.Process.Pid))

	// Rolling update of every pod.
	// Count the rollout from here: keep the per-pod maps so existing pods
	// are not seen as new, and the live count for the surge check.
	t.mu.Lock()
	t.createdAt, t.boundAt, t.runAt, t.schedLatency = nil, nil, nil, nil
	t.maxLive = t.live
	t.mu.Unlock()
	start = time.Now()
	_, err = client.AppsV1().Deployments("default").Patch(ctx, "scale", "application/strategic-merge-patch+json",
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.local/app:2"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		return err
	}
	if err := proc.WaitFor(15*time.Minute, func() bool {
		dep, err := client.AppsV1().Deployments("default").Get(ctx, "scale", metav1.GetOptions{})
		return err == nil && dep.Status.UpdatedReplicas == replicas && dep.Status.AvailableReplicas == replicas &&
			dep.Status.Replicas == replicas && dep.Status.ObservedGeneration == dep.Generation
	}); err != nil {
		return fmt.Errorf("rolling update: %w", err)
	}
	fmt.Printf("rolling update of %d pods: %v (max pods present at once: %d; maxSurge 25%% allows %d)\n",
		replicas, time.Since(start).Round(time.Millisecond), t.maxLive, replicas+replicas/4)

	start = time.Now()
	if err := client.AppsV1().Deployments("default").Delete(ctx, "scale", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		return err
	}
	if err := proc.WaitFor(10*time.Minute, func() bool {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		return err == nil && len(pods.Items) == 0
	}); err != nil {
		return fmt.Errorf("deletion: %w", err)
	}
	fmt.Printf("deletion of the deployment and %d pods: %v\n", replicas, time.Since(start).Round(time.Millisecond))
	fmt.Printf("skiff server CPU: %.1f s over the run; RSS now %.0f MB\n", proc.CPUSeconds(cmd.Process.Pid)-cpu0, proc.RSSMB(cmd.Process.Pid))
	return nil
}

func deployment(replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "scale"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromString("25%"))}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: mustQuantity("10m"), corev1.ResourceMemory: mustQuantity("16Mi")}}}}},
			},
		},
	}
}

func count(t *tracker, s *[]time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(*s)
}

func report(t *tracker, start time.Time, total time.Duration, replicas int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rate := func(ts []time.Time) string {
		if len(ts) == 0 {
			return "n/a"
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		span := ts[len(ts)-1].Sub(ts[0])
		return fmt.Sprintf("%.0f pods/s (last at %v)", float64(len(ts))/max(span.Seconds(), 0.001), ts[len(ts)-1].Sub(start).Round(time.Millisecond))
	}
	sort.Slice(t.schedLatency, func(i, j int) bool { return t.schedLatency[i] < t.schedLatency[j] })
	p := func(q int) time.Duration {
		if len(t.schedLatency) == 0 {
			return 0
		}
		return t.schedLatency[min(len(t.schedLatency)-1, len(t.schedLatency)*q/100)].Round(time.Millisecond)
	}
	fmt.Printf("apply to %d pods Running and Ready: %v   (target < 30s)\n", replicas, total.Round(time.Millisecond))
	fmt.Printf("  created:   %s\n", rate(t.createdAt))
	fmt.Printf("  scheduled: %s   (follows creation here; the target of >= 1000 pods/s is for a backlog: internal/scheduler TestSchedulingThroughput)\n", rate(t.boundAt))
	fmt.Printf("  running:   %s\n", rate(t.runAt))
	fmt.Printf("  creation-to-binding latency seen by a watcher: p50 %v p99 %v\n", p(50), p(99))
	fmt.Printf("  most pods present at once: %d (spec %d)\n", t.maxLive, replicas)
}
