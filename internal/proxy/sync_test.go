package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestEndpointChangeTouchesOnlyItsService(t *testing.T) {
	other := service("default", "other", "10.96.0.30", []v1.ServicePort{tcpPort("http", 80, 8080)})
	h := newHarness(t, webService(), other,
		slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"}, ep{ip: "10.244.0.12"}),
		slice("default", "other", "other-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.21"}))

	s := slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"})
	h.updateSlice(s)
	h.sync()

	tx := h.nft.LastTransaction.String()
	if strings.Contains(tx, "default/other") {
		t.Errorf("partial sync touched another service:\n%s", tx)
	}
	if strings.Contains(tx, "flush map") {
		t.Errorf("partial sync flushed a shared map:\n%s", tx)
	}
	removed := epChain(webPort, "10.244.0.12/8080")
	if !strings.Contains(tx, "delete chain ip skiff-proxy "+removed) || h.hasChain(removed) {
		t.Errorf("removed endpoint's chain still there; transaction:\n%s", tx)
	}
	got := h.rules(chainName("service", webPort))
	if want := "numgen random mod 1 vmap { 0 : goto " + epChain(webPort, "10.244.0.11/8080") + " }"; got[len(got)-1] != want {
		t.Errorf("service chain after removal: %q", got)
	}
	if !h.hasChain(chainName("service", "default/other/tcp/http")) {
		t.Error("other service's chain vanished")
	}
}

func TestLastEndpointGoneSwitchesToReject(t *testing.T) {
	h := newHarness(t, webService(), slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"}))
	h.remove(slice("default", "web", "web-1", map[string]int32{"http": 8080}))
	h.sync()
	if got := h.mapValue(mapServiceIPs, "10.96.0.10", "tcp", "80"); got != "" {
		t.Errorf("service-ips still has %q", got)
	}
	if got := h.mapValue(mapNoEndpointSvcs, "10.96.0.10", "tcp", "80"); got != verdictReject {
		t.Errorf("no-endpoint verdict %q", got)
	}
	if c := h.serviceChains(); len(c) != 0 {
		t.Errorf("chains left behind: %q", c)
	}
}

func TestServiceDeletionRemovesEverything(t *testing.T) {
	h := newHarness(t, nodePortService(), slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"}))
	// remove, not a bare Delete: the informer's store drops the Service
	// before the handler marks it dirty, and a sync in between skips it.
	h.remove(nodePortService())
	h.sync()
	if c := h.serviceChains(); len(c) != 0 {
		t.Errorf("chains left after delete: %q", c)
	}
	for _, m := range []string{mapServiceIPs, mapServiceNodePorts} {
		if n := len(h.nft.Table.Maps[m].Elements); n != 0 {
			t.Errorf("%s still has %d elements", m, n)
		}
	}
	if h.inSet(setClusterIPs, "10.96.0.10") {
		t.Error("cluster IP still in cluster-ips")
	}
}

func TestFullSyncRemovesLeftovers(t *testing.T) {
	h := newHarness(t, webService(), slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"}))
	tx := h.nft.NewTransaction()
	tx.Add(&knftables.Chain{Name: "service-OLD-default/gone/tcp/http"})
	tx.Add(&knftables.Rule{Chain: "service-OLD-default/gone/tcp/http", Rule: "drop"})
	if err := h.nft.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	h.p.full = true
	h.sync()
	if h.hasChain("service-OLD-default/gone/tcp/http") {
		t.Error("full sync kept a chain no service owns")
	}
	if !h.hasChain(chainName("service", webPort)) {
		t.Error("full sync lost a live service's chain")
	}
}

func TestRunDeletesTableOnStop(t *testing.T) {
	h := newHarness(t, webService())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	<-h.p.Synced()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.nft.RLock()
	defer h.nft.RUnlock()
	if h.nft.Table != nil {
		t.Errorf("table still present after Run returned:\n%s", h.nft.Dump())
	}
}

// waitDirty waits for the informer event that marks key for syncing.
func (h *harness) waitDirty(key string) {
	h.t.Helper()
	for {
		h.p.mu.Lock()
		d := h.p.dirty[key]
		h.p.mu.Unlock()
		if d {
			return
		}
		<-h.p.kick
	}
}

// BenchmarkBuildFullSync measures Skiff's own part of a full sync of
// 1,000 services with 10 endpoints each: generating the objects and the
// transaction text, without nft or the kernel.
func BenchmarkBuildFullSync(b *testing.B) {
	g := generator{fam: familyV4, clusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}
	nft := knftables.NewFake(knftables.IPv4Family, DefaultTableName)
	for b.Loop() {
		desired := benchObjects(&g, 1000, 10)
		tx := nft.NewTransaction()
		g.addBase(tx, []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")}, nil)
		p := &plan{addrType: g.fam.addrType}
		for _, key := range sortedKeys(desired) {
			p.diff(nil, desired[key], true)
		}
		p.emit(tx)
		if len(tx.String()) == 0 {
			b.Fatal("empty transaction")
		}
	}
}

func benchObjects(g *generator, services, endpoints int) map[string]*objects {
	desired := map[string]*objects{}
	for i := range services {
		sp := &servicePort{
			name: fmt.Sprintf("bench/svc-%d/tcp/http", i), protocol: "tcp", port: 80,
			clusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})},
		}
		for j := range endpoints {
			sp.endpoints = append(sp.endpoints, endpoint{addr: netip.AddrFrom4([4]byte{10, 244, byte(i % 200), byte(j + 2)}), port: 8080, ready: true})
		}
		o := newObjects()
		g.servicePortObjects(o, sp)
		desired[fmt.Sprintf("bench/svc-%d", i)] = o
	}
	return desired
}

func TestSetBridgeGatewaysMovesNodePorts(t *testing.T) {
	h := newHarness(t, nodePortService(), slice("default", "web", "web-1", map[string]int32{"http": 8080}, ep{ip: "10.244.0.11"}))
	h.p.SetBridgeGateways([]netip.Addr{mustAddr("10.244.5.1")})
	h.sync()
	if !h.inSet(setNodePortIPs, "10.244.5.1") || h.inSet(setNodePortIPs, "10.244.0.1") {
		t.Errorf("nodeport-ips after SetBridgeGateways: %+v", h.nft.Table.Sets[setNodePortIPs].Elements)
	}
	if got := h.mapValue(mapServiceNodePorts, "tcp", "30080"); got == "" {
		t.Error("the full sync SetBridgeGateways asked for lost the NodePort")
	}
}
