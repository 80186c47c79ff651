// Package nodeipam is the node IPAM controller, upstream's
// pkg/controller/nodeipam with the RangeAllocator: it gives every Node a
// pod CIDR, spec.podCIDR and spec.podCIDRs, cut from the cluster CIDR
// (default 10.42.0.0/16 in /24s, as k3s; one subnet per family when the
// cluster CIDR is dual stack). The agent reads it and writes its CNI
// configuration from it.
//
// Its state is a bitmap per cluster CIDR (cidrset.go) and the subnets
// each node holds. It is rebuilt on start from the Nodes that already
// carry pod CIDRs, before any node is assigned one, so a restarted or
// newly elected controller never hands out a subnet twice. A node's
// subnets are released when the node is deleted.
//
// It owns spec.podCIDR and spec.podCIDRs of Nodes that have none, written
// with a merge patch (uid as a precondition) so it never conflicts with
// the agent's status writes. It must not touch anything else, and never
// changes a pod CIDR once set (the API forbids it anyway): CIDRs set by
// hand are reserved if they lie in the cluster CIDR and ignored if not.
//
// Known differences from upstream: no CloudAllocator or multi-CIDR
// modes; no NetworkUnavailable condition (that is the cloud route
// controller's); a node whose range is exhausted is retried with the
// workqueue's back-off (up to 15 times, and again on its next update)
// with a CIDRNotAvailable warning event, where upstream retries on its
// own queue; no metrics.
package nodeipam
