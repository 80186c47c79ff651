package cri_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/agent/cri"
	"github.com/skiff-sh/skiff/internal/agent/cri/critest"
	"github.com/skiff-sh/skiff/internal/server/servertest"
	"github.com/skiff-sh/skiff/test/images"
)

// TestProbes runs the testserver image on a real node with a readiness
// probe on /readyz and a liveness probe on /healthz, flips them through
// the testserver's toggles and watches the agent react: readiness gates
// the Ready condition without restarting anything; a failing liveness
// probe kills the container, which restarts (restartCount rises) with
// the events saying why.
func TestProbes(t *testing.T) {
	critest.RequireRealNode(t, "/bin/busybox")
	s := servertest.Start(t, servertest.Options{})
	dir := critest.ShortDir(t, "skprb")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rec := record.NewFakeRecorder(10000)
	critest.RunNode(t, ctx, cri.NodeConfig{NodeName: "real-0", Client: s.Client, DataDir: dir, Recorder: rec})
	critest.ImportTestImages(t, filepath.Join(dir, "containerd", "containerd.sock"), "testserver.tar", "busybox.tar")

	port := freePort(t)
	probe := func(path string, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: failures,
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probed", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: "real-0", HostNetwork: true, TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "app", Image: images.TestServerRef, ImagePullPolicy: corev1.PullIfNotPresent,
				// Host network: a port of its own, and no TCP echo on 9000.
				Args:           []string{"-http", fmt.Sprintf(":%d", port), "-tcp", ""},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}},
				ReadinessProbe: probe("/readyz", 1),
				LivenessProbe:  probe("/healthz", 2),
			}, {
				// Exec through CRI: a postStart hook the readiness probe
				// depends on, and a preStop hook that fails (exit 1).
				Name: "hooks", Image: images.BusyboxRef, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"/bin/busybox", "sleep", "3600"},
				Lifecycle: &corev1.Lifecycle{
					PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/busybox", "touch", "/tmp/started"}}},
					PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/busybox", "false"}}},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/busybox", "test", "-f", "/tmp/started"}}},
					PeriodSeconds: 1, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: 1,
				},
			}},
		},
	}
	pods := s.Client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Should the test fail half-way, the pod still goes before the node
	// stops, so no container outlives the test (cleanups run last first).
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if pods.Delete(cctx, "probed", metav1.DeleteOptions{}) != nil {
			return // gone already
		}
		_ = wait.PollUntilContextCancel(cctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := pods.Get(ctx, "probed", metav1.GetOptions{})
			return err != nil, nil
		})
	})
	waitPod(t, ctx, s.Client, "running and ready", func(p *corev1.Pod) bool { return podReady(p) && restarts(p) == 0 })

	toggle(t, port, "/readyz", true)
	waitPod(t, ctx, s.Client, "unready", func(p *corev1.Pod) bool { return !podReady(p) && running(p) && restarts(p) == 0 })
	toggle(t, port, "/readyz", false)
	waitPod(t, ctx, s.Client, "ready again", func(p *corev1.Pod) bool { return podReady(p) && restarts(p) == 0 })

	toggle(t, port, "/healthz", true)
	// The new container starts healthy (the toggle lives in the process).
	waitPod(t, ctx, s.Client, "restarted and ready", func(p *corev1.Pod) bool {
		return podReady(p) && restarts(p) >= 1 && p.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil
	})
	if err := pods.Delete(ctx, "probed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "probed", metav1.GetOptions{})
		return err != nil, nil
	})
	if err != nil {
		t.Fatalf("pod not deleted: %v", err)
	}
	var evs []string
	for len(rec.Events) > 0 {
		evs = append(evs, <-rec.Events)
	}
	all := strings.Join(evs, "\n")
	for _, want := range []string{
		"Warning Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 500",
		"Warning Unhealthy Liveness probe failed: HTTP probe failed with statuscode: 500",
		"Normal Killing Container app failed liveness probe, will be restarted",
		`Warning FailedPreStopHook PreStop hook failed: Exec lifecycle hook ([/bin/busybox false]) for Container "hooks" in Pod "probed_default`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no event %q among:\n%s", want, all)
		}
	}
	if strings.Contains(all, "FailedPostStartHook") {
		t.Errorf("postStart hook failed:\n%s", all)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// toggle flips the testserver's /healthz or /readyz.
func toggle(t *testing.T, port int, path string, fail bool) {
	t.Helper()
	v := "0"
	if fail {
		v = "1"
	}
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d%s?fail=%s", port, path, v), "", nil)
	if err != nil {
		t.Fatalf("toggling %s: %v", path, err)
	}
	resp.Body.Close()
}

func waitPod(t *testing.T, ctx context.Context, c kubernetes.Interface, what string, cond func(*corev1.Pod) bool) {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(ctx, "probed", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return len(p.Status.ContainerStatuses) == 2 && cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod not %s: %v; last status %+v", what, err, last)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func running(p *corev1.Pod) bool   { return p.Status.ContainerStatuses[0].State.Running != nil }
func restarts(p *corev1.Pod) int32 { return p.Status.ContainerStatuses[0].RestartCount }
