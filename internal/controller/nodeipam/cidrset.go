package nodeipam

import (
	"errors"
	"fmt"
	"net/netip"
)

// maxSubnetBits bounds how many node subnets one cluster CIDR is cut into
// (2^16, upstream's clusterSubnetMaxDiff), which keeps the bitmap small.
const maxSubnetBits = 16

// errCIDRRangeFull is returned when every node subnet is taken.
var errCIDRRangeFull = errors.New("no node CIDRs left in the cluster CIDR")

// cidrSet cuts one cluster CIDR into node subnets of one size and tracks
// which are in use, as upstream's cidrset does. Subnet i is the cluster
// prefix with i written into the bits between the cluster mask and the
// node mask: 10.42.0.0/16 with /24 nodes has 256 subnets and subnet 5 is
// 10.42.5.0/24. Not safe for concurrent use: the controller locks.
type cidrSet struct {
	cluster  netip.Prefix
	nodeBits int
	used     []bool
	// next is where the search for a free subnet starts: the one after
	// the last allocated, so a released subnet is not handed straight to
	// the next node while stale routes or IPs for it may linger.
	next int
	free int
}

func newCIDRSet(cluster netip.Prefix, nodeBits int) (*cidrSet, error) {
	cluster = cluster.Masked()
	diff := nodeBits - cluster.Bits()
	switch {
	case nodeBits > cluster.Addr().BitLen():
		return nil, fmt.Errorf("node mask /%d is longer than an %s address", nodeBits, family(cluster))
	case diff < 0:
		return nil, fmt.Errorf("node mask /%d is shorter than cluster CIDR %s", nodeBits, cluster)
	case diff > maxSubnetBits:
		return nil, fmt.Errorf("cluster CIDR %s with node mask /%d has more than 2^%d subnets", cluster, nodeBits, maxSubnetBits)
	}
	n := 1 << diff
	return &cidrSet{cluster: cluster, nodeBits: nodeBits, used: make([]bool, n), free: n}, nil
}

// allocate takes the next free subnet.
func (s *cidrSet) allocate() (netip.Prefix, error) {
	for i := range len(s.used) {
		idx := (s.next + i) % len(s.used)
		if !s.used[idx] {
			s.used[idx] = true
			s.free--
			s.next = (idx + 1) % len(s.used)
			return s.subnet(idx), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w %s", errCIDRRangeFull, s.cluster)
}

// occupy marks every subnet p overlaps as used. p need not be of node
// size (an operator may have set a node's podCIDR by hand); a prefix
// outside the cluster CIDR is an error.
func (s *cidrSet) occupy(p netip.Prefix) error {
	begin, end, err := s.indices(p)
	if err != nil {
		return err
	}
	for i := begin; i <= end; i++ {
		if !s.used[i] {
			s.used[i] = true
			s.free--
		}
	}
	return nil
}

// release frees every subnet p overlaps.
func (s *cidrSet) release(p netip.Prefix) error {
	begin, end, err := s.indices(p)
	if err != nil {
		return err
	}
	for i := begin; i <= end; i++ {
		if s.used[i] {
			s.used[i] = false
			s.free++
		}
	}
	return nil
}

// indices is the inclusive range of subnets p overlaps.
func (s *cidrSet) indices(p netip.Prefix) (int, int, error) {
	p = p.Masked()
	if !p.Overlaps(s.cluster) {
		return 0, 0, fmt.Errorf("CIDR %s is outside cluster CIDR %s", p, s.cluster)
	}
	switch {
	case p.Bits() <= s.cluster.Bits(): // p covers the whole cluster CIDR
		return 0, len(s.used) - 1, nil
	case p.Bits() >= s.nodeBits: // p lies inside one subnet
		i := s.index(p.Addr())
		return i, i, nil
	default: // p spans 2^(nodeBits-bits) subnets, starting at its own address
		i := s.index(p.Addr())
		return i, i + 1<<(s.nodeBits-p.Bits()) - 1, nil
	}
}

// index reads the subnet bits of addr, which lies inside the cluster.
func (s *cidrSet) index(addr netip.Addr) int {
	b := addr.AsSlice()
	idx := 0
	for pos := s.cluster.Bits(); pos < s.nodeBits; pos++ {
		idx = idx<<1 | int(b[pos/8]>>(7-pos%8)&1)
	}
	return idx
}

// subnet writes idx into the subnet bits of the cluster prefix.
func (s *cidrSet) subnet(idx int) netip.Prefix {
	b := s.cluster.Addr().AsSlice()
	diff := s.nodeBits - s.cluster.Bits()
	for i := range diff {
		pos := s.cluster.Bits() + i
		bit := byte(idx>>(diff-1-i)) & 1
		b[pos/8] |= bit << (7 - pos%8)
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(addr, s.nodeBits)
}

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}
