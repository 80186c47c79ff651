package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The in-process real node's case: the advertise address is the gateway
// of the node's pod CIDR, known only once the Node has one; until then the
// Service exists without endpoints.
func TestAdvertiseNodePodGateway(t *testing.T) {
	nodeRan := make(chan struct{})
	s := startServer(t, Config{Agent: &AgentConfig{
		NodeName: "own-node",
		// Stands in for the node agent, which this package cannot import:
		// it registers nothing, the test writes the Node itself.
		Run: func(ctx context.Context, _ Node) error { close(nodeRan); <-ctx.Done(); return nil },
	}})
	<-nodeRan
	apiPort := s.port(t)
	ctx := context.Background()
	eventually(t, "Service default/kubernetes", func(ctx context.Context) error {
		svc, err := getService(ctx, s.client)
		if err != nil {
			return err
		}
		return checkService(svc, apiPort)
	})
	if _, err := s.client.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, kubernetesServiceName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("endpoints before the node has a pod CIDR: got %v, want NotFound", err)
	}
	if err := s.handshake(t, testGateway); err == nil {
		t.Fatal("setup: the serving certificate already covers the gateway")
	}

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "own-node"},
		Spec: corev1.NodeSpec{PodCIDR: testPodCIDR, PodCIDRs: []string{testPodCIDR}}}
	if _, err := s.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "endpoints at the pod gateway", func(ctx context.Context) error {
		return checkEndpoints(ctx, s.client, testGateway, apiPort)
	})
	// Published means served: the certificate covers the gateway already.
	for _, name := range []string{testGateway, "10.43.0.1"} {
		if err := s.handshake(t, name); err != nil {
			t.Errorf("TLS as %s: %v", name, err)
		}
	}
}

// A server on loopback without a node has nothing pods can reach: it
// removes the endpoints an earlier run (here with --advertise-address)
// published, and keeps the Service.
func TestLoopbackPublishesNoEndpoints(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, Config{DataDir: dir, AdvertiseAddress: testAdvertise})
	eventually(t, "endpoints of the first run", func(ctx context.Context) error {
		return checkEndpoints(ctx, first.client, testAdvertise, first.port(t))
	})
	first.stop(t)

	s := startServer(t, Config{DataDir: dir})
	eventually(t, "endpoints removed", func(ctx context.Context) error {
		_, err := s.client.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, kubernetesServiceName, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpoints: %v", err)
		}
		_, err = s.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Get(ctx, kubernetesServiceName, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpointslice: %v", err)
		}
		return nil
	})
	svc, err := getService(context.Background(), s.client)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkService(svc, s.port(t)); err != nil {
		t.Error(err)
	}
}

func TestListenFreebind(t *testing.T) {
	// 192.0.2.0/24 is TEST-NET-1: no host has it, so only FREEBIND can
	// bind it. Nothing is ever sent there.
	const addr = "192.0.2.77:0"
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Skip("this host has 192.0.2.77; the test needs an address it lacks")
	}
	ln, err := listenFreebind(context.Background(), addr)
	if err != nil {
		t.Fatalf("listenFreebind(%s): %v", addr, err)
	}
	defer ln.Close()
	got := netip.MustParseAddrPort(ln.Addr().String())
	if got.Addr() != netip.MustParseAddr("192.0.2.77") || got.Port() == 0 {
		t.Errorf("listening on %s", got)
	}
}

func TestAdvertiseFromBind(t *testing.T) {
	v4svc, v6svc := netip.MustParseAddr("10.43.0.1"), netip.MustParseAddr("fd00:43::1")
	host := func(ip string) func() (net.IP, error) {
		return func() (net.IP, error) { return net.ParseIP(ip), nil }
	}
	noHost := func() (net.IP, error) { return nil, errors.New("no default route") }
	for _, tc := range []struct {
		bind, want string
		svc        netip.Addr
		host       func() (net.IP, error)
	}{
		{bind: "127.0.0.1", svc: v4svc, host: host("198.51.100.4")},
		{bind: "::1", svc: v6svc, host: host("198.51.100.4")},
		{bind: "198.51.100.9", svc: v4svc, want: "198.51.100.9"},
		{bind: "0.0.0.0", svc: v4svc, host: host("198.51.100.4"), want: "198.51.100.4"},
		{bind: "0.0.0.0", svc: v4svc, host: noHost},
		{bind: "2001:db8::9", svc: v4svc},
		{bind: "2001:db8::9", svc: v6svc, want: "2001:db8::9"},
	} {
		got, reason := advertiseFromBind(netip.MustParseAddr(tc.bind), tc.svc, tc.host)
		if tc.want == "" {
			if got.IsValid() || reason == "" {
				t.Errorf("bind %s: got %v (reason %q), want none with a reason", tc.bind, got, reason)
			}
			continue
		}
		if got != netip.MustParseAddr(tc.want) {
			t.Errorf("bind %s: got %v (%s), want %s", tc.bind, got, reason, tc.want)
		}
	}
}

func TestPodGateway(t *testing.T) {
	v4svc, v6svc := netip.MustParseAddr("10.43.0.1"), netip.MustParseAddr("fd00:43::1")
	node := func(cidrs ...string) *corev1.Node {
		n := &corev1.Node{Spec: corev1.NodeSpec{PodCIDRs: cidrs}}
		if len(cidrs) > 0 {
			n.Spec.PodCIDR = cidrs[0]
		}
		return n
	}
	for _, tc := range []struct {
		node *corev1.Node
		svc  netip.Addr
		want string
	}{
		{node(), v4svc, ""},
		{node("10.42.3.0/24"), v4svc, "10.42.3.1"},
		{node("10.42.3.0/24", "fd00:42:3::/64"), v6svc, "fd00:42:3::1"},
		{node("fd00:42:3::/64", "10.42.3.0/24"), v4svc, "10.42.3.1"},
		{node("fd00:42:3::/64"), v4svc, ""},
		{&corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.42.7.0/24"}}, v4svc, "10.42.7.1"},
	} {
		got, ok := podGateway(tc.node, tc.svc)
		if tc.want == "" {
			if ok {
				t.Errorf("%v: got %v, want none", tc.node.Spec.PodCIDRs, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("%v: got %v, want %s", tc.node.Spec.PodCIDRs, got, tc.want)
		}
	}
}

func TestBindCovers(t *testing.T) {
	for _, tc := range []struct {
		bind, addr string
		want       bool
	}{
		{"127.0.0.1", "10.42.0.1", false},
		{"10.42.0.1", "10.42.0.1", true},
		{"0.0.0.0", "10.42.0.1", true},
		{"0.0.0.0", "fd00::1", false},
		{"::", "10.42.0.1", true},
		{"::", "fd00::1", true},
	} {
		if got := bindCovers(netip.MustParseAddr(tc.bind), netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("bindCovers(%s, %s) = %v", tc.bind, tc.addr, got)
		}
	}
}

func TestParseAdvertiseAddress(t *testing.T) {
	v4 := netip.MustParsePrefix("10.43.0.0/16")
	for _, s := range []string{"0.0.0.0", "127.0.0.1", "::1", "fd00::1", "not-an-ip", "224.0.0.1"} {
		if a, err := parseAdvertiseAddress(s, v4); err == nil {
			t.Errorf("%q accepted as %v", s, a)
		}
	}
	if a, err := parseAdvertiseAddress("", v4); err != nil || a.IsValid() {
		t.Errorf("empty: %v, %v", a, err)
	}
	if a, err := parseAdvertiseAddress("192.0.2.10", v4); err != nil || a != netip.MustParseAddr("192.0.2.10") {
		t.Errorf("192.0.2.10: %v, %v", a, err)
	}
}
