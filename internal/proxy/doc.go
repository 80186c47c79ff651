// Package proxy is Skiff's service proxy: the node component that makes
// Service virtual addresses work, programming the kernel through nftables
// the way upstream kube-proxy's nftables mode does, from Service and
// EndpointSlice informers.
//
// # What it owns
//
// One nftables table per IP family of the service CIDRs (family ip and/or
// ip6, named "skiff-proxy" unless Config.TableName says otherwise), and
// nothing else: every nft call is scoped to that table (sigs.k8s.io/knftables
// never lists or touches other tables), and Run deletes the table when its
// context ends. It must not touch routes, interfaces, sysctls or anyone
// else's firewall rules; the node's routes are internal/network/routes'.
// With Config.WriteLoadBalancerStatus it also owns status.loadBalancer of
// LoadBalancer Services that have no loadBalancerClass. After a sync it
// deletes the UDP conntrack entries the change made stale (flows answered
// by a removed endpoint, flows to a port that had no endpoints or is
// gone), as upstream does, since UDP flows never end on their own; it
// deletes no other conntrack entries.
//
// # Shape of the table
//
//   - nat-prerouting / nat-output jump to "services", which looks the
//     packet up in two verdict maps: service-ips (address . protocol . port,
//     for cluster IPs and load-balancer IPs) and service-nodeports
//     (protocol . port, for destinations in the nodeport-ips set: the node's
//     IPs and the pod bridge gateways).
//   - Each service port has a cluster-policy chain ("service-…") and, when a
//     traffic policy is Local, a local-policy chain ("local-…"); NodePort and
//     load-balancer traffic enters through an "external-…" chain. Policy
//     chains pick an endpoint with "numgen random mod N vmap", over one
//     "endpoint-…" chain per endpoint that DNATs. Names carry a hash and the
//     readable "ns/name/proto/port", as upstream's do.
//   - Masquerading is a mark (0x4000) set by mark-for-masquerade and acted
//     on in nat-postrouting: for traffic to a cluster IP from outside the
//     cluster CIDR, for all external traffic with externalTrafficPolicy
//     Cluster, and for hairpin (an endpoint reaching itself).
//   - Filter chains reject new connections to a service port without usable
//     endpoints (no-endpoint-services / no-endpoint-nodeports maps; ICMP port
//     unreachable, which TCP clients see as "connection refused"), reject
//     unknown ports of cluster IPs, and drop unallocated service-CIDR
//     addresses. Where endpoints exist but a Local policy excludes all of
//     them the verdict is drop instead, as upstream.
//   - ClientIP session affinity keeps one dynamic set with a timeout per
//     endpoint; the endpoint chain adds the client, and the policy chain
//     sends known clients back before the random pick.
//
// Endpoints used are the ready ones, or, when none is ready, those serving
// and terminating (upstream's fallback). Headless and ExternalName
// Services get no rules.
//
// # Syncing
//
// Events mark a Service dirty; the sync loop (at most one sync per
// MinSyncPeriod, 1ms by default) computes the dirty Services' objects and
// writes only the difference from what it last wrote, in one nft
// transaction: chains whose rules changed are flushed and refilled, map
// elements are added or deleted, chains and sets no longer needed are
// deleted. A full sync (at start, after any failed sync, and every
// FullSyncPeriod) rewrites everything and removes leftovers. Synced()
// closes after the first full sync.
//
// # Differences from upstream
//
//   - NodePorts are served on Config.NodeIPs and Config.BridgeGateways only
//     (upstream: every local address, or --nodeport-addresses). 127.0.0.1 is
//     not served, as in upstream's nftables mode: that would need
//     route_localnet, which opens localhost-bound services to the network.
//     Pods and tests reach NodePorts on the bridge gateway address.
//   - LoadBalancer Services are served like k3s's servicelb, without
//     per-service pods: one node (WriteLoadBalancerStatus) sets
//     status.loadBalancer.ingress to its InternalIPs, and every node serves
//     the ingress IPs that are its own. Two LoadBalancer Services on the same
//     port collide; loadBalancerSourceRanges, externalIPs, topology hints and
//     traffic distribution are not implemented; no metrics, no
//     healthCheckNodePort.
//   - The node needs a route for the service CIDR that is not a blackhole:
//     for host-originated traffic the route lookup happens before the nat
//     output hook, so a blackhole route fails connect() with EINVAL, and
//     pods' packets to a service without endpoints die at routing before
//     the reject rule. The package tests use a local route
//     ("ip route add local <service-cidr> dev lo table local"), which keeps
//     unclaimed service addresses on the node as well. Upstream relies on
//     the default route instead.
package proxy
