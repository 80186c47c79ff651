package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/simulated"
)

// recorder wraps the simulated runtime and keeps what the agent asked of
// it.
type recorder struct {
	*simulated.Runtime
	mu         sync.Mutex
	sandboxes  []*agent.SandboxConfig
	containers []*agent.ContainerConfig
}

func (r *recorder) RunPodSandbox(ctx context.Context, c *agent.SandboxConfig) (string, error) {
	r.mu.Lock()
	r.sandboxes = append(r.sandboxes, c)
	r.mu.Unlock()
	return r.Runtime.RunPodSandbox(ctx, c)
}

func (r *recorder) CreateContainer(ctx context.Context, sb string, c *agent.ContainerConfig) (string, error) {
	r.mu.Lock()
	r.containers = append(r.containers, c)
	r.mu.Unlock()
	return r.Runtime.CreateContainer(ctx, sb, c)
}

// fakeHooks are Volumes and EnvResolver recording their calls; Setup
// fails until ready is set (an unbound claim).
type fakeHooks struct {
	mu       sync.Mutex
	ready    bool
	setups   int
	cleaned  []types.UID
	envIPs   []string
	mountEnv map[string]string
}

func (f *fakeHooks) Setup(*corev1.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setups++
	if !f.ready {
		return errors.New("claim not bound")
	}
	return nil
}

func (f *fakeHooks) Mounts(_ *corev1.Pod, c *corev1.Container, env map[string]string) ([]agent.Mount, error) {
	f.mu.Lock()
	f.mountEnv = env
	f.mu.Unlock()
	return []agent.Mount{{ContainerPath: "/data", HostPath: "/node/" + c.Name}}, nil
}

func (f *fakeHooks) Update(*corev1.Pod) error { return nil }

// PodUIDs reports a pod deleted while the agent was down.
func (f *fakeHooks) PodUIDs() ([]types.UID, error) { return []types.UID{"gone"}, nil }

func (f *fakeHooks) Cleanup(uid types.UID) error {
	f.mu.Lock()
	f.cleaned = append(f.cleaned, uid)
	f.mu.Unlock()
	return nil
}

func (f *fakeHooks) ResolveEnv(pod *corev1.Pod, c *corev1.Container, podIPs []string) (agent.ResolvedEnv, error) {
	f.mu.Lock()
	f.envIPs = podIPs
	f.mu.Unlock()
	return agent.ResolvedEnv{Env: []agent.KeyValue{{Key: "POD_IP", Value: podIPs[0]}}, Command: []string{"run", pod.Name}}, nil
}

// TestHooks runs a pod through the agent with volume and env hooks: the
// pod waits while volumes cannot be set up, then its container gets the
// resolved env (with the new sandbox's IP), command, mounts, resources,
// security context, and its sandbox the hostPorts and the pod's DNS; once
// the pod is gone its volumes are cleaned up.
func TestHooks(t *testing.T) {
	// The fake clientset sends no watch-list bookmark; list then watch.
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\nsearch example.org\noptions ndots:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sim, err := simulated.New(simulated.Options{NodeIP: "192.0.2.1", PodCIDR: "10.42.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	rt := &recorder{Runtime: sim}
	hooks := &fakeHooks{}
	client := fake.NewClientset()
	a, err := agent.New(agent.Config{
		NodeName: "n1", Client: client, Runtime: rt, Volumes: hooks, Env: hooks, ResolvConf: resolv,
		Node: agent.NodeConfig{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	root := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u1"},
		Spec: corev1.PodSpec{NodeName: "n1",
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: &root},
			DNSConfig:       &corev1.PodDNSConfig{Searches: []string{"pod.example"}},
			Containers: []corev1.Container{{Name: "c", Image: "img",
				Ports:     []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
			}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "volume setup to be retried", func() bool { hooks.mu.Lock(); defer hooks.mu.Unlock(); return hooks.setups >= 2 })
	rt.mu.Lock()
	if len(rt.sandboxes) != 0 {
		t.Errorf("a sandbox was created before the pod's volumes were set up")
	}
	rt.mu.Unlock()
	hooks.mu.Lock()
	hooks.ready = true
	hooks.mu.Unlock()
	waitFor(t, "the container to be created", func() bool { rt.mu.Lock(); defer rt.mu.Unlock(); return len(rt.containers) == 1 })

	rt.mu.Lock()
	sb, c := rt.sandboxes[0], rt.containers[0]
	rt.mu.Unlock()
	wantDNS := &agent.DNSConfig{Servers: []string{"192.0.2.53"}, Searches: []string{"example.org", "pod.example"}, Options: []string{"ndots:2"}}
	if !reflect.DeepEqual(sb.DNS, wantDNS) {
		t.Errorf("sandbox DNS = %+v, want %+v", sb.DNS, wantDNS)
	}
	if !reflect.DeepEqual(sb.Ports, []agent.PortMapping{{ContainerPort: 80, HostPort: 8080}}) {
		t.Errorf("sandbox ports = %+v", sb.Ports)
	}
	if len(c.Env) != 1 || c.Env[0].Key != "POD_IP" || c.Env[0].Value == "" || !reflect.DeepEqual(c.Command, []string{"run", "p"}) {
		t.Errorf("container env %+v command %v: want the resolver's, with the new sandbox's IP", c.Env, c.Command)
	}
	if !reflect.DeepEqual(c.Mounts, []agent.Mount{{ContainerPath: "/data", HostPath: "/node/c"}}) || hooks.mountEnv["POD_IP"] != c.Env[0].Value {
		t.Errorf("mounts %+v (env seen %v)", c.Mounts, hooks.mountEnv)
	}
	if c.Resources == nil || c.Resources.MemoryLimitBytes != 64<<20 || c.Security == nil || c.Security.RunAsUser == nil || *c.Security.RunAsUser != 0 {
		t.Errorf("resources %+v security %+v", c.Resources, c.Security)
	}

	if err := client.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod's volumes to be cleaned up", func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		return slices.Contains(hooks.cleaned, "u1")
	})
	hooks.mu.Lock()
	if !slices.Contains(hooks.cleaned, "gone") {
		t.Errorf("volumes of a pod gone while the agent was down were not cleaned up: %v", hooks.cleaned)
	}
	hooks.mu.Unlock()
	if l, _ := sim.ListContainers(ctx, agent.ContainerFilter{PodUID: "u1"}); len(l) != 0 {
		t.Errorf("containers remain after cleanup: %+v", l)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
