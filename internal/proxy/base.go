package proxy

import (
	"fmt"
	"net/netip"

	"sigs.k8s.io/knftables"
)

// baseChain describes one chain the table always has.
type baseChain struct {
	name     string
	typ      knftables.BaseChainType
	hook     knftables.BaseChainHook
	priority knftables.BaseChainPriority
	rules    []string
}

// baseChains lists the fixed chains and their rules. The hooked chains
// are few and only jump; what a packet meets is decided by map lookups,
// so the cost of a packet does not grow with the number of services.
//
// Output chains use numbers: nft only accepts "dstnat" for nat chains.
// -110 and -90 are either side of the nat output hook (dstnat, -100).
//
// Rejecting has to happen in filter chains (nft's reject is not allowed in
// nat chains), and for locally sent packets the cluster-IP check must run
// after DNAT, or it would catch the packets DNAT is about to rewrite.
func (g *generator) baseChains(serviceCIDRs []netip.Prefix) []baseChain {
	ip := g.fam.ip
	ctNew := "ct state new jump "
	clusterIPsCheck := []string{fmt.Sprintf("%s daddr @%s reject", ip, setClusterIPs)}
	for _, c := range serviceCIDRs {
		// An address of the service range no Service holds: drop, so it
		// never leaves the node by whatever route happens to match.
		clusterIPsCheck = append(clusterIPsCheck, fmt.Sprintf("%s daddr %s drop", ip, c))
	}
	return []baseChain{
		{name: "nat-prerouting", typ: knftables.NATType, hook: knftables.PreroutingHook, priority: knftables.DNATPriority,
			rules: []string{"jump " + chainServices}},
		{name: "nat-output", typ: knftables.NATType, hook: knftables.OutputHook, priority: knftables.DNATPriority,
			rules: []string{"jump " + chainServices}},
		{name: "nat-postrouting", typ: knftables.NATType, hook: knftables.PostroutingHook, priority: knftables.SNATPriority,
			rules: []string{"jump " + chainMasquerading}},
		{name: "filter-input", typ: knftables.FilterType, hook: knftables.InputHook, priority: "filter - 10",
			rules: []string{ctNew + chainNPEndpointsChk, ctNew + chainSvcEndpointsChk}},
		{name: "filter-forward", typ: knftables.FilterType, hook: knftables.ForwardHook, priority: "filter - 10",
			rules: []string{ctNew + chainSvcEndpointsChk, ctNew + chainClusterIPsChk}},
		{name: "filter-output", typ: knftables.FilterType, hook: knftables.OutputHook, priority: "-110",
			rules: []string{ctNew + chainSvcEndpointsChk}},
		{name: "filter-output-post-dnat", typ: knftables.FilterType, hook: knftables.OutputHook, priority: "-90",
			rules: []string{ctNew + chainClusterIPsChk}},
		{name: chainServices, rules: []string{
			fmt.Sprintf("%s daddr . meta l4proto . th dport vmap @%s", ip, mapServiceIPs),
			fmt.Sprintf("%s daddr @%s meta l4proto . th dport vmap @%s", ip, setNodePortIPs, mapServiceNodePorts),
		}},
		{name: chainMarkMasq, rules: []string{"mark set mark or " + masqMark}},
		{name: chainMasquerading, rules: []string{
			fmt.Sprintf("mark and %s == 0 return", masqMark),
			fmt.Sprintf("mark set mark xor %s", masqMark),
			"masquerade fully-random",
		}},
		{name: chainSvcEndpointsChk, rules: []string{
			fmt.Sprintf("%s daddr . meta l4proto . th dport vmap @%s", ip, mapNoEndpointSvcs),
		}},
		{name: chainNPEndpointsChk, rules: []string{
			fmt.Sprintf("%s daddr @%s meta l4proto . th dport vmap @%s", ip, setNodePortIPs, mapNoEndpointNPs),
		}},
		{name: chainClusterIPsChk, rules: clusterIPsCheck},
		{name: chainReject, rules: []string{"reject"}},
	}
}

// addBase writes the table, its fixed chains, sets and maps into tx, and
// empties the shared sets and maps so a full sync can refill them. Chains
// and maps are added with "add", which leaves existing ones in place, so a
// full sync never opens a window with no rules.
func (g *generator) addBase(tx *knftables.Transaction, serviceCIDRs []netip.Prefix, nodePortIPs []netip.Addr) {
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("skiff service proxy")})
	addr := g.fam.addrType
	for _, m := range []struct{ name, typ string }{
		{mapServiceIPs, addr + " . inet_proto . inet_service : verdict"},
		{mapServiceNodePorts, "inet_proto . inet_service : verdict"},
		{mapNoEndpointSvcs, addr + " . inet_proto . inet_service : verdict"},
		{mapNoEndpointNPs, "inet_proto . inet_service : verdict"},
	} {
		tx.Add(&knftables.Map{Name: m.name, Type: m.typ})
		tx.Flush(&knftables.Map{Name: m.name})
	}
	for _, s := range []string{setClusterIPs, setNodePortIPs} {
		tx.Add(&knftables.Set{Name: s, Type: addr})
		tx.Flush(&knftables.Set{Name: s})
	}
	for _, ip := range nodePortIPs {
		tx.Add(&knftables.Element{Set: setNodePortIPs, Key: []string{ip.String()}})
	}
	chains := g.baseChains(serviceCIDRs)
	// Every chain exists before any rule refers to it.
	for _, c := range chains {
		ch := &knftables.Chain{Name: c.name}
		if c.hook != "" {
			ch.Type, ch.Hook, ch.Priority = knftables.PtrTo(c.typ), knftables.PtrTo(c.hook), knftables.PtrTo(c.priority)
		}
		tx.Add(ch)
		tx.Flush(ch)
	}
	for _, c := range chains {
		for _, r := range c.rules {
			tx.Add(&knftables.Rule{Chain: c.name, Rule: r})
		}
	}
}

// isBaseObject says whether a chain, set or map name is one of the fixed
// ones, which a full sync must not delete as stale.
func isBaseObject(name string) bool {
	switch name {
	case mapServiceIPs, mapServiceNodePorts, mapNoEndpointSvcs, mapNoEndpointNPs, setClusterIPs, setNodePortIPs:
		return true
	}
	for _, c := range (&generator{fam: familyV4}).baseChains(nil) {
		if c.name == name {
			return true
		}
	}
	return false
}
