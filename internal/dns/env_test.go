package dns

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
)

const zone = "cluster.local."

// env is a Server on 127.0.0.1 fed by a fake clientset.
type env struct {
	t      testing.TB
	client *fake.Clientset
	srv    *Server
	addr   string
}

// start serves cfg over objs. Unless cfg names upstreams, the resolv.conf
// is a path that does not exist, so no test can reach a real resolver.
func start(t testing.TB, cfg Config, objs ...runtime.Object) *env {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	cfg.Informers = f
	if len(cfg.Upstreams) == 0 {
		cfg.ResolvConf = filepath.Join(t.TempDir(), "no-resolv.conf")
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(quietContext())
	f.Start(ctx.Done())
	eventually(t, "informers synced", srv.Ready)
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListeners(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		f.Shutdown()
	})
	return &env{t: t, client: client, srv: srv, addr: l.Addr()}
}

// quietContext keeps the server's logs out of test and benchmark output.
func quietContext() context.Context {
	return klog.NewContext(context.Background(), logr.Discard())
}

// eventually polls cond until it holds or a generous deadline passes; the
// deadline only bounds a broken test, it asserts no timing.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) exchange(netw string, m *dns.Msg) *dns.Msg {
	e.t.Helper()
	c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, e.addr)
	if err != nil {
		e.t.Fatalf("query %s over %s: %v", m.Question[0].Name, netw, err)
	}
	return r
}

func (e *env) query(name string, qtype uint16) *dns.Msg {
	e.t.Helper()
	return e.exchange("udp", new(dns.Msg).SetQuestion(name, qtype))
}

func ns(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

type port struct {
	name  string
	num   int32
	proto corev1.Protocol
}

func service(ns, name, clusterIP string, ports ...port) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP},
	}
	if clusterIP != corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{clusterIP}
	}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.name, Port: p.num, Protocol: p.proto})
	}
	return svc
}

func externalName(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

type ep struct {
	ip    string
	host  string
	ready *bool
}

func ptrTo[T any](v T) *T { return &v }

func slice(ns, svc, name string, ports []port, eps ...ep) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, e := range eps {
		end := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}}
		if e.host != "" {
			end.Hostname = ptrTo(e.host)
		}
		sl.Endpoints = append(sl.Endpoints, end)
	}
	for _, p := range ports {
		sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: ptrTo(p.name), Port: ptrTo(p.num), Protocol: ptrTo(p.proto)})
	}
	return sl
}

// fixture is a small cluster: a ClusterIP Service with endpoints, a
// StatefulSet's headless Service, and ExternalName Services.
func fixture() []runtime.Object {
	http := port{"http", 80, corev1.ProtocolTCP}
	pg := port{"pg", 5432, corev1.ProtocolTCP}
	return []runtime.Object{
		ns("default"), ns("other"),
		service("default", "web", "10.96.0.10", http, port{"", 8080, corev1.ProtocolTCP}),
		slice("default", "web", "web-1", []port{{"http", 8000, corev1.ProtocolTCP}}, ep{ip: "10.244.1.1"}),
		service("default", "db", corev1.ClusterIPNone, port{"pg", 5432, corev1.ProtocolTCP}),
		slice("default", "db", "db-a", []port{pg},
			ep{ip: "10.244.0.5", host: "db-0", ready: ptrTo(true)},
			ep{ip: "10.244.0.6", host: "db-1", ready: ptrTo(true)},
			ep{ip: "10.244.0.7", host: "db-2", ready: ptrTo(false)}),
		// A second slice of the same Service: an endpoint without a
		// hostname and an unknown (nil) ready condition.
		slice("default", "db", "db-b", []port{pg}, ep{ip: "10.244.0.8"}),
		externalName("default", "ext", "example.com"),
		externalName("default", "alias", "web.default.svc.cluster.local"),
	}
}

// fakeUpstream is a resolver on 127.0.0.1 standing in for the node's.
type fakeUpstream struct {
	addr string
	mu   sync.Mutex
	seen []string // "udp name" / "tcp name"
}

func startUpstream(t testing.TB) *fakeUpstream {
	t.Helper()
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{addr: l.Addr()}
	var servers []*dns.Server
	for _, s := range []*dns.Server{{PacketConn: l.Packet}, {Listener: l.Stream}} {
		s.Handler = dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { u.serve(w, r, s.Listener != nil) })
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		servers = append(servers, s)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
	})
	return u
}

func (u *fakeUpstream) serve(w dns.ResponseWriter, r *dns.Msg, tcp bool) {
	q := r.Question[0]
	u.mu.Lock()
	u.seen = append(u.seen, map[bool]string{true: "tcp ", false: "udp "}[tcp]+q.Name)
	u.mu.Unlock()
	m := new(dns.Msg).SetReply(r)
	switch q.Name {
	case "example.com.", "example.org.":
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, mustRR("%s 30 IN A 192.0.2.1", q.Name))
		}
	case "big.example.":
		// Too big for plain UDP: the upstream sets TC and answers over TCP.
		if !tcp {
			m.Truncated = true
			break
		}
		for i := range 60 {
			m.Answer = append(m.Answer, mustRR("big.example. 30 IN A 192.0.2.%d", i+1))
		}
	default:
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

func (u *fakeUpstream) queries() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func mustRR(format string, args ...any) dns.RR {
	rr, err := dns.NewRR(fmt.Sprintf(format, args...))
	if err != nil {
		panic(err)
	}
	return rr
}
