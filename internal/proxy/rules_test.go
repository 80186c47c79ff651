package proxy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/knftables"
)

const webPort = "default/web/tcp/http"

func webService(opts ...svcOpt) *v1.Service {
	return service("default", "web", "10.96.0.10", []v1.ServicePort{tcpPort("http", 80, 8080)}, opts...)
}

func TestClusterIPSpreadsOverReadyEndpoints(t *testing.T) {
	h := newHarness(t, webService(), slice("default", "web", "web-1", map[string]int32{"http": 8080},
		ep{ip: "10.244.0.11"}, ep{ip: "10.244.0.12"}, ep{ip: "10.244.0.13", notReady: true}))

	svcChain := chainName("service", webPort)
	if got := h.mapValue(mapServiceIPs, "10.96.0.10", "tcp", "80"); got != "goto "+svcChain {
		t.Fatalf("service-ips element = %q, want goto %s", got, svcChain)
	}
	if !h.inSet(setClusterIPs, "10.96.0.10") {
		t.Error("cluster IP missing from cluster-ips set (unknown ports would not be rejected)")
	}
	ep1, ep2 := epChain(webPort, "10.244.0.11/8080"), epChain(webPort, "10.244.0.12/8080")
	want := []string{
		"ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
		"numgen random mod 2 vmap { 0 : goto " + ep1 + " , 1 : goto " + ep2 + " }",
	}
	if got := h.rules(svcChain); !slices.Equal(got, want) {
		t.Errorf("service chain rules:\n got %q\nwant %q", got, want)
	}
	wantEp := []string{"ip saddr 10.244.0.11 jump mark-for-masquerade", "meta l4proto tcp dnat to 10.244.0.11:8080"}
	if got := h.rules(ep1); !slices.Equal(got, wantEp) {
		t.Errorf("endpoint chain rules:\n got %q\nwant %q", got, wantEp)
	}
	if h.hasChain(epChain(webPort, "10.244.0.13/8080")) {
		t.Error("a not-ready endpoint got a chain")
	}
	if h.hasChain(chainName("external", webPort)) {
		t.Error("a ClusterIP service got an external chain")
	}
}

func TestBaseChainsHookServicesAndRejects(t *testing.T) {
	h := newHarness(t)
	if got := h.nft.Table.Chains["nat-prerouting"]; got == nil || *got.Hook != knftables.PreroutingHook || *got.Type != knftables.NATType {
		t.Fatalf("nat-prerouting chain wrong: %+v", got)
	}
	if got := h.rules("nat-output"); !slices.Equal(got, []string{"jump services"}) {
		t.Errorf("nat-output rules = %q (host traffic would not reach services)", got)
	}
	if got := h.rules(chainClusterIPsChk); !slices.Equal(got, []string{"ip daddr @cluster-ips reject", "ip daddr 10.96.0.0/16 drop"}) {
		t.Errorf("cluster-ips-check rules = %q", got)
	}
	for _, ip := range []string{"192.168.1.10", "10.244.0.1"} {
		if !h.inSet(setNodePortIPs, ip) {
			t.Errorf("nodeport-ips lacks %s", ip)
		}
	}
}

func TestServiceWithoutEndpointsRejects(t *testing.T) {
	h := newHarness(t, webService())
	if got := h.mapValue(mapNoEndpointSvcs, "10.96.0.10", "tcp", "80"); got != verdictReject {
		t.Errorf("no-endpoint-services element = %q, want %q", got, verdictReject)
	}
	if got := h.mapValue(mapServiceIPs, "10.96.0.10", "tcp", "80"); got != "" {
		t.Errorf("service-ips has an element %q for a service with no endpoints", got)
	}
}

func TestHeadlessAndExternalNameGetNoRules(t *testing.T) {
	headless := service("default", "hl", v1.ClusterIPNone, []v1.ServicePort{tcpPort("http", 80, 8080)})
	headless.Spec.ClusterIPs = []string{v1.ClusterIPNone}
	ext := service("default", "ext", "", nil, func(s *v1.Service) {
		s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIPs = v1.ServiceTypeExternalName, "example.invalid", nil
	})
	h := newHarness(t, headless, ext, slice("default", "hl", "hl-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"}))
	if c := h.serviceChains(); len(c) != 0 {
		t.Errorf("headless/ExternalName produced chains %q", c)
	}
	for _, m := range []string{mapServiceIPs, mapNoEndpointSvcs, mapServiceNodePorts} {
		if n := len(h.nft.Table.Maps[m].Elements); n != 0 {
			t.Errorf("map %s has %d elements", m, n)
		}
	}
}

func TestMultiPortServiceMapsPortsByName(t *testing.T) {
	svc := service("default", "multi", "10.96.0.20", []v1.ServicePort{tcpPort("http", 80, 8080), tcpPort("admin", 9000, 9090)})
	h := newHarness(t, svc, slice("default", "multi", "multi-1", map[string]int32{"http": 8080, "admin": 9090}, ep{ip: "10.244.0.11"}))
	for port, target := range map[string]string{"http": "8080", "admin": "9090"} {
		name := "default/multi/tcp/" + port
		svcPort := map[string]string{"http": "80", "admin": "9000"}[port]
		if got := h.mapValue(mapServiceIPs, "10.96.0.20", "tcp", svcPort); got != "goto "+chainName("service", name) {
			t.Errorf("port %s: element %q", port, got)
		}
		if got := h.rules(epChain(name, "10.244.0.11/"+target)); got[len(got)-1] != "meta l4proto tcp dnat to 10.244.0.11:"+target {
			t.Errorf("port %s: endpoint rules %q", port, got)
		}
	}
}

func TestFallsBackToServingTerminatingEndpoints(t *testing.T) {
	h := newHarness(t, webService(), slice("default", "web", "web-1", map[string]int32{"http": 8080},
		ep{ip: "10.244.0.11", notReady: true, serving: true, terminating: true},
		ep{ip: "10.244.0.12", notReady: true, serving: false, terminating: true}))
	got := h.rules(chainName("service", webPort))
	want := "numgen random mod 1 vmap { 0 : goto " + epChain(webPort, "10.244.0.11/8080") + " }"
	if got[len(got)-1] != want {
		t.Errorf("service chain ends with %q, want %q", got[len(got)-1], want)
	}
}

func TestSessionAffinityClientIP(t *testing.T) {
	svc := webService(func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr(int32(60))}}
	})
	h := newHarness(t, svc, slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"}, ep{ip: "10.244.0.12"}))
	sp := &servicePort{name: webPort, affinity: 60e9}
	set := affinitySet(sp, endpoint{addr: mustAddr("10.244.0.11"), port: 8080})
	s := h.nft.Table.Sets[set]
	if s == nil || s.Timeout == nil || s.Timeout.Seconds() != 60 || !slices.Contains(s.Flags, knftables.TimeoutFlag) {
		t.Fatalf("affinity set %s = %+v, want a 60s timeout set", set, s)
	}
	ep1 := epChain(webPort, "10.244.0.11/8080")
	if got := h.rules(chainName("service", webPort)); got[1] != "ip saddr @"+set+" goto "+ep1 {
		t.Errorf("service chain does not send known clients back: %q", got)
	}
	if got := h.rules(ep1); got[1] != "update @"+set+" { ip saddr }" {
		t.Errorf("endpoint chain does not remember clients: %q", got)
	}
}

func TestInternalTrafficPolicyLocal(t *testing.T) {
	svc := webService(func(s *v1.Service) { s.Spec.InternalTrafficPolicy = ptr(v1.ServiceInternalTrafficPolicyLocal) })
	h := newHarness(t, svc, slice("default", "web", "web-1", map[string]int32{"http": 8080},
		ep{ip: "10.244.0.11"}, ep{ip: "10.244.1.11", node: "node-b"}))
	local := chainName("local", webPort)
	if got := h.mapValue(mapServiceIPs, "10.96.0.10", "tcp", "80"); got != "goto "+local {
		t.Fatalf("cluster IP goes to %q, want the local chain", got)
	}
	got := h.rules(local)
	if want := "numgen random mod 1 vmap { 0 : goto " + epChain(webPort, "10.244.0.11/8080") + " }"; got[len(got)-1] != want {
		t.Errorf("local chain %q, want only the local endpoint", got)
	}

	// Only a remote endpoint: traffic is dropped, not rejected, since the
	// service does exist.
	h2 := newHarness(t, svc, slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.1.11", node: "node-b"}))
	if got := h2.mapValue(mapNoEndpointSvcs, "10.96.0.10", "tcp", "80"); got != verdictDrop {
		t.Errorf("no local endpoints: verdict %q, want drop", got)
	}
}

func nodePortService(opts ...svcOpt) *v1.Service {
	return webService(append([]svcOpt{func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = 30080
	}}, opts...)...)
}

func TestNodePortMasqueradesExternalTraffic(t *testing.T) {
	h := newHarness(t, nodePortService(), slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.1.11", node: "node-b"}))
	ext := chainName("external", webPort)
	if got := h.mapValue(mapServiceNodePorts, "tcp", "30080"); got != "goto "+ext {
		t.Fatalf("service-nodeports element = %q", got)
	}
	want := []string{"jump mark-for-masquerade", "goto " + chainName("service", webPort)}
	if got := h.rules(ext); !slices.Equal(got, want) {
		t.Errorf("external chain %q, want %q", got, want)
	}
}

func TestExternalTrafficPolicyLocalKeepsClientAddress(t *testing.T) {
	svc := nodePortService(func(s *v1.Service) { s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal })
	h := newHarness(t, svc, slice("default", "web", "web-1", map[string]int32{"http": 8080},
		ep{ip: "10.244.0.11"}, ep{ip: "10.244.1.11", node: "node-b"}))
	svcChain, local := chainName("service", webPort), chainName("local", webPort)
	want := []string{
		"ip saddr 10.244.0.0/16 goto " + svcChain,
		"fib saddr type local jump mark-for-masquerade",
		"fib saddr type local goto " + svcChain,
		"goto " + local,
	}
	if got := h.rules(chainName("external", webPort)); !slices.Equal(got, want) {
		t.Errorf("external chain:\n got %q\nwant %q", got, want)
	}
	if got := h.rules(local); len(got) != 1 || strings.Contains(got[0], "mark-for-masquerade") || strings.Count(got[0], "goto") != 1 {
		t.Errorf("local chain %q, want one local endpoint and no SNAT", got)
	}
}

func TestLoadBalancerStatusAndServing(t *testing.T) {
	svc := webService(func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = 30080
	})
	h := newHarness(t)
	h.p.cfg.WriteLoadBalancerStatus = true
	h.create(svc)
	h.create(slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"}))
	if err := h.p.syncLoadBalancerStatus(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	got, err := h.client.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ing := got.Status.LoadBalancer.Ingress; len(ing) != 1 || ing[0].IP != "192.168.1.10" {
		t.Fatalf("status.loadBalancer.ingress = %+v, want the node's InternalIP", ing)
	}
	h.waitForLBStatus()
	h.sync()
	if got := h.mapValue(mapServiceIPs, "192.168.1.10", "tcp", "80"); got != "goto "+chainName("external", webPort) {
		t.Errorf("load balancer IP element = %q", got)
	}

	// Back to ClusterIP: the status this node wrote is taken back.
	got.Spec.Type, got.Spec.Ports[0].NodePort = v1.ServiceTypeClusterIP, 0
	if _, err := h.client.CoreV1().Services("default").Update(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		s, _ := h.p.services.Services("default").Get("web")
		if s.Spec.Type == v1.ServiceTypeClusterIP {
			break
		}
		<-h.p.kick
	}
	if err := h.p.syncLoadBalancerStatus(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	after, _ := h.client.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
	if ing := after.Status.LoadBalancer.Ingress; len(ing) != 0 {
		t.Errorf("status.loadBalancer.ingress after leaving LoadBalancer = %+v", ing)
	}
}

func (h *harness) waitForLBStatus() {
	h.t.Helper()
	for {
		s, err := h.p.services.Services("default").Get("web")
		if err == nil && len(s.Status.LoadBalancer.Ingress) > 0 {
			return
		}
		<-h.p.kick
	}
}

func TestRunWritesLoadBalancerStatus(t *testing.T) {
	svc := webService(func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeLoadBalancer; s.Spec.Ports[0].NodePort = 30080 })
	h := newHarnessWith(t, func(c *Config) { c.WriteLoadBalancerStatus = true }, svc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := h.client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && len(s.Status.LoadBalancer.Ingress) == 1 && s.Status.LoadBalancer.Ingress[0].IP == "192.168.1.10", nil
	})
	if err != nil {
		t.Fatalf("the status writer never set the node's IP as ingress: %v", err)
	}
}
