package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/internal/pki"
)

// TEST-NET-1 addresses: the server listens on them with IP_FREEBIND, and
// no test sends a packet there.
const (
	testAdvertise = "192.0.2.10"
	testPodCIDR   = "192.0.2.0/24"
	testGateway   = "192.0.2.1"
)

type testServer struct {
	stop   func(t *testing.T) // stops the server and waits; idempotent
	dir    string
	host   string // host:port of the bind listener, from the kubeconfig
	client kubernetes.Interface
}

// startServer runs Run with the API server alone on 127.0.0.1 and a free
// port until the test ends. (servertest imports this package, so this
// package's tests cannot use it.)
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.BindAddress, cfg.ServiceCIDR, cfg.DisableControllers = "127.0.0.1", "10.43.0.0/16", true
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ready := make(chan struct{})
	cfg.Ready = ready
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	stopped := false
	stop := func(t *testing.T) {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
	t.Cleanup(func() { stop(t) })
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(cfg.DataDir, "kubeconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 1000, 2000
	u, err := url.Parse(rc.Host)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{stop: stop, dir: cfg.DataDir, host: u.Host, client: kubernetes.NewForConfigOrDie(rc)}
}

// eventually polls cond until it returns nil; the limit only bounds a
// broken build, it asserts nothing about speed.
func eventually(t *testing.T, what string, cond func(context.Context) error) {
	t.Helper()
	ctx := context.Background()
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = cond(ctx); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func getService(ctx context.Context, c kubernetes.Interface) (*corev1.Service, error) {
	return c.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, kubernetesServiceName, metav1.GetOptions{})
}

// checkService asserts upstream's shape of Service default/kubernetes.
func checkService(svc *corev1.Service, apiPort int) error {
	want := corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt(apiPort)}
	switch {
	case svc.Spec.ClusterIP != "10.43.0.1":
		return fmt.Errorf("clusterIP %q, want 10.43.0.1", svc.Spec.ClusterIP)
	case svc.Spec.Type != corev1.ServiceTypeClusterIP:
		return fmt.Errorf("type %q", svc.Spec.Type)
	case svc.Spec.Selector != nil:
		return fmt.Errorf("selector %v, want none", svc.Spec.Selector)
	case len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0] != want:
		return fmt.Errorf("ports %+v, want [%+v]", svc.Spec.Ports, want)
	case svc.Labels["component"] != "apiserver" || svc.Labels["provider"] != "kubernetes":
		return fmt.Errorf("labels %v", svc.Labels)
	}
	return nil
}

// checkEndpoints asserts that Endpoints and EndpointSlice default/kubernetes
// publish exactly addr:apiPort.
func checkEndpoints(ctx context.Context, c kubernetes.Interface, addr string, apiPort int) error {
	ep, err := c.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, kubernetesServiceName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	wantPort := corev1.EndpointPort{Name: "https", Port: int32(apiPort), Protocol: corev1.ProtocolTCP}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != addr ||
		len(ep.Subsets[0].NotReadyAddresses) != 0 || !slices.Equal(ep.Subsets[0].Ports, []corev1.EndpointPort{wantPort}) {
		return fmt.Errorf("endpoints subsets %+v, want %s:%d", ep.Subsets, addr, apiPort)
	}
	if ep.Labels[discoveryv1.LabelSkipMirror] != "true" {
		return fmt.Errorf("endpoints labels %v", ep.Labels)
	}
	s, err := c.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Get(ctx, kubernetesServiceName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	switch {
	case s.Labels[discoveryv1.LabelServiceName] != kubernetesServiceName:
		return fmt.Errorf("slice labels %v", s.Labels)
	case s.AddressType != discoveryv1.AddressTypeIPv4:
		return fmt.Errorf("slice addressType %q", s.AddressType)
	case len(s.Endpoints) != 1 || !slices.Equal(s.Endpoints[0].Addresses, []string{addr}) ||
		s.Endpoints[0].Conditions.Ready == nil || !*s.Endpoints[0].Conditions.Ready:
		return fmt.Errorf("slice endpoints %+v, want one ready %s", s.Endpoints, addr)
	case len(s.Ports) != 1 || s.Ports[0].Port == nil || int(*s.Ports[0].Port) != apiPort ||
		s.Ports[0].Name == nil || *s.Ports[0].Name != "https" || s.Ports[0].Protocol == nil || *s.Ports[0].Protocol != corev1.ProtocolTCP:
		return fmt.Errorf("slice ports %+v", s.Ports)
	}
	return nil
}

func (s *testServer) port(t *testing.T) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(s.host)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}

// handshake connects to the bind listener (loopback) as a client that
// dialled serverName would, verifying the certificate against the CA.
func (s *testServer) handshake(t *testing.T, serverName string) error {
	t.Helper()
	caPEM, err := os.ReadFile(pki.PathsFor(s.dir).CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := tls.Dial("tcp", s.host, &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return conn.Close()
}

func TestKubernetesService(t *testing.T) {
	s := startServer(t, Config{AdvertiseAddress: testAdvertise})
	apiPort := s.port(t)
	var first *corev1.Service
	eventually(t, "Service default/kubernetes", func(ctx context.Context) (err error) {
		if first, err = getService(ctx, s.client); err != nil {
			return err
		}
		return checkService(first, apiPort)
	})
	eventually(t, "endpoints of default/kubernetes", func(ctx context.Context) error {
		return checkEndpoints(ctx, s.client, testAdvertise, apiPort)
	})
	// In-cluster clients dial the ClusterIP or kubernetes.default.svc;
	// clients given the endpoints dial the advertise address.
	for _, name := range []string{"10.43.0.1", testAdvertise, "kubernetes.default.svc.cluster.local"} {
		if err := s.handshake(t, name); err != nil {
			t.Errorf("TLS as %s: %v", name, err)
		}
	}

	ctx := context.Background()
	t.Run("deleted Service comes back", func(t *testing.T) {
		if err := s.client.CoreV1().Services(metav1.NamespaceDefault).Delete(ctx, kubernetesServiceName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "recreated Service", func(ctx context.Context) error {
			svc, err := getService(ctx, s.client)
			if err != nil {
				return err
			}
			if svc.UID == first.UID {
				return fmt.Errorf("not deleted yet")
			}
			return checkService(svc, apiPort)
		})
	})
	t.Run("deleted endpoints come back", func(t *testing.T) {
		if err := s.client.CoreV1().Endpoints(metav1.NamespaceDefault).Delete(ctx, kubernetesServiceName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Delete(ctx, kubernetesServiceName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "recreated endpoints", func(ctx context.Context) error {
			return checkEndpoints(ctx, s.client, testAdvertise, apiPort)
		})
	})
	t.Run("edited ports are put back", func(t *testing.T) {
		svc, err := getService(ctx, s.client)
		if err != nil {
			t.Fatal(err)
		}
		svc.Spec.Ports[0].Port = 8443
		if _, err := s.client.CoreV1().Services(metav1.NamespaceDefault).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "restored ports", func(ctx context.Context) error {
			svc, err := getService(ctx, s.client)
			if err != nil {
				return err
			}
			return checkService(svc, apiPort)
		})
	})
	t.Run("ClusterIP is never handed to another Service", func(t *testing.T) {
		testClusterIPReserved(t, s.client)
	})
	t.Run("a pass over settled objects writes nothing", func(t *testing.T) {
		testReconcileIdempotent(t, s, apiPort)
	})
}

func testClusterIPReserved(t *testing.T, c kubernetes.Interface) {
	ctx := context.Background()
	svc := func(name, ip string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
			ClusterIP: ip, Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	_, err := c.CoreV1().Services("default").Create(ctx, svc("thief", "10.43.0.1"), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("requesting 10.43.0.1: got %v, want Invalid", err)
	}
	for i := range 5 {
		got, err := c.CoreV1().Services("default").Create(ctx, svc(fmt.Sprintf("s%d", i), ""), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.ClusterIP == "10.43.0.1" {
			t.Errorf("service %s got the kubernetes Service's ClusterIP", got.Name)
		}
	}
	// Even while default/kubernetes is gone, its address stays reserved.
	if err := c.CoreV1().Services(metav1.NamespaceDefault).Delete(ctx, kubernetesServiceName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().Services("default").Create(ctx, svc("thief2", "10.43.0.1"), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("requesting 10.43.0.1 while the Service is deleted: got %v, want Invalid", err)
	}
	eventually(t, "recreated Service", func(ctx context.Context) error {
		_, err := getService(ctx, c)
		return err
	})
}

// testReconcileIdempotent runs a second reconciler's pass over the objects
// the server's own settled: an update on every tick would show as a new
// resourceVersion.
func testReconcileIdempotent(t *testing.T, s *testServer, apiPort int) {
	ctx := context.Background()
	versions := func() []string {
		svc, err := getService(ctx, s.client)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := s.client.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, kubernetesServiceName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sl, err := s.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Get(ctx, kubernetesServiceName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return []string{svc.ResourceVersion, ep.ResourceVersion, sl.ResourceVersion}
	}
	eventually(t, "settled endpoints", func(ctx context.Context) error {
		return checkEndpoints(ctx, s.client, testAdvertise, apiPort)
	})
	before := versions()
	k := newKubernetesService(s.client, netip.MustParseAddr("10.43.0.1"), apiPort, slog.New(slog.NewTextHandler(io.Discard, nil)))
	k.setAdvertise(advertiseAddr, netip.MustParseAddr(testAdvertise))
	for range 2 {
		if err := k.reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after := versions(); !slices.Equal(before, after) {
		t.Errorf("resourceVersions of Service, Endpoints, EndpointSlice went from %v to %v", before, after)
	}
}
