package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"
)

// imageRuntime is a Runtime whose images are a set; pulls of images in
// fail fail, others succeed and make the image present. Methods beyond
// images panic (the embedded nil interface).
type imageRuntime struct {
	Runtime
	mu      sync.Mutex
	present map[string]bool
	fail    map[string]bool
	// wantAuth, when set, is the only credential a pull succeeds with.
	wantAuth *ImageAuth
	pulls    []*ImageAuth
}

func (r *imageRuntime) ImageStatus(_ context.Context, image string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.present[image] {
		return "sha256:" + image, true, nil
	}
	return "", false, nil
}

func (r *imageRuntime) PullImage(_ context.Context, image string, auth *ImageAuth, _ *SandboxConfig) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pulls = append(r.pulls, auth)
	if r.fail[image] {
		return "", fmt.Errorf("pulling %s: registry says no", image)
	}
	if r.wantAuth != nil && (auth == nil || *auth != *r.wantAuth) {
		return "", fmt.Errorf("pulling %s: 401 Unauthorized", image)
	}
	r.present[image] = true
	return "sha256:" + image, nil
}

func (r *imageRuntime) pullCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pulls)
}

type imageFixture struct {
	a      *Agent
	rt     *imageRuntime
	clock  *testingclock.FakeClock
	events *record.FakeRecorder
	client *fake.Clientset
}

func newImageFixture(t *testing.T, objects ...*corev1.Secret) *imageFixture {
	t.Helper()
	f := &imageFixture{
		rt:     &imageRuntime{present: map[string]bool{}, fail: map[string]bool{}},
		clock:  testingclock.NewFakeClock(t0),
		events: record.NewFakeRecorder(100),
		client: fake.NewClientset(),
	}
	for _, s := range objects {
		if _, err := f.client.CoreV1().Secrets(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := New(Config{NodeName: "n1", Client: f.client, Runtime: f.rt, Clock: f.clock, Recorder: f.events,
		Node: NodeConfig{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	return f
}

// ensure runs ensureImage for the pod's first container and returns the
// reference, the waiting reason and the events recorded.
func (f *imageFixture) ensure(t *testing.T, pod *corev1.Pod) (ref, reason string, err error, events []string) {
	t.Helper()
	ref, reason, err = f.a.ensureImage(context.Background(), pod, &pod.Spec.Containers[0], &SandboxConfig{PodUID: pod.UID})
	for {
		select {
		case e := <-f.events.Events:
			events = append(events, e)
		default:
			return ref, reason, err, events
		}
	}
}

func imagePod(image string, policy corev1.PullPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image, ImagePullPolicy: policy}}},
	}
}

func TestPullPolicy(t *testing.T) {
	const img = "example.com/app:1"
	tests := []struct {
		policy     corev1.PullPolicy
		present    bool
		wantPulls  int
		wantReason string
		wantEvents []string
	}{
		{corev1.PullNever, false, 0, ReasonErrImageNeverPull,
			[]string{`Warning ErrImageNeverPull Container image "example.com/app:1" is not present with pull policy of Never`}},
		{corev1.PullNever, true, 0, "", []string{`Normal Pulled Container image "example.com/app:1" already present on machine`}},
		{corev1.PullIfNotPresent, true, 0, "", []string{`Normal Pulled Container image "example.com/app:1" already present on machine`}},
		{corev1.PullIfNotPresent, false, 1, "", []string{`Normal Pulling Pulling image "example.com/app:1"`, `Normal Pulled Successfully pulled image "example.com/app:1" in `}},
		{corev1.PullAlways, true, 1, "", []string{`Normal Pulling Pulling image "example.com/app:1"`, `Normal Pulled Successfully pulled image "example.com/app:1" in `}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/present=%v", tc.policy, tc.present), func(t *testing.T) {
			f := newImageFixture(t)
			f.rt.present[img] = tc.present
			ref, reason, err, events := f.ensure(t, imagePod(img, tc.policy))
			if reason != tc.wantReason || (err == nil) != (tc.wantReason == "") {
				t.Errorf("reason %q, err %v; want reason %q", reason, err, tc.wantReason)
			}
			if err == nil && ref != "sha256:"+img {
				t.Errorf("ref = %q", ref)
			}
			if got := f.rt.pullCount(); got != tc.wantPulls {
				t.Errorf("%d pulls, want %d", got, tc.wantPulls)
			}
			if len(events) != len(tc.wantEvents) {
				t.Fatalf("events %q, want %q", events, tc.wantEvents)
			}
			for i, want := range tc.wantEvents {
				if !strings.HasPrefix(events[i], want) {
					t.Errorf("event %q, want it to start %q", events[i], want)
				}
			}
		})
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"nginx":                       corev1.PullAlways,
		"nginx:latest":                corev1.PullAlways,
		"127.0.0.1:5000/app":          corev1.PullAlways,
		"127.0.0.1:5000/app:1":        corev1.PullIfNotPresent,
		"nginx@sha256:abcd":           corev1.PullIfNotPresent,
		"example.com/a/b:latest@sha2": corev1.PullIfNotPresent,
	} {
		if got := pullPolicy(&corev1.Container{Image: image}); got != want {
			t.Errorf("pullPolicy(%s) = %s, want %s", image, got, want)
		}
	}
}

// A failing pull reports ErrImagePull, then ImagePullBackOff without
// pulling until the back-off window (10s, then 20s) has passed.
func TestPullBackOff(t *testing.T) {
	f := newImageFixture(t)
	const img = "example.com/broken:1"
	f.rt.fail[img] = true
	pod := imagePod(img, corev1.PullIfNotPresent)
	step := func(advance time.Duration, wantReason string, wantPulls int) []string {
		t.Helper()
		f.clock.Step(advance)
		_, reason, err, events := f.ensure(t, pod)
		if reason != wantReason || err == nil {
			t.Errorf("after %s: reason %q (err %v), want %q", advance, reason, err, wantReason)
		}
		if got := f.rt.pullCount(); got != wantPulls {
			t.Errorf("after %s: %d pulls, want %d", advance, got, wantPulls)
		}
		return events
	}
	events := step(0, ReasonErrImagePull, 1)
	if len(events) != 2 || !strings.HasPrefix(events[1], `Warning Failed Failed to pull image "example.com/broken:1": pulling example.com/broken:1: registry says no`) {
		t.Errorf("events %q", events)
	}
	events = step(5*time.Second, ReasonImagePullBackOff, 1)
	if want := []string{`Normal BackOff Back-off pulling image "example.com/broken:1"`}; !reflect.DeepEqual(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
	step(5*time.Second, ReasonErrImagePull, 2)      // t=10s: the 10s window is over
	step(15*time.Second, ReasonImagePullBackOff, 2) // t=25s: inside the 20s window
	step(5*time.Second, ReasonErrImagePull, 3)      // t=30s

	// Another pod has a back-off of its own.
	other := imagePod(img, corev1.PullIfNotPresent)
	other.UID = "uid-2"
	if _, reason, _, _ := f.ensure(t, other); reason != ReasonErrImagePull {
		t.Errorf("another pod's first pull: reason %q, want %s", reason, ReasonErrImagePull)
	}
}

func dockerConfigJSON(name, auths string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":` + auths + `}`)}}
}

func TestPullSecrets(t *testing.T) {
	const img = "127.0.0.1:5000/app:1"
	good := ImageAuth{Username: "alice", Password: "s3cret"}
	basic := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	t.Run("pod secret", func(t *testing.T) {
		f := newImageFixture(t, dockerConfigJSON("creds", `{"127.0.0.1:5000": {"auth": "`+basic+`"}}`))
		f.rt.wantAuth = &good
		pod := imagePod(img, corev1.PullAlways)
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "missing"}, {Name: "creds"}}
		if _, reason, err, _ := f.ensure(t, pod); err != nil {
			t.Fatalf("pull with the pod's secret: %s %v", reason, err)
		}
	})
	t.Run("no matching secret pulls anonymously", func(t *testing.T) {
		f := newImageFixture(t, dockerConfigJSON("creds", `{"127.0.0.1:5001": {"username": "alice", "password": "s3cret"}}`))
		f.rt.wantAuth = &good
		pod := imagePod(img, corev1.PullAlways)
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "creds"}}
		_, reason, err, _ := f.ensure(t, pod)
		if reason != ReasonErrImagePull || !strings.Contains(fmt.Sprint(err), "401") {
			t.Errorf("reason %q, err %v; want ErrImagePull with the registry's 401", reason, err)
		}
		if len(f.rt.pulls) != 1 || f.rt.pulls[0] != nil {
			t.Errorf("pulls with %v, want one anonymous pull", f.rt.pulls)
		}
	})
	t.Run("service account secrets, each credential tried", func(t *testing.T) {
		f := newImageFixture(t,
			dockerConfigJSON("old", `{"http://127.0.0.1:5000/v2/": {"username": "alice", "password": "expired"}}`),
			dockerConfigJSON("new", `{"127.0.0.1:5000": {"username": "alice", "password": "s3cret"}}`))
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "ns"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "old"}, {Name: "new"}}}
		if _, err := f.client.CoreV1().ServiceAccounts("ns").Create(context.Background(), sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		f.rt.wantAuth = &good
		pod := imagePod(img, corev1.PullAlways)
		pod.Spec.ServiceAccountName = "builder"
		if _, reason, err, _ := f.ensure(t, pod); err != nil {
			t.Fatalf("pull with the service account's secrets: %s %v", reason, err)
		}
		if len(f.rt.pulls) != 2 {
			t.Errorf("pulls with %v, want the expired credential then the good one", f.rt.pulls)
		}
	})
}

func TestKeyringLookup(t *testing.T) {
	auth := func(user string) ImageAuth { return ImageAuth{Username: user, Password: "pw"} }
	k := newKeyring([]*corev1.Secret{
		dockerConfigJSON("a", `{
			"https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
			"registry.example.com": {"username": "host", "password": "pw"},
			"registry.example.com/team": {"username": "team", "password": "pw"},
			"*.mirror.example.com": {"username": "wild", "password": "pw"},
			"127.0.0.1:5000": {"auth": "`+base64.StdEncoding.EncodeToString([]byte("local:pw"))+`"}
		}`),
		{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"legacy.example.com": {"username": "legacy", "password": "pw"}}`)}},
		{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"opaque.example.com": {"username": "no", "password": "pw"}}`)}},
	})
	tests := map[string][]ImageAuth{
		"nginx":                                 {auth("hub")},
		"library/nginx:1":                       {auth("hub")},
		"docker.io/someone/app":                 {auth("hub")},
		"registry.example.com/app:1":            {auth("host")},
		"registry.example.com/team/app:1":       {auth("team"), auth("host")},
		"registry.example.com:5000/app":         nil,
		"eu.mirror.example.com/app":             {auth("wild")},
		"mirror.example.com/app":                nil,
		"a.eu.mirror.example.com/app":           nil,
		"127.0.0.1:5000/testserver:1":           {auth("local")},
		"127.0.0.1:5001/testserver:1":           nil,
		"legacy.example.com/app@sha256:abcdef0": {auth("legacy")},
		"opaque.example.com/app":                nil,
		"localhost/app":                         nil,
	}
	for image, want := range tests {
		if got := k.lookup(image); !reflect.DeepEqual(got, want) {
			t.Errorf("lookup(%s) = %+v, want %+v", image, got, want)
		}
	}
}

// The agent's image errors carry the message the status reports.
func TestImageErrorMessage(t *testing.T) {
	f := newImageFixture(t)
	_, _, err, _ := f.ensure(t, imagePod("absent:1", corev1.PullNever))
	if want := `Container image "absent:1" is not present with pull policy of Never`; err == nil || err.Error() != want {
		t.Errorf("err %v, want %q", err, want)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("the message is upstream's whole text, not wrapped")
	}
}
