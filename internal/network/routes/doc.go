// Package routes sets up the node's own routing for pod networking: a
// blackhole route for the cluster (pod) CIDR, a local route for the
// service CIDR (see Blackholes for why not a blackhole), and
// the kernel settings forwarding needs (ip_forward, and
// bridge-nf-call-iptables where br_netfilter is loaded).
//
// A blackhole route makes a packet for a pod or service address that no
// more specific route (the node's own pod subnet on the bridge, another
// node's subnet) and no service rule claims die on this node instead of
// leaving by the default route: nothing of the cluster's ranges ever
// reaches the network the machine sits on. The routes carry protocol
// Protocol and metric Metric, so Remove deletes exactly Skiff's own, and
// a route someone else installed to the same prefix (metric 0) is never
// replaced and keeps winning. The service range's local route lives in
// the local table and so takes precedence over any route to that range.
//
// What it owns: those routes, installed when the agent starts and removed
// when it stops, and the sysctls it sets to 1 (which it leaves set on
// shutdown: turning forwarding off could cut whatever else relies on it).
// It must not touch anything else: no other routes, no interfaces, no
// firewall rules, and it never loads kernel modules.
//
// Differences from upstream: the kubelet installs no such routes; this is
// what Skiff's design asks of a node so tests and clusters never send
// cluster traffic elsewhere. Routes to other nodes' pod CIDRs are not
// here yet (multi-node routing comes with `skiff agent` joining).
package routes
