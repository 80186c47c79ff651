package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"

	"github.com/skiff-sh/skiff/internal/network/netnstest"
)

// nsNFT runs every nftables call on a thread inside a test's namespace, so
// the nft processes knftables starts (forked from that thread) program
// the namespace and never the machine's own ruleset.
type nsNFT struct {
	ns    *netnstest.NetNS
	inner knftables.Interface
}

func newNSNFT(ns *netnstest.NetNS, fam knftables.Family, table string) (knftables.Interface, error) {
	n := &nsNFT{ns: ns}
	err := ns.Do(func() (err error) {
		n.inner, err = knftables.New(fam, table)
		return err
	})
	return n, err
}

func (n *nsNFT) NewTransaction() *knftables.Transaction { return n.inner.NewTransaction() }
func (n *nsNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	return n.ns.Do(func() error { return n.inner.Run(ctx, tx) })
}
func (n *nsNFT) Check(ctx context.Context, tx *knftables.Transaction) error {
	return n.ns.Do(func() error { return n.inner.Check(ctx, tx) })
}
func (n *nsNFT) ListAll(ctx context.Context) (out map[string][]string, err error) {
	err = n.ns.Do(func() error { out, err = n.inner.ListAll(ctx); return err })
	return out, err
}
func (n *nsNFT) List(ctx context.Context, typ string) (out []string, err error) {
	err = n.ns.Do(func() error { out, err = n.inner.List(ctx, typ); return err })
	return out, err
}
func (n *nsNFT) ListRules(ctx context.Context, chain string) (out []*knftables.Rule, err error) {
	err = n.ns.Do(func() error { out, err = n.inner.ListRules(ctx, chain); return err })
	return out, err
}
func (n *nsNFT) ListElements(ctx context.Context, typ, name string) (out []*knftables.Element, err error) {
	err = n.ns.Do(func() error { out, err = n.inner.ListElements(ctx, typ, name); return err })
	return out, err
}
func (n *nsNFT) ListCounters(ctx context.Context) (out []*knftables.Counter, err error) {
	err = n.ns.Do(func() error { out, err = n.inner.ListCounters(ctx); return err })
	return out, err
}

// testNet is a node namespace with a pod bridge, a namespace holding three
// endpoint addresses and one holding a client, all routed through the
// node (/32 addresses), so every packet crosses the node's hooks.
type testNet struct {
	node, pods, client *netnstest.NetNS
}

const itTable = "skiff-proxy-it"

var endpointIPs = []string{"10.244.0.11", "10.244.0.12", "10.244.0.13"}

func setupNet(t *testing.T) *testNet {
	n := &testNet{node: netnstest.New(t, "pxn"), pods: netnstest.New(t, "pxp"), client: netnstest.New(t, "pxc")}
	N, P, C := n.node.Name, n.pods.Name, n.client.Name
	cmds := [][]string{
		{"-n", N, "link", "set", "lo", "up"},
		{"-n", N, "link", "add", "br0", "type", "bridge"},
		{"-n", N, "addr", "add", "10.244.0.1/24", "dev", "br0"},
		{"-n", N, "link", "set", "br0", "up"},
		// The node's own address (no dummy module on every machine).
		{"-n", N, "addr", "add", "192.168.77.10/32", "dev", "br0"},
		// The service range as a local route, which is what lets the host
		// itself connect to cluster IPs: the route lookup happens before
		// the nat output hook, and a blackhole route fails connect() with
		// EINVAL there (and silently drops pods' packets to a service
		// without endpoints before the reject rule sees them).
		{"-n", N, "route", "add", "local", "10.96.0.0/16", "dev", "lo", "table", "local"},
	}
	for _, peer := range []struct{ ns, hostIf string }{{P, "vpods"}, {C, "vclient"}} {
		cmds = append(cmds,
			[]string{"-n", N, "link", "add", peer.hostIf, "type", "veth", "peer", "name", "eth0", "netns", peer.ns},
			[]string{"-n", N, "link", "set", peer.hostIf, "master", "br0", "up"},
			[]string{"-n", peer.ns, "link", "set", "lo", "up"},
			[]string{"-n", peer.ns, "link", "set", "eth0", "up"},
		)
	}
	podAddrs := append([]string{}, endpointIPs...)
	for _, a := range podAddrs {
		cmds = append(cmds, []string{"-n", P, "addr", "add", a + "/32", "dev", "eth0"})
	}
	cmds = append(cmds, []string{"-n", C, "addr", "add", "10.244.0.50/32", "dev", "eth0"})
	for _, ns := range []string{P, C} {
		cmds = append(cmds,
			[]string{"-n", ns, "route", "add", "10.244.0.1", "dev", "eth0"},
			[]string{"-n", ns, "route", "add", "default", "via", "10.244.0.1", "dev", "eth0"})
	}
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	if err := n.node.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) }); err != nil {
		t.Fatalf("enabling forwarding in the node namespace: %v", err)
	}
	return n
}

// serveEndpoints starts an HTTP server on each endpoint address that
// answers with that address.
func (n *testNet) serveEndpoints(t *testing.T) {
	for _, ip := range endpointIPs {
		var l net.Listener
		if err := n.pods.Do(func() (err error) { l, err = net.Listen("tcp", ip+":8080"); return err }); err != nil {
			t.Fatalf("listening on %s: %v", ip, err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, ip) })}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
}

// serveUDP answers every datagram on each endpoint's :5353 with the
// endpoint's address.
func (n *testNet) serveUDP(t *testing.T) {
	for _, ip := range endpointIPs {
		var c net.PacketConn
		if err := n.pods.Do(func() (err error) { c, err = net.ListenPacket("udp", ip+":5353"); return err }); err != nil {
			t.Fatalf("listening on udp %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 64)
			for {
				_, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				c.WriteTo([]byte(ip), from)
			}
		}()
	}
}

// get fetches url with a connection opened inside ns.
func get(ns *netnstest.NetNS, url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = ns.Do(func() error {
				conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
	}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// answers makes n requests and counts replies per endpoint.
func answers(t *testing.T, ns *netnstest.NetNS, url string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		body, err := get(ns, url)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", url, ns.Name, err)
		}
		seen[body]++
	}
	return seen
}

func TestProxyInNetworkNamespace(t *testing.T) {
	netnstest.RequireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	n := setupNet(t)
	n.serveEndpoints(t)
	n.serveUDP(t)

	client := fake.NewClientset(itObjects()...)
	eps := itEndpoints()
	ctx := context.Background()
	nft, stop := n.startProxier(t, client)
	assertNotOnHost(t)

	t.Run("ClusterIPFromHostSpreads", func(t *testing.T) {
		seen := answers(t, n.node, "http://10.96.0.10/", 60)
		if len(seen) != 3 {
			t.Errorf("replies came from %v, want all 3 endpoints", seen)
		}
	})
	t.Run("ClusterIPFromPod", func(t *testing.T) {
		seen := answers(t, n.client, "http://10.96.0.10/", 60)
		if len(seen) != 3 {
			t.Errorf("replies came from %v, want all 3 endpoints", seen)
		}
	})
	t.Run("NodePortOnBridgeGateway", func(t *testing.T) {
		for _, ns := range []*netnstest.NetNS{n.client, n.node} {
			if seen := answers(t, ns, "http://10.244.0.1:30080/", 10); len(seen) == 0 {
				t.Errorf("no replies through the NodePort from %s", ns.Name)
			}
		}
	})
	t.Run("SessionAffinity", func(t *testing.T) {
		if seen := answers(t, n.client, "http://10.96.0.12/", 20); len(seen) != 1 {
			t.Errorf("ClientIP affinity: replies came from %v, want one endpoint", seen)
		}
	})
	t.Run("LoadBalancerExternalLocal", func(t *testing.T) {
		// From a pod the cluster policy applies; from the node itself too.
		for _, ns := range []*netnstest.NetNS{n.client, n.node} {
			if seen := answers(t, ns, "http://192.168.77.10:8081/", 5); len(seen) == 0 {
				t.Errorf("no replies from the load balancer address from %s", ns.Name)
			}
		}
	})
	t.Run("NoEndpointsRejects", func(t *testing.T) {
		for _, ns := range []*netnstest.NetNS{n.client, n.node} {
			if _, err := get(ns, "http://10.96.0.11/"); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("service without endpoints, from %s: %v, want connection refused", ns.Name, err)
			}
		}
	})
	t.Run("EndpointRemoval", func(t *testing.T) {
		s := slice("default", "web", "web-1", map[string]int32{"http": 8080}, eps[:2]...)
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitChainGone(t, nft, epChain(webPort, "10.244.0.13/8080"))
		if seen := answers(t, n.client, "http://10.96.0.10/", 30); seen["10.244.0.13"] != 0 || len(seen) != 2 {
			t.Errorf("after removing 10.244.0.13 replies came from %v", seen)
		}
	})

	t.Run("UDPFlowMovesOffRemovedEndpoint", func(t *testing.T) {
		testUDPFlowMoves(t, n, client, nft)
	})

	stop()
	var out []byte
	_ = n.node.Do(func() error { out, _ = exec.Command("nft", "list", "tables").CombinedOutput(); return nil })
	if strings.Contains(string(out), itTable) {
		t.Errorf("table still in the node namespace after Stop: %s", out)
	}
}

// itObjects are the integration test's Services: a NodePort "web", one
// without endpoints, one with ClientIP affinity, and a LoadBalancer with
// externalTrafficPolicy Local served on the node's address, as servicelb
// would have it.
func itObjects() []runtime.Object {
	svc := webService(func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30080 })
	empty := service("default", "empty", "10.96.0.11", []v1.ServicePort{tcpPort("http", 80, 8080)})
	eps := itEndpoints()
	sticky := service("default", "sticky", "10.96.0.12", []v1.ServicePort{tcpPort("http", 80, 8080)}, func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr(int32(600))}}
	})
	lb := service("default", "lb", "10.96.0.13", []v1.ServicePort{tcpPort("http", 8081, 8080)}, func(s *v1.Service) {
		s.Spec.Type, s.Spec.ExternalTrafficPolicy = v1.ServiceTypeLoadBalancer, v1.ServiceExternalTrafficPolicyLocal
		s.Spec.Ports[0].NodePort = 30081
		s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "192.168.77.10"}}
	})
	dns := service("default", "dns", "10.96.0.53", []v1.ServicePort{{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)}})
	objs := []runtime.Object{svc, empty, sticky, lb, dns, dnsSlice(eps...)}
	for _, name := range []string{"web", "sticky", "lb"} {
		objs = append(objs, slice("default", name, name+"-1", map[string]int32{"http": 8080}, eps...))
	}
	return objs
}

func dnsSlice(eps ...ep) *discoveryv1.EndpointSlice {
	s := slice("default", "dns", "dns-1", map[string]int32{"dns": 5353}, eps...)
	s.Ports[0].Protocol = ptr(v1.ProtocolUDP)
	return s
}

func itEndpoints() []ep {
	var eps []ep
	for _, ip := range endpointIPs {
		eps = append(eps, ep{ip: ip})
	}
	return eps
}

// startProxier runs a Proxier whose nft calls happen in the node
// namespace, and waits for its first sync. stop ends it (also at cleanup).
func (n *testNet) startProxier(t *testing.T, client *fake.Clientset) (nft knftables.Interface, stop func()) {
	t.Helper()
	p, err := New(Config{
		NodeName:       testNode,
		NodeIPs:        []netip.Addr{mustAddr("192.168.77.10")},
		BridgeGateways: []netip.Addr{mustAddr("10.244.0.1")},
		ClusterCIDRs:   []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		ServiceCIDRs:   []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")},
		Client:         client,
		Informers:      informers.NewSharedInformerFactory(client, 0),
		TableName:      itTable,
		Conntrack:      nsConntrack(t, n.node),
		NewNFT: func(f knftables.Family, table string) (knftables.Interface, error) {
			var err error
			nft, err = newNSNFT(n.node, f, table)
			return nft, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	select {
	case <-p.Synced():
	case err := <-done:
		t.Fatalf("Run ended before the first sync: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("first sync never completed (see the log for nft errors)")
	}
	return nft, stop
}

// assertNotOnHost checks the rules went to the test's namespace only.
func assertNotOnHost(t *testing.T) {
	t.Helper()
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v: %s", err, out)
	}
	if strings.Contains(string(out), itTable) {
		t.Fatalf("proxy table %s appeared in the host's ruleset", itTable)
	}
}

func waitChainGone(t *testing.T, nft knftables.Interface, chain string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		chains, err := nft.List(ctx, "chains")
		if err != nil {
			return false, err
		}
		for _, c := range chains {
			if c == chain {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("waiting for chain %s to go: %v", chain, err)
	}
}

// nsConntrack is a conntrack handle in the namespace, so cleanup never
// reaches the host's table.
func nsConntrack(t testing.TB, ns *netnstest.NetNS) ConntrackDeleter {
	h, err := netlink.NewHandleAt(ns.Handle, unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatalf("conntrack handle in %s: %v", ns.Name, err)
	}
	t.Cleanup(h.Close)
	return h
}

// testUDPFlowMoves sends from one fixed client port, so every datagram is
// one conntrack flow; removing the endpoint that flow is pinned to must
// move it (conntrack cleanup), not leave it on the old endpoint.
func testUDPFlowMoves(t *testing.T, n *testNet, client *fake.Clientset, nft knftables.Interface) {
	var c net.PacketConn
	if err := n.client.Do(func() (err error) { c, err = net.ListenPacket("udp", "10.244.0.50:40053"); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst := &net.UDPAddr{IP: net.ParseIP("10.96.0.53"), Port: 53}
	ask := func() string {
		if _, err := c.WriteTo([]byte("q"), dst); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		nr, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no UDP reply through the cluster IP: %v", err)
		}
		return string(buf[:nr])
	}
	pinned := ask()
	if again := ask(); again != pinned {
		t.Fatalf("one flow answered by %s then %s: conntrack should pin it", pinned, again)
	}
	var keep []ep
	for _, ip := range endpointIPs {
		if ip != pinned {
			keep = append(keep, ep{ip: ip})
		}
	}
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(context.Background(), dnsSlice(keep...), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitChainGone(t, nft, epChain("default/dns/udp/dns", pinned+"/5353"))
	// The flow cleanup follows the rules' transaction; poll briefly rather
	// than race it. The deadline only turns a failure into a message.
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return ask() != pinned, nil
	})
	if err != nil {
		t.Errorf("the flow still reaches removed endpoint %s: stale conntrack entry not deleted", pinned)
	}
}

// TestIPv6RulesLoadInKernel feeds the kernel an ip6 table with every kind
// of rule (affinity, NodePort, load balancer, externalTrafficPolicy
// Local, no-endpoint reject), so the ip6 spelling is checked by nft.
func TestIPv6RulesLoadInKernel(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t, "px6")
	nft, err := newNSNFT(ns, knftables.IPv6Family, itTable)
	if err != nil {
		t.Skipf("nftables unusable: %v", err)
	}
	ft := &familyTable{
		gen:          generator{fam: familyV6, clusterCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00:10:244::/56")}},
		nft:          nft,
		serviceCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00:10:96::/112")},
		nodePortIPs:  []netip.Addr{mustAddr("fd00:77::10")},
		applied:      map[string]*objects{},
	}
	o := newObjects()
	ft.gen.servicePortObjects(o, &servicePort{
		name: "default/web6/tcp/http", protocol: "tcp", port: 80, nodePort: 30080,
		clusterIPs: []netip.Addr{mustAddr("fd00:10:96::10")}, lbIPs: []netip.Addr{mustAddr("fd00:77::10")},
		affinity: 10 * time.Second, externalLocal: true,
		endpoints: []endpoint{
			{addr: mustAddr("fd00:10:244::11"), port: 8080, ready: true, local: true},
			{addr: mustAddr("fd00:10:244:1::11"), port: 8080, ready: true},
		},
	})
	ft.gen.servicePortObjects(o, &servicePort{name: "default/empty6/udp/dns", protocol: "udp", port: 53,
		clusterIPs: []netip.Addr{mustAddr("fd00:10:96::53")}})
	if _, err := ft.sync(context.Background(), map[string]*objects{"default/web6": o}, true); err != nil {
		t.Fatalf("kernel refused the ip6 table: %v", err)
	}
	chains, err := nft.List(context.Background(), "chains")
	if err != nil {
		t.Fatal(err)
	}
	if want := epChain("default/web6/tcp/http", "fd00:10:244::11/8080"); !slices.Contains(chains, want) {
		t.Errorf("chain %s missing from %q", want, chains)
	}
	if err := ft.deleteTable(context.Background()); err != nil {
		t.Error(err)
	}
}
