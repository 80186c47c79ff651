package endpoints

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/controller/endpoints/servicepods"
)

// noPorts stands for "this address offers the service without ports"
// (headless Services may have none) while addresses are grouped by port.
const noPorts = "-"

// addressKey identifies one address across the ports that reach it.
type addressKey struct {
	ip  string
	uid types.UID
}

// subsetBuilder accumulates, for every port, the addresses that offer it;
// build then groups ports offered by exactly the same addresses into one
// subset, which is the packed form upstream's RepackSubsets produces.
type subsetBuilder struct {
	addrs  map[addressKey]corev1.EndpointAddress
	ready  map[string]map[addressKey]bool // port key -> address -> ready
	ports  map[string]corev1.EndpointPort
	counts struct{ ready, notReady int }
}

func newSubsetBuilder() *subsetBuilder {
	return &subsetBuilder{
		addrs: map[addressKey]corev1.EndpointAddress{},
		ready: map[string]map[addressKey]bool{},
		ports: map[string]corev1.EndpointPort{},
	}
}

func portKey(p corev1.EndpointPort) string {
	app := ""
	if p.AppProtocol != nil {
		app = *p.AppProtocol
	}
	return fmt.Sprintf("%s/%d/%s/%s", p.Name, p.Port, p.Protocol, app)
}

func (b *subsetBuilder) add(addr corev1.EndpointAddress, port *corev1.EndpointPort, ready bool) {
	k := addressKey{ip: addr.IP}
	if addr.TargetRef != nil {
		k.uid = addr.TargetRef.UID
	}
	b.addrs[k] = addr
	pk := noPorts
	if port != nil {
		pk = portKey(*port)
		b.ports[pk] = *port
	}
	m := b.ready[pk]
	if m == nil {
		m = map[addressKey]bool{}
		b.ready[pk] = m
	}
	// An address ready on a port stays ready, as upstream's repack does.
	m[k] = m[k] || ready
	if ready {
		b.counts.ready++
	} else {
		b.counts.notReady++
	}
}

// build returns the packed, sorted subsets.
func (b *subsetBuilder) build() []corev1.EndpointSubset {
	// Group port keys by the exact set of addresses (and readiness) that
	// offer them.
	groups := map[string][]string{} // address-set signature -> port keys
	sigAddrs := map[string]map[addressKey]bool{}
	for pk, m := range b.ready {
		sig := addressSetSignature(m)
		groups[sig] = append(groups[sig], pk)
		sigAddrs[sig] = m
	}
	subsets := make([]corev1.EndpointSubset, 0, len(groups))
	for sig, pks := range groups {
		var ss corev1.EndpointSubset
		for k, ready := range sigAddrs[sig] {
			if ready {
				ss.Addresses = append(ss.Addresses, b.addrs[k])
			} else {
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, b.addrs[k])
			}
		}
		for _, pk := range pks {
			if pk != noPorts {
				ss.Ports = append(ss.Ports, b.ports[pk])
			}
		}
		sortAddresses(ss.Addresses)
		sortAddresses(ss.NotReadyAddresses)
		sort.Slice(ss.Ports, func(i, j int) bool { return portKey(ss.Ports[i]) < portKey(ss.Ports[j]) })
		subsets = append(subsets, ss)
	}
	sort.Slice(subsets, func(i, j int) bool { return subsetSortKey(&subsets[i]) < subsetSortKey(&subsets[j]) })
	return subsets
}

func addressSetSignature(m map[addressKey]bool) string {
	parts := make([]string, 0, len(m))
	for k, ready := range m {
		r := "0"
		if ready {
			r = "1"
		}
		parts = append(parts, k.ip+"|"+string(k.uid)+"|"+r)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// sortAddresses orders addresses by IP (numerically), then pod UID.
func sortAddresses(a []corev1.EndpointAddress) {
	type keyed struct {
		ip   netip.Addr
		addr corev1.EndpointAddress
	}
	ks := make([]keyed, len(a))
	for i := range a {
		// An unparsable IP sorts first; validation rejects it anyway.
		ip, _ := netip.ParseAddr(a[i].IP)
		ks[i] = keyed{ip, a[i]}
	}
	sort.Slice(ks, func(i, j int) bool {
		if c := ks[i].ip.Compare(ks[j].ip); c != 0 {
			return c < 0
		}
		if ks[i].addr.IP != ks[j].addr.IP {
			return ks[i].addr.IP < ks[j].addr.IP
		}
		return uidOf(ks[i].addr) < uidOf(ks[j].addr)
	})
	for i := range ks {
		a[i] = ks[i].addr
	}
}

func uidOf(a corev1.EndpointAddress) types.UID {
	if a.TargetRef == nil {
		return ""
	}
	return a.TargetRef.UID
}

func subsetSortKey(ss *corev1.EndpointSubset) string {
	first := ""
	switch {
	case len(ss.Addresses) > 0:
		first = ss.Addresses[0].IP
	case len(ss.NotReadyAddresses) > 0:
		first = ss.NotReadyAddresses[0].IP
	}
	keys := make([]string, len(ss.Ports))
	for i, p := range ss.Ports {
		keys[i] = portKey(p)
	}
	return strings.Join(keys, ",") + "#" + first
}

// computeSubsets is the Endpoints content for svc over the pods its
// selector matches: every pod with an IP of the Service's family, under
// addresses when ready (or when the Service publishes unready addresses)
// and notReadyAddresses otherwise, on each Service port the pod resolves.
// Terminating pods are left out unless the Service publishes unready
// addresses, as upstream's Endpoints controller does.
func computeSubsets(svc *corev1.Service, pods []*corev1.Pod) (subsets []corev1.EndpointSubset, ready, notReady int) {
	b := newSubsetBuilder()
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	for _, pod := range pods {
		if !servicepods.ShouldBeEndpoint(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr, ok := podAddress(svc, pod)
		if !ok {
			continue
		}
		isReady := svc.Spec.PublishNotReadyAddresses || servicepods.IsReady(pod)
		if len(svc.Spec.Ports) == 0 {
			if headless {
				b.add(addr, nil, isReady)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			num, err := servicepods.FindPort(pod, sp)
			if err != nil {
				continue
			}
			b.add(addr, &corev1.EndpointPort{Name: sp.Name, Port: num, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}, isReady)
		}
	}
	return b.build(), b.counts.ready, b.counts.notReady
}

// podAddress is pod's address for svc: the pod IP of the Service's
// primary IP family.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	wantV6 := serviceIsIPv6(svc, pod)
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil || a.Is6() != wantV6 {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        ip.IP,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			addr.NodeName = &pod.Spec.NodeName
		}
		if servicepods.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		return addr, true
	}
	return corev1.EndpointAddress{}, false
}

func serviceIsIPv6(svc *corev1.Service, pod *corev1.Pod) bool {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	}
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone {
		// Headless and not yet defaulted: follow the pod's own family.
		ip = pod.Status.PodIP
	}
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Is6()
}
