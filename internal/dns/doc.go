// Package dns is Skiff's cluster DNS server: what CoreDNS with the default
// kubeadm Corefile does for upstream clusters, served from Skiff itself.
// It implements the Kubernetes DNS-Based Service Discovery specification
// (kubernetes/dns docs/specification.md, schema 1.1.0) for one cluster
// domain, cluster.local unless configured, and follows CoreDNS's kubernetes
// plugin where the specification leaves room.
//
// What it serves, every record with a 5 s TTL:
//
//   - <svc>.<ns>.svc.<zone>: A/AAAA with the ClusterIPs; for a headless
//     Service the ready endpoints' addresses; for ExternalName a CNAME
//     (followed for A/AAAA: inside the zone from memory, outside through
//     the upstreams, as CoreDNS does).
//   - <host>.<svc>.<ns>.svc.<zone>: one ready endpoint, named by the
//     EndpointSlice hostname (StatefulSet pods whose subdomain is the
//     Service) or by its dashed address (10-244-0-5). Like CoreDNS, this is
//     answered for every Service with endpoints, not only headless ones.
//   - _<port>._<proto>.<svc>.<ns>.svc.<zone> SRV for named ports: the
//     Service name and port for a ClusterIP Service, one record per ready
//     endpoint (its name, the slice's port) for a headless one, with the
//     targets' addresses in the additional section. SRV on the Service or
//     endpoint name itself lists every port. Weights split 100 evenly.
//   - PTR in in-addr.arpa/ip6.arpa for ClusterIPs (the Service name) and
//     ready endpoint addresses (the endpoint names). Addresses it does not
//     know go upstream, like the Corefile's "fallthrough in-addr.arpa".
//   - <a-b-c-d>.<ns>.pod.<zone>: CoreDNS's "pods insecure" mode, the
//     Kubernetes default: the address is parsed from the name and answered
//     without checking a pod has it (only that the namespace exists), so no
//     Pod informer is needed.
//   - the zone apex SOA and NS (ns.dns.<zone>, with Config.NameserverIPs as
//     its address), and dns-version.<zone> TXT "1.1.0".
//
// Names in the zone that do not exist are NXDOMAIN, names that exist
// without the asked type NODATA; both carry the zone SOA, whose serial is
// the time of the last change and whose minimum is the TTL. Until the
// informers have synced, an unknown name is SERVFAIL, not NXDOMAIN, so
// clients do not cache a negative from an incomplete view. Search-list
// expansion (svc, svc.ns) is the client's job; a name that arrives without
// the cluster domain (svc.ns.svc) is not in the zone and is forwarded, as
// with CoreDNS, where the upstream answers NXDOMAIN.
//
// Names outside the zone go to the upstream resolvers (Config.Upstreams,
// or the nameservers of a resolv.conf, loopback stubs such as
// systemd-resolved's 127.0.0.53 dropped when real ones are listed), tried
// in order: over UDP for UDP clients, retried over TCP when an upstream
// truncates, and over TCP for TCP clients. UDP replies honour the client's
// EDNS0 size up to 1232 bytes (512 without EDNS0) and are truncated with TC
// set beyond it.
//
// Data: Services, EndpointSlices (indexed by Service) and Namespaces from
// the caller's shared informer factory. Each change rebuilds the records of
// the one Service it touches and installs them in a map keyed by owner
// name, so a query is one map lookup and appends prebuilt records; the
// reply and its packed form are the only allocations.
//
// What it owns: its UDP/TCP listeners and its in-memory zone. What it must
// not touch: the API (it only reads informer caches), pods' resolv.conf
// (the agent writes those), the host's resolver configuration.
//
// Where it knowingly differs from CoreDNS: no cache of forwarded answers,
// no health checking or random choice among upstreams (they are tried in
// order), resolv.conf is read once at New; no wildcard queries (removed
// upstream too), no "pods verified" or "endpoint_pod_names" modes, no
// multiple zones, no zone transfers; the "svc.ns.svc.<zone>"-style
// _port._proto names answer only SRV (CoreDNS also answers A there); an
// ExternalName Service answers no SRV records; a ClusterIP Service without
// ports still resolves (CoreDNS answers NXDOMAIN). A headless Service
// without ready endpoints is NXDOMAIN, as with CoreDNS.
package dns
