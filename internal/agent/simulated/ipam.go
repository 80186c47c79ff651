package simulated

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"
)

// maxPoolSize caps how many addresses of a large (or IPv6) prefix the pool
// considers; a node never holds more pods than this.
const maxPoolSize = 1 << 16

// ipam hands out pod IPs from the node's pod CIDR. A pod's address is
// derived from its UID (the first free address at or after a hash of it),
// so a pod keeps its address across agent restarts even without restoring
// it, and addresses look scattered, as real IPAMs' do.
//
// Worked example for 10.244.3.0/24: the network (.0), the gateway a bridge
// would hold (.1) and broadcast (.255) are skipped, leaving .2-.254, 253
// addresses. A UID hashing to 1000 starts at offset 1000 mod 253 = 241,
// i.e. 10.244.3.243; if that is taken, .244 is tried, and so on, wrapping
// to .2.
type ipam struct {
	prefix netip.Prefix
	used   map[netip.Addr]types.UID
}

func newIPAM(cidr string) (*ipam, error) {
	p := &ipam{used: map[netip.Addr]types.UID{}}
	return p, p.setPrefix(cidr)
}

func (p *ipam) setPrefix(cidr string) error {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("pod CIDR %q: %w", cidr, err)
	}
	if hostBits(prefix) < 2 {
		return fmt.Errorf("pod CIDR %q is too small", cidr)
	}
	p.prefix = prefix.Masked()
	return nil
}

func hostBits(p netip.Prefix) int { return p.Addr().BitLen() - p.Bits() }

// size is how many addresses the pool spans, reserved ones included.
func (p *ipam) size() uint64 {
	if hostBits(p.prefix) > 16 {
		return maxPoolSize
	}
	return 1 << hostBits(p.prefix)
}

func (p *ipam) allocate(uid types.UID) (netip.Addr, error) {
	size := p.size()
	// Offsets 0 (network) and 1 (gateway) and, when the pool spans an
	// IPv4 prefix to its end, the last (broadcast) are never handed out.
	usable := size - 2
	if p.prefix.Addr().Is4() && hostBits(p.prefix) <= 16 {
		usable--
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	start := h.Sum64() % usable
	for i := range usable {
		addr := addOffset(p.prefix.Addr(), 2+(start+i)%usable)
		if _, taken := p.used[addr]; !taken {
			p.used[addr] = uid
			return addr, nil
		}
	}
	return netip.Addr{}, errors.New("no free pod IP in " + p.prefix.String())
}

// reserve marks an address as held by uid (restoring a running pod).
func (p *ipam) reserve(addr netip.Addr, uid types.UID) { p.used[addr] = uid }

func (p *ipam) release(addr netip.Addr) { delete(p.used, addr) }

// addOffset adds off to the low 32 bits of addr.
func addOffset(addr netip.Addr, off uint64) netip.Addr {
	b := addr.As16()
	low := binary.BigEndian.Uint32(b[12:]) + uint32(off)
	binary.BigEndian.PutUint32(b[12:], low)
	out := netip.AddrFrom16(b)
	if addr.Is4() {
		out = out.Unmap()
	}
	return out
}
