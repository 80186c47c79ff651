package cri_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/cri"
	"github.com/skiff-sh/skiff/internal/agent/cri/critest"
	"github.com/skiff-sh/skiff/internal/agent/imagegc"
	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/internal/server/servertest"
	"github.com/skiff-sh/skiff/test/images"
)

// TestImagePulls runs a whole node against a registry on 127.0.0.1 that
// wants basic auth: a pod with a pull secret runs, one without fails
// with ErrImagePull then ImagePullBackOff, pull policy Never on an absent
// image gives ErrImageNeverPull, and Always asks the registry again.
func TestImagePulls(t *testing.T) {
	critest.RequireRealNode(t)
	reg := startRegistry(t, "alice", "s3cret")
	archive := testServerArchive(t)
	private := reg.push(t, archive, images.TestServerRef, "testserver:1")
	unpulled := reg.push(t, archive, images.TestServerRef, "other:1")

	s := servertest.Start(t, servertest.Options{})
	events := &eventLog{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	critest.RunNode(t, ctx, cri.NodeConfig{NodeName: "img-0", Client: s.Client, DataDir: critest.ShortDir(t, "skimg"), Recorder: events})
	cs := s.Client.CoreV1()
	auths, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.host: map[string]string{"username": "alice", "password": "s3cret"}}})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "default"},
		Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: auths}}
	if _, err := cs.Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Without the secret the registry answers 401.
	createPod(t, ctx, cs, "no-secret", unpulled, corev1.PullIfNotPresent, "")
	waitWaiting(t, ctx, cs, "no-secret", agent.ReasonImagePullBackOff)
	if !events.has(`Failed: Failed to pull image "`+unpulled+`"`) || !events.has("Failed: Error: ErrImagePull") ||
		!events.has(`BackOff: Back-off pulling image "`+unpulled+`"`) {
		t.Errorf("want Failed (pull), Failed (ErrImagePull) and BackOff events for the pull without credentials; events:\n%s", events)
	}

	createPod(t, ctx, cs, "with-secret", private, corev1.PullIfNotPresent, "regcred")
	waitRunning(t, ctx, cs, "with-secret")
	if !events.has(`Pulled: Successfully pulled image "` + private + `"`) {
		t.Errorf("no Pulled event for the pull with the secret; events:\n%s", events)
	}

	createPod(t, ctx, cs, "never", reg.host+"/absent:1", corev1.PullNever, "")
	w := waitWaiting(t, ctx, cs, "never", agent.ReasonErrImageNeverPull)
	if want := `Container image "` + reg.host + `/absent:1" is not present with pull policy of Never`; w.Message != want {
		t.Errorf("waiting message %q, want %q", w.Message, want)
	}

	// The image is present now; Always still asks the registry.
	before := reg.manifests.Load()
	createPod(t, ctx, cs, "always", private, corev1.PullAlways, "regcred")
	waitRunning(t, ctx, cs, "always")
	if after := reg.manifests.Load(); after == before {
		t.Errorf("pull policy Always made no registry request (%d manifest requests before and after)", before)
	}

	t.Logf("events:\n%s", events)
	for _, name := range []string{"no-secret", "with-secret", "never", "always"} {
		deletePod(t, ctx, cs, name)
	}
}

// createPod creates a host-network pod running the test server on a port
// of the kernel's choosing, so that pods do not collide on the node.
func createPod(t *testing.T, ctx context.Context, cs typedcorev1.CoreV1Interface, name, img string, policy corev1.PullPolicy, secret string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "img-0", HostNetwork: true, RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "app", Image: img, ImagePullPolicy: policy,
				Env: []corev1.EnvVar{{Name: "HTTP_ADDR", Value: "127.0.0.1:0"}, {Name: "TCP_ADDR", Value: ""}}}}},
	}
	if secret != "" {
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: secret}}
	}
	if _, err := cs.Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitWaiting(t *testing.T, ctx context.Context, cs typedcorev1.CoreV1Interface, name, reason string) *corev1.ContainerStateWaiting {
	t.Helper()
	var last *corev1.ContainerStateWaiting
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := cs.Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		last = p.Status.ContainerStatuses[0].State.Waiting
		return last != nil && last.Reason == reason, nil
	})
	if err != nil {
		t.Fatalf("pod %s never waiting with reason %s (last %+v): %v", name, reason, last, err)
	}
	return last
}

func waitRunning(t *testing.T, ctx context.Context, cs typedcorev1.CoreV1Interface, name string) {
	t.Helper()
	var last corev1.PodStatus
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := cs.Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p.Status
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].ImageID != "", nil
	})
	if err != nil {
		t.Fatalf("pod %s not running (status %+v): %v", name, last, err)
	}
}

func deletePod(t *testing.T, ctx context.Context, cs typedcorev1.CoreV1Interface, name string) {
	t.Helper()
	if err := cs.Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.Pods("default").Get(ctx, name, metav1.GetOptions{})
		return err != nil, nil
	})
	if err != nil {
		t.Errorf("pod %s not deleted: %v", name, err)
	}
}

// TestImageGC runs the image garbage collector on a real containerd with
// thresholds that make every image a candidate: an unused image goes, the
// pinned pause image and an image a container uses stay.
func TestImageGC(t *testing.T) {
	n := startNode(t)
	r := n.runtime(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	used := n.exiterImage(t)
	var buf bytes.Buffer
	const unused = "skiff.local/unused:1"
	if err := image.Build(unused, image.Spec{Files: []image.File{{Path: "/hello", Content: []byte("hi")}}, Cmd: []string{"/hello"}}, &buf); err != nil {
		t.Fatal(err)
	}
	if err := (image.Ctr{Address: n.sup.Config().SocketPath()}).Import(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	sc := &agent.SandboxConfig{PodUID: "gc-1", PodName: "gc", PodNamespace: "ns", Hostname: "gc", HostNetwork: true}
	sb, err := r.RunPodSandbox(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateContainer(ctx, sb, &agent.ContainerConfig{Name: "app", Image: used}); err != nil {
		t.Fatal(err)
	}
	fs, err := r.ImageFsStats(ctx)
	if err != nil || fs.CapacityBytes == 0 || fs.AvailableBytes > fs.CapacityBytes {
		t.Fatalf("image fs stats %+v, %v", fs, err)
	}
	clock := testingclock.NewFakeClock(time.Now())
	m, err := imagegc.New(imagegc.Config{Runtime: r, HighThresholdPercent: 1, LowThresholdPercent: 1, Clock: clock, Pinned: []string{image.PauseRef}})
	if err != nil {
		t.Fatal(err)
	}
	// The first collection only records the images (all younger than
	// MinAge); the second, MinAge later, removes. The disk is surely over
	// 1% used and cannot be emptied, so both may report a shortfall.
	_ = m.GarbageCollect(ctx)
	if _, present, _ := r.ImageStatus(ctx, unused); !present {
		t.Fatal("an image younger than MinAge was removed")
	}
	clock.Step(imagegc.DefaultMinAge)
	_ = m.GarbageCollect(ctx)
	for ref, want := range map[string]bool{unused: false, used: true, image.PauseRef: true} {
		if _, present, err := r.ImageStatus(ctx, ref); err != nil || present != want {
			t.Errorf("after collection %s present = %v (%v), want %v", ref, present, err, want)
		}
	}
}
