package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"
)

// family is what differs between the ip and ip6 tables: the proxy runs
// one table per family, as upstream does, so every rule is written for
// exactly one address type.
type family struct {
	nft         knftables.Family
	v4          bool
	ip          string // "ip" or "ip6" in match expressions
	addrType    string // set element type
	addressType discoveryv1.AddressType
}

var (
	familyV4 = family{nft: knftables.IPv4Family, v4: true, ip: "ip", addrType: "ipv4_addr", addressType: discoveryv1.AddressTypeIPv4}
	familyV6 = family{nft: knftables.IPv6Family, ip: "ip6", addrType: "ipv6_addr", addressType: discoveryv1.AddressTypeIPv6}
)

// Names of the fixed objects in the table. Per-service chains are named
// by chainName.
const (
	mapServiceIPs        = "service-ips"
	mapServiceNodePorts  = "service-nodeports"
	mapNoEndpointSvcs    = "no-endpoint-services"
	mapNoEndpointNPs     = "no-endpoint-nodeports"
	setClusterIPs        = "cluster-ips"
	setNodePortIPs       = "nodeport-ips"
	chainServices        = "services"
	chainMarkMasq        = "mark-for-masquerade"
	chainMasquerading    = "masquerading"
	chainSvcEndpointsChk = "service-endpoints-check"
	chainNPEndpointsChk  = "nodeport-endpoints-check"
	chainClusterIPsChk   = "cluster-ips-check"
	chainReject          = "reject-chain"

	// masqMark is the packet-mark bit that asks nat-postrouting to
	// masquerade; the same bit upstream uses, so the meaning of a marked
	// packet is the same to anyone reading a node's rules.
	masqMark = "0x4000"

	verdictReject = "goto " + chainReject
	verdictDrop   = "drop"
)

// element is one set or map element a service owns.
type element struct {
	container string // set or map name
	isMap     bool
	key       []string
	value     []string
}

func (e element) id() string { return e.container + "|" + strings.Join(e.key, " . ") }

// objects is everything one Service owns in the table: regular chains with
// their rules, affinity sets (by timeout), and elements of the shared sets
// and maps. Diffing two of these is how a sync touches only what changed.
type objects struct {
	chains map[string][]string
	sets   map[string]time.Duration
	elems  map[string]element
	// udp is not written to the table: it tells conntrack cleanup which
	// UDP flows a change made stale.
	udp []udpPort
}

func newObjects() *objects {
	return &objects{chains: map[string][]string{}, sets: map[string]time.Duration{}, elems: map[string]element{}}
}

func (o *objects) addElem(e element) { o.elems[e.id()] = e }

// chainName gives a per-service chain a name that is unique (the hash) and
// readable (the suffix), as upstream names them; ':' is not allowed in nft
// identifiers, so IPv6 addresses are written with '.'.
func chainName(prefix, name string) string {
	sum := sha256.Sum256([]byte(prefix + name))
	h := base32.StdEncoding.EncodeToString(sum[:])[:8]
	n := prefix + "-" + h + "-" + strings.ReplaceAll(name, ":", ".")
	if len(n) > knftables.NameLengthMax {
		n = n[:knftables.NameLengthMax]
	}
	return n
}

// generator turns service ports into objects for one family.
type generator struct {
	fam          family
	clusterCIDRs []netip.Prefix
}

func (g *generator) addrPort(a netip.Addr, port int32) string {
	if g.fam.v4 {
		return fmt.Sprintf("%s:%d", a, port)
	}
	return fmt.Sprintf("[%s]:%d", a, port)
}

// servicePortObjects adds one port's chains and elements to o.
//
// Traffic to a cluster IP goes to the internal-policy chain; traffic to a
// NodePort or load-balancer IP goes to the external chain, which picks the
// cluster-policy chain (all endpoints) or the local-policy chain (this
// node's endpoints). Each policy chain spreads new connections with
// "numgen random mod N" over one chain per endpoint, which DNATs.
func (g *generator) servicePortObjects(o *objects, sp *servicePort) {
	clusterChain := chainName("service", sp.name)
	localChain := chainName("local", sp.name)
	externalChain := chainName("external", sp.name)
	allEps := usable(sp.endpoints, false)
	localEps := usable(sp.endpoints, true)

	internalChain, internalEps := clusterChain, allEps
	if sp.internalLocal {
		internalChain, internalEps = localChain, localEps
	}
	externalEps := allEps
	if sp.externalLocal {
		externalEps = localEps
	}
	// No usable endpoint anywhere: reject as upstream, so clients fail
	// fast. Endpoints elsewhere that policy excludes: drop, since a reject
	// would claim there is no service at all.
	noEpVerdict := verdictReject
	if hasServingEndpoints(sp.endpoints) {
		noEpVerdict = verdictDrop
	}
	if sp.protocol == "udp" {
		o.udp = append(o.udp, newUDPPort(sp, internalEps, externalEps))
	}

	for _, cip := range sp.clusterIPs {
		o.addElem(element{container: setClusterIPs, key: []string{cip.String()}})
		key := []string{cip.String(), sp.protocol, fmt.Sprint(sp.port)}
		if len(internalEps) == 0 {
			o.addElem(element{container: mapNoEndpointSvcs, isMap: true, key: key, value: []string{noEpVerdict}})
			continue
		}
		o.addElem(element{container: mapServiceIPs, isMap: true, key: key, value: []string{"goto " + internalChain}})
	}
	if len(internalEps) > 0 {
		g.policyChain(o, sp, internalChain, internalEps, true)
	}

	if sp.nodePort == 0 && len(sp.lbIPs) == 0 {
		return
	}
	if len(externalEps) == 0 {
		g.externalElems(o, sp, mapNoEndpointNPs, mapNoEndpointSvcs, noEpVerdict)
		return
	}
	g.externalElems(o, sp, mapServiceNodePorts, mapServiceIPs, "goto "+externalChain)
	g.externalChains(o, sp, internalChain, allEps, localEps)
}

// externalChains writes the chain NodePort and load-balancer traffic
// enters by, and the policy chains it leads to.
func (g *generator) externalChains(o *objects, sp *servicePort, internalChain string, allEps, localEps []endpoint) {
	clusterChain := chainName("service", sp.name)
	localChain := chainName("local", sp.name)
	externalChain := chainName("external", sp.name)
	if !sp.externalLocal {
		// Traffic from outside reaches an endpoint that may be on another
		// node; SNAT so the reply comes back through this node.
		o.chains[externalChain] = []string{"jump " + chainMarkMasq, "goto " + clusterChain}
		g.policyChain(o, sp, clusterChain, allEps, internalChain == clusterChain)
		return
	}
	// externalTrafficPolicy Local keeps the client's address: no SNAT, and
	// only this node's endpoints. Pods and the node itself are not
	// "external", so they get the cluster policy, as upstream.
	var rules []string
	for _, c := range g.clusterCIDRs {
		rules = append(rules, fmt.Sprintf("%s saddr %s goto %s", g.fam.ip, c, clusterChain))
	}
	rules = append(rules,
		"fib saddr type local jump "+chainMarkMasq,
		"fib saddr type local goto "+clusterChain,
		"goto "+localChain)
	o.chains[externalChain] = rules
	g.policyChain(o, sp, clusterChain, allEps, internalChain == clusterChain)
	g.policyChain(o, sp, localChain, localEps, internalChain == localChain)
}

func (g *generator) externalElems(o *objects, sp *servicePort, npMap, ipMap, verdict string) {
	if sp.nodePort != 0 {
		o.addElem(element{container: npMap, isMap: true, key: []string{sp.protocol, fmt.Sprint(sp.nodePort)}, value: []string{verdict}})
	}
	for _, ip := range sp.lbIPs {
		o.addElem(element{container: ipMap, isMap: true, key: []string{ip.String(), sp.protocol, fmt.Sprint(sp.port)}, value: []string{verdict}})
	}
}

// policyChain writes a chain that picks one of eps, plus the endpoint
// chains it jumps to. internal says cluster-IP traffic enters here and
// needs the masquerade rule for clients outside the cluster CIDR.
func (g *generator) policyChain(o *objects, sp *servicePort, chain string, eps []endpoint, internal bool) {
	if _, done := o.chains[chain]; done && !internal {
		return
	}
	var rules []string
	if internal {
		for _, cip := range sp.clusterIPs {
			match := fmt.Sprintf("%s daddr %s %s dport %d", g.fam.ip, cip, sp.protocol, sp.port)
			if len(g.clusterCIDRs) == 0 {
				// Without a cluster CIDR nobody can tell pods from
				// outsiders, so everyone is masqueraded.
				rules = append(rules, match+" jump "+chainMarkMasq)
			}
			for _, c := range g.clusterCIDRs {
				rules = append(rules, fmt.Sprintf("%s %s saddr != %s jump %s", match, g.fam.ip, c, chainMarkMasq))
			}
		}
	}
	var vmap []string
	for i, ep := range eps {
		epChain := g.endpointChain(o, sp, ep)
		if sp.affinity > 0 {
			rules = append(rules, fmt.Sprintf("%s saddr @%s goto %s", g.fam.ip, affinitySet(sp, ep), epChain))
		}
		vmap = append(vmap, fmt.Sprintf("%d : goto %s", i, epChain))
	}
	rules = append(rules, fmt.Sprintf("numgen random mod %d vmap { %s }", len(eps), strings.Join(vmap, " , ")))
	o.chains[chain] = rules
}

// affinitySet names the set that remembers clients of one endpoint. The
// timeout is part of the name, so changing timeoutSeconds makes a new set
// instead of needing to alter one that rules still refer to.
func affinitySet(sp *servicePort, ep endpoint) string {
	return chainName("affinity", fmt.Sprintf("%s__%s/%d/%ds", sp.name, ep.addr, ep.port, int64(sp.affinity.Seconds())))
}

func (g *generator) endpointChain(o *objects, sp *servicePort, ep endpoint) string {
	chain := chainName("endpoint", fmt.Sprintf("%s__%s/%d", sp.name, ep.addr, ep.port))
	// An endpoint reaching its own service through the proxy (hairpin)
	// must be SNATed, or it would answer itself directly.
	rules := []string{fmt.Sprintf("%s saddr %s jump %s", g.fam.ip, ep.addr, chainMarkMasq)}
	if sp.affinity > 0 {
		set := affinitySet(sp, ep)
		o.sets[set] = sp.affinity
		rules = append(rules, fmt.Sprintf("update @%s { %s saddr }", set, g.fam.ip))
	}
	rules = append(rules, fmt.Sprintf("meta l4proto %s dnat to %s", sp.protocol, g.addrPort(ep.addr, ep.port)))
	o.chains[chain] = rules
	return chain
}
