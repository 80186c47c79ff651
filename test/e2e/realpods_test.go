package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/network/cni"
	"github.com/skiff-sh/skiff/test/images"
)

// Ranges of the real-pods test's own, apart from the defaults other
// tests on this machine may use.
const (
	realClusterCIDR = "10.199.0.0/16"
	realServiceCIDR = "10.198.0.0/16"
)

// TestRealPods runs `skiff server` with its node agent on containerd and
// checks real pods end to end: two containers of one pod talking over
// localhost and sharing an emptyDir, a ConfigMap consumed as env and as a
// file, a failing container's exit code, then the checks of
// realworkloads_test.go as subtests (init and sidecar order, OOMKilled,
// live ConfigMap and Secret updates, StatefulSet data, pod-to-pod
// traffic, CrashLoopBackOff, 50 pods leaving nothing behind), a SIGKILL
// of the server while its pods keep serving, and that deleting pods
// leaves no container and no pod directory; once the server stopped, its
// containerd and blackhole routes are gone too. The containers report
// through files they write into emptyDir volumes, read here on the host.
func TestRealPods(t *testing.T) {
	requireRealNode(t)
	archives := buildTestImages(t)
	dataDir, err := os.MkdirTemp("", "skrp") // short: containerd's socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	bridgeExisted := linkExists(cni.BridgeName)
	// Registered before the cluster's stop, so it runs after it: whatever
	// a failed test left is removed by PID and name.
	t.Cleanup(func() { cleanupNode(t, dataDir, bridgeExisted) })
	var c *cluster
	t.Cleanup(func() { // after the server stopped: its whole log
		if t.Failed() && c != nil {
			t.Logf("server log:\n%s", c.logs)
		}
	})
	c = startAgentCluster(t, dataDir, "--cluster-cidr", realClusterCIDR, "--service-cidr", realServiceCIDR,
		"--ingress-http-address", "", "--ingress-https-address", "")
	t.Cleanup(func() { forceDeletePods(c) }) // runs before the server stops
	socket := filepath.Join(dataDir, "containerd", "containerd.sock")
	c.eventually(t, "containerd to serve", func() bool { _, err := os.Stat(socket); return err == nil })
	begin := time.Now()
	imp := exec.Command(skiffBin, append([]string{"image", "import", "--container-runtime-endpoint", socket}, archives...)...)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("skiff image import: %v\n%s", err, out)
	}
	t.Logf("images imported in %s", time.Since(begin).Round(time.Millisecond))

	client := c.client()
	ctx := context.Background()
	c.eventually(t, "the node to be Ready with a pod CIDR", func() bool { return nodeReady(ctx, client) })

	begin = time.Now()
	sidecars := createPod(t, client, localhostPod())
	config := createConfigMapPod(t, client)
	failing := createPod(t, client, exitPod())

	waitPhase(t, c, client, failing.Name, corev1.PodFailed)
	p, _ := client.CoreV1().Pods("default").Get(ctx, failing.Name, metav1.GetOptions{})
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 3 {
		t.Errorf("exit-3 pod container statuses = %+v, want terminated with exit code 3", cs)
	}

	waitPhase(t, c, client, config.Name, corev1.PodSucceeded)
	out := emptyDir(dataDir, config.UID, "out")
	for file, want := range map[string]string{"env": "hello from a config map", "file": "file content", "expanded": "hello from a config map", "name": config.Name} {
		got, err := os.ReadFile(filepath.Join(out, file))
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("configmap pod wrote %s = %q (%v), want %q", file, got, err, want)
		}
	}

	reply := filepath.Join(emptyDir(dataDir, sidecars.UID, "shared"), "reply")
	c.eventually(t, "busybox to fetch from the testserver over localhost", func() bool { _, err := os.Stat(reply); return err == nil })
	if got, _ := os.ReadFile(reply); !strings.Contains(string(got), `"GET"`) {
		t.Errorf("reply from the testserver = %q, want its JSON echo of a GET", got)
	}
	t.Logf("three pods ran in %s", time.Since(begin).Round(time.Millisecond))
	if os.Getenv("REALPODS_FAIL") != "" {
		t.Fatal("injected failure")
	}

	crasher := startCrashLoop(t, client) // its back-off runs while the checks below do
	t.Run("probes", func(t *testing.T) { checkProbes(t, c, client) })
	t.Run("logs, exec, port-forward, cp", func(t *testing.T) { checkStreaming(t, c, client) })
	t.Run("init and sidecar order", func(t *testing.T) { checkInitAndSidecar(t, c, client) })
	t.Run("OOMKilled", func(t *testing.T) { checkOOMKilled(t, c, client) })
	t.Run("ConfigMap and Secret updates", func(t *testing.T) { checkConfigUpdate(t, c, client) })
	t.Run("StatefulSet data", func(t *testing.T) { checkStatefulSetData(t, c, client) })
	t.Run("pod to pod", func(t *testing.T) { checkPodToPod(t, c, client) })
	t.Run("CrashLoopBackOff", func(t *testing.T) { checkCrashLoop(t, c, client, crasher) })
	t.Run("50 pods deleted", func(t *testing.T) { checkManyDeleted(t, c, client, socket) })

	client = checkRestart(t, c, socket, sidecars.Name)

	begin = time.Now()
	c.kubectl("delete", "pods", "--all", "--wait=false")
	c.eventually(t, "the pods to be deleted", func() bool {
		l, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0
	})
	c.eventually(t, "no containers and no pod directories to remain", func() bool {
		dirs, _ := os.ReadDir(filepath.Join(dataDir, "pods"))
		return len(containers(t, socket)) == 0 && len(dirs) == 0
	})
	t.Logf("pods deleted and cleaned up in %s", time.Since(begin).Round(time.Millisecond))

	pid := containerdPID(t, dataDir)
	c.stop()
	if pid > 0 && syscall.Kill(pid, 0) == nil {
		t.Errorf("containerd (pid %d) still runs after the server stopped", pid)
	}
	if out, _ := exec.Command("ip", "route", "show", "table", "all", "proto", "83").CombinedOutput(); strings.Contains(string(out), "10.199.0.0/16") || strings.Contains(string(out), "10.198.0.0/16") {
		t.Errorf("the node's routes remain after the server stopped:\n%s", out)
	}
	if out, _ := exec.Command("nft", "list", "tables").CombinedOutput(); strings.Contains(string(out), "skiff") {
		t.Errorf("nftables tables remain after the server stopped:\n%s", out)
	}
}

// checkRestart kills the server (and its agent) with SIGKILL and starts
// it again: the node's containers keep running and serving meanwhile, and
// the new agent adopts them (same container IDs, no restarts). It returns
// a client of the restarted server.
func checkRestart(t *testing.T, c *cluster, socket, name string) kubernetes.Interface {
	t.Helper()
	ctx := context.Background()
	client := c.client()
	before, _ := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	running := containers(t, socket)
	served, failed := serveCount(before.Status.PodIP)
	begin := time.Now()
	c.kill()
	stopped := time.Now() // the old agent renews no more
	c.start()
	client = c.client()
	c.eventually(t, "the restarted agent to renew its lease", func() bool {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, before.Spec.NodeName, metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil && l.Spec.RenewTime.After(stopped)
	})
	ok, bad := served(), failed()
	if ok == 0 || bad != 0 {
		t.Errorf("while the agent was killed and restarted the pod answered %d requests and failed %d; want all to succeed", ok, bad)
	}
	if now := containers(t, socket); !slices.Equal(now, running) {
		t.Errorf("containers after the restart = %v, want the same as before: %v", now, running)
	}
	after, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil || after.Status.Phase != corev1.PodRunning || len(after.Status.ContainerStatuses) != 2 ||
		after.Status.ContainerStatuses[0].ContainerID != before.Status.ContainerStatuses[0].ContainerID ||
		after.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("after a restart the pod is %+v (%v), want it Running with the same containers", after.Status, err)
	}
	t.Logf("server killed and restarted in %s; the pod answered %d requests meanwhile", time.Since(begin).Round(time.Millisecond), ok)
	return client
}

// serveCount sends requests to a pod's HTTP port from the host every 50ms
// until the returned functions are read, counting answers and failures.
func serveCount(ip string) (served, failed func() int) {
	var ok, bad atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	hc := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := hc.Get("http://" + net.JoinHostPort(ip, "8080") + "/")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err == nil && resp.StatusCode == http.StatusOK {
				ok.Add(1)
			} else {
				bad.Add(1)
			}
		}
	}()
	var once sync.Once
	finish := func() { once.Do(func() { close(stop); <-done }) }
	return func() int { finish(); return int(ok.Load()) }, func() int { finish(); return int(bad.Load()) }
}

// requireRealNode skips unless this machine can run real pods.
func requireRealNode(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("real pods need root (containerd, network namespaces); CI runs as root")
	}
	for _, bin := range []string{"containerd", "runc", "ctr", "ip", "iptables", "/usr/lib/cni/bridge", "/bin/busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh installs it)", bin)
		}
	}
}

// buildTestImages builds the test image archives (test/images/build).
func buildTestImages(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	begin := time.Now()
	out, err := exec.Command("go", "run", "github.com/skiff-sh/skiff/test/images/build", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("building the test images: %v\n%s", err, out)
	}
	t.Logf("test images built in %s", time.Since(begin).Round(time.Millisecond))
	return []string{filepath.Join(dir, "testserver.tar"), filepath.Join(dir, "busybox.tar")}
}

func nodeReady(ctx context.Context, client kubernetes.Interface) bool {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 || nodes.Items[0].Spec.PodCIDR == "" {
		return false
	}
	for _, cond := range nodes.Items[0].Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func emptyDir(dataDir string, uid types.UID, name string) string {
	return filepath.Join(dataDir, "pods", string(uid), "volumes", "kubernetes.io~empty-dir", name)
}

func int64p(v int64) *int64 { return &v }

// localhostPod: busybox fetches the testserver's echo over 127.0.0.1 (the
// pod's shared network namespace) into a shared emptyDir.
func localhostPod() *corev1.Pod {
	mount := []corev1.VolumeMount{{Name: "shared", MountPath: "/out"}}
	fetch := `trap 'exit 0' TERM
until wget -qO /out/reply.tmp http://127.0.0.1:8080/; do sleep 0.2; done
mv /out/reply.tmp /out/reply
while :; do sleep 1; done`
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "localhost", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: int64p(2),
			Volumes:                       []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{
				{Name: "server", Image: images.TestServerRef},
				{Name: "client", Image: images.BusyboxRef, Command: []string{"sh", "-c", fetch}, VolumeMounts: mount},
			},
		},
	}
}

// createConfigMapPod creates a ConfigMap and a pod that reads it as env
// (also through $(VAR) expansion in args) and as a mounted file, and the
// pod's name through the downward API.
func createConfigMapPod(t *testing.T, client kubernetes.Interface) *corev1.Pod {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "default"},
		Data:       map[string]string{"greeting": "hello from a config map", "key": "file content"},
	}
	if _, err := client.CoreV1().ConfigMaps("default").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	script := `echo "$GREETING" > /out/env; cat /cfg/key > /out/file; echo "$1" > /out/expanded; echo "$POD_NAME" > /out/name`
	return createPod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap", Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Volumes: []corev1.Volume{
				{Name: "out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
			},
			Containers: []corev1.Container{{
				Name: "main", Image: images.BusyboxRef,
				Command: []string{"sh", "-c", script, "sh", "$(GREETING)"},
				Env: []corev1.EnvVar{
					{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "greeting"}}},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "out", MountPath: "/out"}, {Name: "cfg", MountPath: "/cfg"}},
			}},
		},
	})
}

func exitPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "exit3", Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: images.BusyboxRef, Command: []string{"sh", "-c", "exit 3"}}},
		},
	}
}

func createPod(t *testing.T, client kubernetes.Interface, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	p, err := client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	return p
}

// waitPhase waits for a pod's phase, showing its status on timeout.
func waitPhase(t *testing.T, c *cluster, client kubernetes.Interface, name string, phase corev1.PodPhase) {
	t.Helper()
	var last *corev1.Pod
	deadline := time.Now().Add(90 * time.Second)
	for {
		p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if p.Status.Phase == phase {
				return
			}
		}
		if time.Now().After(deadline) {
			events, _ := c.kubectlErr("get", "events", "-A")
			t.Fatalf("pod %s not %s: status %+v\nevents:\n%s\nserver log:\n%s", name, phase, last.Status, events, c.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// containers lists the containers in containerd's k8s.io namespace.
func containers(t *testing.T, socket string) []string {
	out, err := exec.Command("ctr", "-a", socket, "-n", "k8s.io", "containers", "ls", "-q").CombinedOutput()
	if err != nil {
		t.Logf("ctr containers ls: %v\n%s", err, out)
		return []string{"?"}
	}
	ids := strings.Fields(string(out))
	slices.Sort(ids)
	return ids
}

func containerdPID(t *testing.T, dataDir string) int {
	data, err := os.ReadFile(filepath.Join(dataDir, "containerd", "containerd.pid"))
	if err != nil {
		t.Errorf("containerd's pid file: %v", err)
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// forceDeletePods deletes whatever pods remain (after a failure), so the
// agent stops their containers before the server stops.
func forceDeletePods(c *cluster) {
	if c.cmd == nil || !c.t.Failed() {
		return
	}
	_, _ = c.kubectlErr("delete", "pods", "--all", "--grace-period=0", "--force")
	deadline := time.Now().Add(30 * time.Second)
	socket := filepath.Join(c.dataDir, "containerd", "containerd.sock")
	for time.Now().Before(deadline) && len(containers(c.t, socket)) > 0 {
		time.Sleep(500 * time.Millisecond)
	}
}

// cleanupNode kills what a failed test left behind: the runtime shims
// serving our containerd's socket (found by command line) and, first,
// their descendants, the containers themselves (a container outlives its
// killed shim); then it unmounts what remains under the data dir and
// removes the pod bridge when the test created it.
func cleanupNode(t *testing.T, dataDir string, bridgeExisted bool) {
	parent := map[int]int{}
	var ours []int
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		stat, err := os.ReadFile(p)
		if err != nil || pid == os.Getpid() {
			continue
		}
		// The fields after the parenthesised command: state, then ppid.
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
		if cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); err == nil && strings.Contains(string(cmdline), dataDir+"/") {
			ours = append(ours, pid)
		}
	}
	for _, root := range ours {
		for _, pid := range descendants(parent, root) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Logf("killing leftover process %d and its descendants", root)
		_ = syscall.Kill(root, syscall.SIGKILL)
	}
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("grep ' %s/' /proc/mounts | cut -d' ' -f2 | sort -r", dataDir)).Output(); err == nil {
		for _, m := range strings.Fields(string(out)) {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	if !bridgeExisted && linkExists(cni.BridgeName) {
		_ = exec.Command("ip", "link", "delete", cni.BridgeName).Run()
	}
}

// descendants lists the processes below root in the parent map.
func descendants(parent map[int]int, root int) []int {
	var out []int
	for pid, ppid := range parent {
		if ppid == root {
			out = append(out, pid)
			out = append(out, descendants(parent, pid)...)
		}
	}
	return out
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}
