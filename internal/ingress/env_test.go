package ingress

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

const ns = "default"

// env is one running controller on loopback with a fake API.
type env struct {
	client *fake.Clientset
	ctrl   *Controller
	// stop cancels Run and returns its error once it has returned.
	stop func() error
}

func startEnv(t testing.TB, objs ...runtime.Object) *env {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{
		Client: client, Informers: f,
		HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0",
		NodeIPs: []string{"192.0.2.10"}, DrainTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		f.Shutdown()
	})
	select {
	case <-c.Ready():
	case err := <-done:
		t.Fatalf("Run ended before ready: %v", err)
	}
	return &env{client: client, ctrl: c, stop: stop}
}

// eventually polls cond until it holds; the deadline only bounds a hung
// test, it asserts nothing about speed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echoBackend answers "<name> <path>" and counts its requests.
type echoBackend struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last http.Header
	host string
}

func newEchoBackend(t testing.TB, name string) *echoBackend {
	b := &echoBackend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.mu.Lock()
		b.last, b.host = r.Header.Clone(), r.Host
		b.mu.Unlock()
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *echoBackend) port() int32 { return portOf(b.srv.Listener.Addr().String()) }

func portOf(addr string) int32 {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return int32(n)
}

func service(name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Ports: ports},
	}
}

func svcPort(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP}
}

// sliceEP is one endpoint of a test slice: 127.0.0.1 cannot tell two
// pods apart, so each endpoint is its own slice with its own port.
type sliceEP struct {
	port  int32
	ready bool
}

// endpointSlice lists endpoints of svc on port name portName, each at
// 127.0.0.1:<its port>. Slices carry one port number for all their
// endpoints, so one slice per endpoint stands in for pods on one port.
func endpointSlices(svc, portName string, eps ...sliceEP) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, e := range eps {
		ready := e.ready
		port, name, proto := e.port, portName, corev1.ProtocolTCP
		out = append(out, &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ns, Name: fmt.Sprintf("%s-%d", svc, e.port),
				Labels: map[string]string{discoveryv1.LabelServiceName: svc},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{
				Addresses:  []string{"127.0.0.1"},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			}},
			Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
		})
	}
	return out
}

func pathOf(p string, t networkingv1.PathType, svc string, port networkingv1.ServiceBackendPort) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{
		Path: p, PathType: &t,
		Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}},
	}
}

func rule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
		HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths},
	}}
}

func ingressOf(name string, rules ...networkingv1.IngressRule) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1.IngressSpec{Rules: rules},
	}
}

var (
	portHTTP = networkingv1.ServiceBackendPort{Name: "http"}
	port80   = networkingv1.ServiceBackendPort{Number: 80}
)

// get sends one request with the given Host through c and returns the
// status and body.
func get(t testing.TB, c *http.Client, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func objs[T runtime.Object](list []T) []runtime.Object {
	out := make([]runtime.Object, 0, len(list))
	for _, o := range list {
		out = append(out, o)
	}
	return out
}
