package endpointslice

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/skiff-sh/skiff/internal/controller/endpoints/servicepods"
)

// podToEndpoint is pod's endpoint in a slice of addrType for svc.
//
// Conditions, as upstream sets them: serving is the pod's Ready condition;
// terminating is whether it is being deleted; ready is serving and not
// terminating, or always true when the Service publishes unready
// addresses. A terminating pod that still passes its readiness probe is
// therefore ready=false, serving=true, terminating=true, which lets a
// proxy fall back to it while no other endpoint is ready.
func podToEndpoint(pod *corev1.Pod, svc *corev1.Service, addrType discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := servicepods.IsReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  podAddresses(pod, addrType),
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		ep.NodeName = &node
	}
	if servicepods.ShouldSetHostname(pod, svc) {
		host := pod.Spec.Hostname
		ep.Hostname = &host
	}
	return ep
}

func podAddresses(pod *corev1.Pod, addrType discoveryv1.AddressType) []string {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	var out []string
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil {
			continue
		}
		if a.Is6() == (addrType == discoveryv1.AddressTypeIPv6) {
			out = append(out, ip.IP)
		}
	}
	return out
}

// endpointPorts are the Service ports as pod resolves them, sorted so that
// pods resolving the same numbers share one slice group. A named
// targetPort the pod does not expose is left out for that pod.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	ports := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, err := servicepods.FindPort(pod, sp)
		if err != nil {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &num, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	sort.Slice(ports, func(i, j int) bool { return portString(ports[i]) < portString(ports[j]) })
	return ports
}

func portString(p discoveryv1.EndpointPort) string {
	var name, proto, app string
	var num int32
	if p.Name != nil {
		name = *p.Name
	}
	if p.Port != nil {
		num = *p.Port
	}
	if p.Protocol != nil {
		proto = string(*p.Protocol)
	}
	if p.AppProtocol != nil {
		app = *p.AppProtocol
	}
	return fmt.Sprintf("%s/%d/%s/%s", name, num, proto, app)
}

// portsKey identifies a set of ports regardless of order; slices group
// endpoints that share one.
func portsKey(ports []discoveryv1.EndpointPort) string {
	keys := make([]string, len(ports))
	for i, p := range ports {
		keys[i] = portString(p)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// endpointKey identifies an endpoint by what makes it the same endpoint:
// its addresses, hostname and pod. Conditions and node may change in
// place, which keeps an updated endpoint in the slice it is in.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addrs := ep.Addresses
	if len(addrs) > 1 {
		addrs = append([]string(nil), addrs...)
		sort.Strings(addrs)
	}
	var host, ref string
	if ep.Hostname != nil {
		host = *ep.Hostname
	}
	if ep.TargetRef != nil {
		ref = ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	return strings.Join(addrs, ",") + "|" + host + "|" + ref
}

// endpointEqual compares what endpointKey leaves out, ignoring the target
// pod's resourceVersion.
func endpointEqual(a, b *discoveryv1.Endpoint) bool {
	if !strPtrEqual(a.NodeName, b.NodeName) || !strPtrEqual(a.Zone, b.Zone) {
		return false
	}
	if !boolPtrEqual(a.Conditions.Ready, b.Conditions.Ready) ||
		!boolPtrEqual(a.Conditions.Serving, b.Conditions.Serving) ||
		!boolPtrEqual(a.Conditions.Terminating, b.Conditions.Terminating) {
		return false
	}
	if (a.TargetRef == nil) != (b.TargetRef == nil) {
		return false
	}
	if a.TargetRef != nil {
		ra, rb := *a.TargetRef, *b.TargetRef
		ra.ResourceVersion, rb.ResourceVersion = "", ""
		if ra != rb {
			return false
		}
	}
	return true
}

func strPtrEqual(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func boolPtrEqual(a, b *bool) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// addressTypes are the slice address types svc needs, from its IP
// families; a Service not yet defaulted falls back to its cluster IP's
// family, and a headless one to both.
func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discoveryv1.AddressTypeIPv6)
		}
	}
	if len(out) > 0 {
		return out
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
			return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6}
		}
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
	}
	return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}
}
