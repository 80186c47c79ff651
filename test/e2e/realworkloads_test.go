package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/test/images"
)

// The checks below run on TestRealPods' node, one after another; each
// cleans up its own objects.

// checkInitAndSidecar: init containers run in order, a sidecar (an init
// container with restartPolicy Always) starts before the next init
// container and keeps running beside the main one.
func checkInitAndSidecar(t *testing.T, c *cluster, client kubernetes.Interface) {
	mount := []corev1.VolumeMount{{Name: "out", MountPath: "/out"}}
	step := func(name string) string { return "echo " + name + " >> /out/order" }
	pod := createPod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ordered", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Volumes:                       []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			InitContainers: []corev1.Container{
				{Name: "first", Image: images.BusyboxRef, Command: []string{"sh", "-c", step("first")}, VolumeMounts: mount},
				{Name: "sidecar", Image: images.BusyboxRef, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
					Command: []string{"sh", "-c", step("sidecar") + "; trap 'exit 0' TERM; while :; do sleep 1; done"}, VolumeMounts: mount},
				{Name: "second", Image: images.BusyboxRef, Command: []string{"sh", "-c", step("second")}, VolumeMounts: mount},
			},
			Containers: []corev1.Container{{Name: "main", Image: images.BusyboxRef,
				Command: []string{"sh", "-c", step("main") + "; trap 'exit 0' TERM; while :; do sleep 1; done"}, VolumeMounts: mount}},
		},
	})
	waitPhase(t, c, client, pod.Name, corev1.PodRunning)
	order := filepath.Join(emptyDir(c.dataDir, pod.UID, "out"), "order")
	c.eventually(t, "the main container to run", func() bool {
		b, _ := os.ReadFile(order)
		return strings.Contains(string(b), "main")
	})
	if b, _ := os.ReadFile(order); strings.Fields(string(b)) == nil || strings.Join(strings.Fields(string(b)), " ") != "first sidecar second main" {
		t.Errorf("containers ran in the order %q, want first sidecar second main", b)
	}
	p, _ := client.CoreV1().Pods("default").Get(context.Background(), pod.Name, metav1.GetOptions{})
	for _, s := range p.Status.InitContainerStatuses {
		if s.Name == "sidecar" && (s.State.Running == nil || s.Started == nil || !*s.Started) {
			t.Errorf("sidecar status %+v, want it running beside the main container", s)
		}
	}
	deletePodAndWait(t, c, client, pod.Name)
}

// checkOOMKilled: a container over its memory limit is killed by the
// kernel and reported as OOMKilled.
func checkOOMKilled(t *testing.T, c *cluster, client kubernetes.Interface) {
	pod := createPod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "oom", Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "hog", Image: images.BusyboxRef,
				// tail buffers a line that never ends.
				Command: []string{"tail", "/dev/zero"},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceMemory: resource.MustParse("24Mi"), corev1.ResourceCPU: resource.MustParse("500m")}},
			}},
		},
	})
	waitPhase(t, c, client, pod.Name, corev1.PodFailed)
	p, _ := client.CoreV1().Pods("default").Get(context.Background(), pod.Name, metav1.GetOptions{})
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil ||
		cs[0].State.Terminated.Reason != "OOMKilled" || cs[0].State.Terminated.ExitCode != 137 {
		t.Errorf("container status %+v, want terminated OOMKilled with exit code 137", cs)
	}
	// Limits alone default the requests to them: Guaranteed.
	if p.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("QoS class %q, want Guaranteed", p.Status.QOSClass)
	}
	deletePodAndWait(t, c, client, pod.Name)
}

// crashLoop is a pod whose container always fails, and when its restart
// count was first seen at each value.
type crashLoop struct {
	pod      *corev1.Pod
	mu       sync.Mutex
	restarts map[int32]time.Time
	backOff  bool // CrashLoopBackOff seen
	stop     chan struct{}
}

// startCrashLoop creates the failing pod and follows its status until
// checkCrashLoop reads it (other checks run meanwhile).
func startCrashLoop(t *testing.T, client kubernetes.Interface) *crashLoop {
	cl := &crashLoop{restarts: map[int32]time.Time{}, stop: make(chan struct{})}
	cl.pod = createPod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crasher", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers:                    []corev1.Container{{Name: "main", Image: images.BusyboxRef, Command: []string{"sh", "-c", "exit 1"}}},
		},
	})
	go func() {
		for {
			select {
			case <-cl.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			p, err := client.CoreV1().Pods("default").Get(context.Background(), cl.pod.Name, metav1.GetOptions{})
			if err != nil || len(p.Status.ContainerStatuses) != 1 {
				continue
			}
			s := p.Status.ContainerStatuses[0]
			cl.mu.Lock()
			if _, seen := cl.restarts[s.RestartCount]; !seen {
				cl.restarts[s.RestartCount] = time.Now()
			}
			cl.backOff = cl.backOff || (s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff")
			cl.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cl.finish() })
	return cl
}

func (cl *crashLoop) finish() {
	select {
	case <-cl.stop:
	default:
		close(cl.stop)
	}
}

// checkCrashLoop: the pod is in CrashLoopBackOff and the back-off grows as
// the kubelet's does: the first restart at once, the next after 10 s, the
// one after that after 20 s.
func checkCrashLoop(t *testing.T, c *cluster, client kubernetes.Interface, cl *crashLoop) {
	deadline := time.Now().Add(90 * time.Second)
	seen := func(n int32) (time.Time, bool) {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		at, ok := cl.restarts[n]
		return at, ok
	}
	for time.Now().Before(deadline) {
		if _, ok := seen(3); ok {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cl.finish()
	t1, ok1 := seen(1)
	t2, ok2 := seen(2)
	t3, ok3 := seen(3)
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("restart counts seen: 1 %v, 2 %v, 3 %v; want all three", ok1, ok2, ok3)
	}
	first, second := t2.Sub(t1), t3.Sub(t2)
	t.Logf("crash loop: restart 2 came %v after restart 1, restart 3 %v after restart 2", first.Round(time.Millisecond), second.Round(time.Millisecond))
	if first < 9*time.Second || second < 19*time.Second || second < first+8*time.Second {
		t.Errorf("back-off %v then %v, want about 10s then 20s", first, second)
	}
	if !cl.backOff {
		t.Error("the failing container never showed CrashLoopBackOff")
	}
	events := c.kubectl("get", "events", "--field-selector", "involvedObject.name="+cl.pod.Name)
	mustContain(t, "crash loop events", events, "BackOff", "Back-off restarting failed container")
	deletePodAndWait(t, c, client, cl.pod.Name)
}

// checkConfigUpdate: a ConfigMap and a Secret reach a pod as env and as
// files, and the files change in the running pod after `kubectl edit`.
func checkConfigUpdate(t *testing.T, c *cluster, client kubernetes.Interface) {
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: "default"}, Data: map[string]string{"color": "blue"}}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: "default"}, StringData: map[string]string{"password": "first-secret"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	copyLoop := `echo "$COLOR $PASSWORD" > /out/env; trap 'exit 0' TERM
while :; do cat /cfg/color > /out/color.tmp; mv /out/color.tmp /out/color; cat /sec/password > /out/password.tmp; mv /out/password.tmp /out/password; sleep 0.3; done`
	ref := corev1.LocalObjectReference{Name: "live"}
	pod := createPod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "live-config", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Volumes: []corev1.Volume{
				{Name: "out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: ref}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "live"}}},
			},
			Containers: []corev1.Container{{
				Name: "main", Image: images.BusyboxRef, Command: []string{"sh", "-c", copyLoop},
				Env: []corev1.EnvVar{
					{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: ref, Key: "color"}}},
					{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: ref, Key: "password"}}},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "out", MountPath: "/out"}, {Name: "cfg", MountPath: "/cfg"}, {Name: "sec", MountPath: "/sec"}},
			}},
		},
	})
	out := emptyDir(c.dataDir, pod.UID, "out")
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(out, name))
		return strings.TrimSpace(string(b))
	}
	c.eventually(t, "the pod to copy its configuration", func() bool { return read("color") == "blue" && read("password") == "first-secret" })
	if got := read("env"); got != "blue first-secret" {
		t.Errorf("env from the ConfigMap and Secret = %q, want %q", got, "blue first-secret")
	}
	editor := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/color: blue/color: green/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := c.kubectlEnv([]string{"KUBE_EDITOR=" + editor}, "edit", "configmap", "live"); err != nil {
		t.Fatalf("kubectl edit: %v\n%s", err, out)
	}
	c.kubectl("patch", "secret", "live", "-p", `{"stringData":{"password":"second-secret"}}`)
	c.eventually(t, "the edited ConfigMap and Secret to reach the pod's files", func() bool {
		return read("color") == "green" && read("password") == "second-secret"
	})
	deletePodAndWait(t, c, client, pod.Name)
}

// checkStatefulSetData: a StatefulSet pod's PVC (from the default
// local-path StorageClass) keeps its data when the pod is deleted and
// recreated.
func checkStatefulSetData(t *testing.T, c *cluster, client kubernetes.Interface) {
	ctx := context.Background()
	labels := map[string]string{"app": "db"}
	write := `[ -f /data/id ] || echo "$(cat /proc/sys/kernel/random/uuid)" > /data/id; trap 'exit 0' TERM; while :; do sleep 1; done`
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{Name: "db", Image: images.BusyboxRef, Command: []string{"sh", "-c", write},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Mi")}},
				},
			}},
		},
	}
	if _, err := client.AppsV1().StatefulSets("default").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	idFile := func() string {
		pvc, err := client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data-db-0", metav1.GetOptions{})
		if err != nil || pvc.Spec.VolumeName == "" {
			return ""
		}
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil || pv.Spec.HostPath == nil {
			return ""
		}
		b, _ := os.ReadFile(filepath.Join(pv.Spec.HostPath.Path, "id"))
		return strings.TrimSpace(string(b))
	}
	waitPhase(t, c, client, "db-0", corev1.PodRunning)
	var before string
	c.eventually(t, "db-0 to write its id to its volume", func() bool { before = idFile(); return before != "" })
	old, _ := client.CoreV1().Pods("default").Get(ctx, "db-0", metav1.GetOptions{})
	c.kubectl("delete", "pod", "db-0")
	c.eventually(t, "db-0 to be recreated and Running", func() bool {
		p, err := client.CoreV1().Pods("default").Get(ctx, "db-0", metav1.GetOptions{})
		return err == nil && p.UID != old.UID && p.Status.Phase == corev1.PodRunning
	})
	if after := idFile(); after != before {
		t.Errorf("volume id after the pod was recreated = %q, want %q (data lost)", after, before)
	}
	c.kubectl("delete", "statefulset", "db")
	c.eventually(t, "the StatefulSet's pod to go", func() bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, "db-0", metav1.GetOptions{})
		return err != nil
	})
	c.kubectl("delete", "pvc", "data-db-0")
}

// checkPodToPod: a client pod reaches each of a Deployment's pods by its
// IP, across the node's bridge.
func checkPodToPod(t *testing.T, c *cluster, client kubernetes.Interface) {
	ctx := context.Background()
	c.kubectl("create", "deployment", "web", "--image", images.TestServerRef, "--replicas", "2", "--port", "8080")
	var ips []string
	c.eventually(t, "the Deployment's two pods to be Running with IPs", func() bool {
		l, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		ips = nil
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				ips = append(ips, p.Status.PodIP)
			}
		}
		return err == nil && len(ips) == 2
	})
	var script strings.Builder
	for i, ip := range ips {
		fmt.Fprintf(&script, "until wget -qO /out/%d http://%s:8080/; do sleep 0.2; done; ", i, ip)
	}
	pod := createPod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-client", Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Volumes:       []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{{Name: "client", Image: images.BusyboxRef, Command: []string{"sh", "-c", script.String()},
				VolumeMounts: []corev1.VolumeMount{{Name: "out", MountPath: "/out"}}}},
		},
	})
	waitPhase(t, c, client, pod.Name, corev1.PodSucceeded)
	for i, ip := range ips {
		b, _ := os.ReadFile(filepath.Join(emptyDir(c.dataDir, pod.UID, "out"), fmt.Sprint(i)))
		if !strings.Contains(string(b), `"ip":"`+ip+`"`) {
			t.Errorf("reply from %s = %q, want the testserver's echo naming its IP", ip, b)
		}
	}
	c.kubectl("delete", "deployment", "web")
	deletePodAndWait(t, c, client, pod.Name)
}

// checkManyDeleted: 50 pods started and deleted leave no container,
// network namespace, IP allocation, mount or pod directory behind.
func checkManyDeleted(t *testing.T, c *cluster, client kubernetes.Interface, socket string) {
	ctx := context.Background()
	before := nodeLeftovers(c.dataDir)
	for i := range 50 {
		createPod(t, client, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("many-%02d", i), Namespace: "default", Labels: map[string]string{"batch": "many"}},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To[int64](1),
				Volumes:                       []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}},
				Containers: []corev1.Container{{Name: "main", Image: images.BusyboxRef, Command: []string{"sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"},
					VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}}},
			},
		})
	}
	running := func() int {
		l, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch=many"})
		n := 0
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(3 * time.Minute)
	for running() < 50 && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	if n := running(); n < 50 {
		t.Fatalf("%d of 50 pods Running after 3 minutes", n)
	}
	during := nodeLeftovers(c.dataDir)
	c.kubectl("delete", "pods", "-l", "batch=many", "--wait=false")
	deadline = time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		l, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch=many"})
		if err == nil && len(l.Items) == 0 && nodeLeftovers(c.dataDir) == before {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if after := nodeLeftovers(c.dataDir); after != before {
		t.Errorf("after deleting 50 pods the node holds %+v, want what it held before: %+v (with the pods: %+v)", after, before, during)
	}
	if during.ips < before.ips+50 || during.netns < before.netns+50 {
		t.Errorf("with 50 pods running the node held %+v: the leftover check sees nothing", during)
	}
}

// leftovers counts what pods leave on a node: network namespaces, IPs
// allocated by host-local, mounts under the data dir, pod directories.
type leftovers struct{ netns, ips, mounts, podDirs int }

func nodeLeftovers(dataDir string) leftovers {
	var l leftovers
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[1], dataDir+"/") {
			continue
		}
		if f[2] == "nsfs" {
			l.netns++
		} else if !strings.Contains(f[1], "/containerd/") {
			l.mounts++ // volumes; containerd's own rootfs mounts are counted by containers()
		}
	}
	ipDir := filepath.Join(dataDir, "cni", "networks", "skiff")
	entries, _ := os.ReadDir(ipDir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "last_reserved_ip") && e.Name() != "lock" {
			l.ips++
		}
	}
	pods, _ := os.ReadDir(filepath.Join(dataDir, "pods"))
	l.podDirs = len(pods)
	return l
}

// deletePodAndWait deletes a pod and waits until it is gone.
func deletePodAndWait(t *testing.T, c *cluster, client kubernetes.Interface, name string) {
	t.Helper()
	c.kubectl("delete", "pod", name, "--wait=false")
	c.eventually(t, "pod "+name+" to be deleted", func() bool {
		_, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		return err != nil
	})
}

// checkProbes: a failing readiness probe takes the pod out of Ready
// without a restart; a failing liveness probe restarts the container, and
// the events say why.
func checkProbes(t *testing.T, c *cluster, client kubernetes.Interface) {
	ctx := context.Background()
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(8080)}},
			PeriodSeconds: 1, FailureThreshold: 2}
	}
	pod := createPod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probed", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{Name: "server", Image: images.TestServerRef,
				LivenessProbe: probe("/healthz"), ReadinessProbe: probe("/readyz")}},
		},
	})
	get := func() *corev1.Pod {
		p, err := client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return &corev1.Pod{}
		}
		return p
	}
	ready := func(p *corev1.Pod) bool {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				return cond.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	c.eventually(t, "the probed pod to be Ready", func() bool { return ready(get()) })
	toggle := func(path string, fail bool) {
		t.Helper()
		url := fmt.Sprintf("http://%s/%s?fail=%t", net.JoinHostPort(get().Status.PodIP, "8080"), path, fail)
		resp, err := http.Post(url, "text/plain", nil)
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		resp.Body.Close()
	}
	toggle("readyz", true)
	c.eventually(t, "the failing readiness probe to clear Ready", func() bool { return !ready(get()) })
	if p := get(); p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("a readiness failure restarted the container (restartCount %d)", p.Status.ContainerStatuses[0].RestartCount)
	}
	toggle("readyz", false)
	c.eventually(t, "the passing readiness probe to restore Ready", func() bool { return ready(get()) })

	toggle("healthz", true)
	c.eventually(t, "the failing liveness probe to restart the container", func() bool {
		cs := get().Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 1
	})
	events := c.kubectl("get", "events", "--field-selector", "involvedObject.name="+pod.Name)
	mustContain(t, "liveness events", events, "Unhealthy", "Liveness probe failed", "failed liveness probe, will be restarted")
	// The new instance starts healthy (the toggle lived in the old process).
	c.eventually(t, "the restarted container to be Ready", func() bool { return ready(get()) })
	deletePodAndWait(t, c, client, pod.Name)
}

// checkStreaming: kubectl logs (-f), exec -it through a terminal,
// port-forward and cp reach a pod through the API server and the node's
// kubelet API.
func checkStreaming(t *testing.T, c *cluster, client kubernetes.Interface) {
	counter := `i=0; trap 'exit 0' TERM; while :; do echo line-$i; i=$((i+1)); sleep 0.2; done`
	pod := createPod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stream", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{
				{Name: "counter", Image: images.BusyboxRef, Command: []string{"sh", "-c", counter}},
				{Name: "server", Image: images.TestServerRef},
			},
		},
	})
	waitPhase(t, c, client, pod.Name, corev1.PodRunning)

	if out := c.kubectl("logs", pod.Name, "-c", "counter", "--tail=1"); !strings.HasPrefix(out, "line-") || strings.Count(out, "\n") != 1 {
		t.Errorf("kubectl logs --tail=1 = %q, want one line-N", out)
	}
	t.Run("logs -f", func(t *testing.T) {
		cmd := c.kubectlCmd("logs", "-f", pod.Name, "-c", "counter", "--since=1h")
		lines := startReading(t, cmd)
		seen := map[string]bool{}
		for len(seen) < 15 {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl logs -f ended after %d lines", len(seen))
				}
				seen[l] = true
			case <-time.After(20 * time.Second):
				t.Fatalf("kubectl logs -f: no new line in 20s after %d", len(seen))
			}
		}
	})
	t.Run("exec -it", func(t *testing.T) {
		cmd := c.kubectlCmd("exec", "-it", pod.Name, "-c", "counter", "--", "sh")
		tty, err := pty.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer tty.Close()
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		if _, err := io.WriteString(tty, "echo answer-$((6*7)); [ -t 0 ] && echo on-a-tty; exit\n"); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, _ = io.Copy(&out, tty) // until the session ends (EIO)
		mustContain(t, "exec -it output", out.String(), "answer-42", "on-a-tty")
	})
	t.Run("port-forward", func(t *testing.T) {
		cmd := c.kubectlCmd("port-forward", "pod/"+pod.Name, ":8080")
		lines := startReading(t, cmd)
		var local string
		select {
		case l := <-lines: // Forwarding from 127.0.0.1:PORT -> 8080
			if f := strings.Fields(l); len(f) >= 3 {
				local = f[2]
			}
		case <-time.After(30 * time.Second):
			t.Fatal("kubectl port-forward printed nothing in 30s")
		}
		resp, err := http.Get("http://" + local + "/")
		if err != nil {
			t.Fatalf("GET through port-forward %q: %v", local, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"pod":"`+pod.Name+`"`) {
			t.Errorf("reply through port-forward = %q, want the testserver naming pod %s", body, pod.Name)
		}
	})
	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		if err := os.WriteFile(src, []byte("copied through tar\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c.kubectl("cp", src, pod.Name+":/tmp/in.txt", "-c", "counter")
		if out := c.kubectl("exec", pod.Name, "-c", "counter", "--", "cat", "/tmp/in.txt"); out != "copied through tar\n" {
			t.Errorf("file copied in reads %q", out)
		}
		back := filepath.Join(dir, "back.txt")
		c.kubectl("cp", pod.Name+":/tmp/in.txt", back, "-c", "counter")
		if b, _ := os.ReadFile(back); string(b) != "copied through tar\n" {
			t.Errorf("file copied back reads %q", b)
		}
	})
	deletePodAndWait(t, c, client, pod.Name)
}

// startReading starts cmd and returns its stdout lines; the process is
// killed (by its PID) when the test ends.
func startReading(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}
