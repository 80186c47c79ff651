package core

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// kubernetesServiceKey owns the first usable service IP, as upstream's
// apiserver gives its own Service the first address of the range.
const kubernetesServiceKey = "default/kubernetes"

// maxScan caps how many addresses of a huge (IPv6) range are handed out
// dynamically; requested addresses beyond it are still honoured.
const maxScan = 1 << 24

// Errors worded as upstream's ipallocator and portallocator word them.
var (
	errRangeFull     = errors.New("range is full")
	errIPAllocated   = errors.New("provided IP is already allocated")
	errPortAllocated = errors.New("provided port is already allocated")
)

type ipNotInRangeError struct {
	ip    netip.Addr
	valid netip.Prefix
}

func (e *ipNotInRangeError) Error() string {
	return fmt.Sprintf("the provided IP (%v) is not in the valid range. The range of valid IPs is %s", e.ip, e.valid)
}

type portNotInRangeError struct{ min, max int }

func (e *portNotInRangeError) Error() string {
	return fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", e.min, e.max)
}

// allocator hands out service ClusterIPs from one CIDR and NodePorts from
// one range, and is safe for concurrent use.
//
// Every address and port is reference counted. A stored service holds one
// reference on each it uses; every write in flight takes one more on each
// its new object would use. A committed write then drops the references
// of the object it replaced, a failed one drops its own. Worked example:
// service a holds 10.96.0.7 (refs 1); an update of a that keeps the IP
// takes a second reference (refs 2); on commit it drops the old object's
// (refs 1), on failure its own (refs 1). Either way the IP stays held, and
// a concurrent write to a cannot free what the other still needs.
//
// A held resource belongs to one service (its namespace/name); another
// service asking for it gets "already allocated", unless it inherits it
// from the object it replaces.
type allocator struct {
	// Fixed at construction; read without the lock.
	prefix  netip.Prefix
	family  corev1.IPFamily
	first   netip.Addr // first usable address, kept for default/kubernetes
	size    uint64     // addresses handed out dynamically, from first on
	portMin int
	portMax int

	mu sync.Mutex // guards the fields below
	// ips and ports map a held resource to its holder.
	ips   map[netip.Addr]*hold
	ports map[int]*hold
	// nextIP and nextPort are next-fit cursors: allocation resumes after
	// the last hand-out, so a just-released resource is not reused at once.
	nextIP   uint64
	nextPort int
}

type hold struct {
	owner string
	refs  int
}

func newAllocator(cidr netip.Prefix, ports [2]int) *allocator {
	cidr = cidr.Masked()
	a := &allocator{
		prefix:   cidr,
		family:   corev1.IPv4Protocol,
		first:    cidr.Addr().Next(),
		portMin:  ports[0],
		portMax:  ports[1],
		ips:      map[netip.Addr]*hold{},
		ports:    map[int]*hold{},
		nextIP:   1,
		nextPort: ports[0],
	}
	if cidr.Addr().Is6() {
		a.family = corev1.IPv6Protocol
	}
	hostBits := cidr.Addr().BitLen() - cidr.Bits()
	total := uint64(maxScan)
	if hostBits < 24 {
		total = 1 << hostBits
	}
	// IPv4 loses the network and broadcast addresses, IPv6 the network
	// (subnet-router anycast) address.
	reserved := uint64(2)
	if a.family == corev1.IPv6Protocol {
		reserved = 1
	}
	if total > reserved {
		a.size = total - reserved
	}
	if a.family == corev1.IPv6Protocol && hostBits >= 24 {
		a.size = maxScan
	}
	return a
}

// addrAdd returns a+n; callers keep the result inside the prefix.
func addrAdd(a netip.Addr, n uint64) netip.Addr {
	b := a.As16()
	carry := n
	for i := 15; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	r := netip.AddrFrom16(b)
	if a.Is4() {
		r = r.Unmap()
	}
	return r
}

// inRange reports whether ip may be a service IP: inside the prefix and not
// its network or (IPv4) broadcast address.
func (a *allocator) inRange(ip netip.Addr) bool {
	if !a.prefix.Contains(ip) || ip == a.prefix.Addr() {
		return false
	}
	if a.family == corev1.IPv4Protocol {
		hostBits := 32 - a.prefix.Bits()
		return ip != addrAdd(a.prefix.Addr(), 1<<hostBits-1)
	}
	return true
}

// reserveIP takes a reference on ip for owner. inherit says the object
// being replaced holds ip, so it may change hands.
func (a *allocator) reserveIP(owner string, ip netip.Addr, inherit bool) error {
	ip = ip.Unmap()
	if !a.inRange(ip) {
		return &ipNotInRangeError{ip: ip, valid: a.prefix}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.ips[ip]
	switch {
	case inherit:
	case h != nil && h.owner != owner:
		return errIPAllocated
	case h == nil && ip == a.first && owner != kubernetesServiceKey:
		return errIPAllocated
	}
	a.ips[ip] = take(h, owner)
	return nil
}

func take(h *hold, owner string) *hold {
	if h == nil {
		return &hold{owner: owner, refs: 1}
	}
	h.owner = owner
	h.refs++
	return h
}

// allocateIP hands out a free address. Only the kubernetes service gets the
// first one; everyone else scans from the cursor.
func (a *allocator) allocateIP(owner string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if owner == kubernetesServiceKey && a.size > 0 && a.ips[a.first] == nil {
		a.ips[a.first] = take(nil, owner)
		return a.first, nil
	}
	if a.size <= 1 {
		return netip.Addr{}, errRangeFull
	}
	for i := uint64(0); i < a.size-1; i++ {
		off := a.nextIP
		a.nextIP++
		if a.nextIP >= a.size {
			a.nextIP = 1
		}
		ip := addrAdd(a.first, off)
		if a.ips[ip] == nil {
			a.ips[ip] = take(nil, owner)
			return ip, nil
		}
	}
	return netip.Addr{}, errRangeFull
}

func (a *allocator) releaseIP(ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	release(a.ips, ip.Unmap())
}

func release[K comparable](m map[K]*hold, k K) {
	if h := m[k]; h != nil {
		if h.refs--; h.refs <= 0 {
			delete(m, k)
		}
	}
}

func (a *allocator) reservePort(owner string, port int, inherit bool) error {
	if port < a.portMin || port > a.portMax {
		return &portNotInRangeError{min: a.portMin, max: a.portMax}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if h := a.ports[port]; h != nil && h.owner != owner && !inherit {
		return errPortAllocated
	}
	a.ports[port] = take(a.ports[port], owner)
	return nil
}

func (a *allocator) allocatePort(owner string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.portMax - a.portMin + 1
	for i := 0; i < n; i++ {
		port := a.nextPort
		if a.nextPort++; a.nextPort > a.portMax {
			a.nextPort = a.portMin
		}
		if a.ports[port] == nil {
			a.ports[port] = take(nil, owner)
			return port, nil
		}
	}
	return 0, errRangeFull
}

func (a *allocator) releasePort(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	release(a.ports, port)
}

// holders reports who holds ip and port (empty when free), for Rebuild's
// conflict check.
func (a *allocator) ipHolder(ip netip.Addr) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if h := a.ips[ip.Unmap()]; h != nil {
		return h.owner
	}
	return ""
}

func (a *allocator) portHolder(port int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if h := a.ports[port]; h != nil {
		return h.owner
	}
	return ""
}

func (a *allocator) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ips = map[netip.Addr]*hold{}
	a.ports = map[int]*hold{}
	a.nextIP, a.nextPort = 1, a.portMin
}

// counts reports how many addresses and ports are held (for tests).
func (a *allocator) counts() (ips, ports int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ips), len(a.ports)
}
