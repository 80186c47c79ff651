package dns

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/miekg/dns"
	"k8s.io/klog/v2"
)

// forwarder sends names outside the cluster zone to the node's resolvers,
// like CoreDNS's "forward . /etc/resolv.conf", without its cache.
type forwarder struct {
	upstreams []string // host:port, tried in order
	udp, tcp  *dns.Client
}

func newForwarder(cfg Config) (*forwarder, error) {
	timeout := cfg.UpstreamTimeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	f := &forwarder{
		// The read buffer must hold whatever size the client's EDNS0 asked
		// the upstream for; the reply is cut to the client's size later.
		udp: &dns.Client{Net: "udp", Timeout: timeout, UDPSize: dns.MaxMsgSize},
		tcp: &dns.Client{Net: "tcp", Timeout: timeout},
	}
	ups := cfg.Upstreams
	if len(ups) == 0 {
		path := cfg.ResolvConf
		if path == "" {
			path = DefaultResolvConf
		}
		var err error
		ups, err = readResolvConf(path)
		if err != nil {
			return nil, err
		}
	}
	for _, u := range ups {
		addr, err := upstreamAddr(u)
		if err != nil {
			return nil, err
		}
		f.upstreams = append(f.upstreams, addr)
	}
	return f, nil
}

// upstreamAddr accepts "ip" or "ip:port" (IPv6 in brackets with a port).
func upstreamAddr(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("dns: upstream %q is not an address or address:port", s)
	}
	return netip.AddrPortFrom(addr, 53).String(), nil
}

// readResolvConf returns the nameservers of a resolv.conf. A missing file
// means no upstreams (external names then fail with SERVFAIL).
func readResolvConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dns: reading upstream resolvers: %w", err)
	}
	defer f.Close()
	ups, err := parseResolvConf(f)
	if err != nil {
		return nil, fmt.Errorf("dns: parsing %s: %w", path, err)
	}
	return ups, nil
}

// parseResolvConf keeps the nameservers, dropping loopback ones (a
// systemd-resolved or dnsmasq stub) when real ones are listed too: a stub
// on the host may itself forward cluster names back here, and kubelet
// likewise refuses to hand pods a loopback resolver.
func parseResolvConf(r io.Reader) ([]string, error) {
	cc, err := dns.ClientConfigFromReader(r)
	if err != nil {
		return nil, err
	}
	var all, remote []string
	for _, s := range cc.Servers {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		hp := net.JoinHostPort(addr.String(), cc.Port)
		all = append(all, hp)
		if !addr.IsLoopback() {
			remote = append(remote, hp)
		}
	}
	if len(remote) > 0 {
		return remote, nil
	}
	return all, nil
}

// Upstreams returns the resolvers names outside the domain go to.
func (s *Server) Upstreams() []string { return append([]string(nil), s.fwd.upstreams...) }

// forward relays r to the first upstream that answers. UDP queries go over
// UDP and are retried over TCP when the upstream truncates, so a client
// whose EDNS0 buffer is larger than the upstream's gets the full answer.
func (f *forwarder) forward(r *dns.Msg, tcp bool) *dns.Msg {
	var lastErr error
	for _, up := range f.upstreams {
		reply, err := f.exchange(r, up, tcp)
		if err == nil {
			return reply
		}
		lastErr = err
	}
	if lastErr != nil {
		klog.V(4).Info("Forwarding DNS query failed", "name", r.Question[0].Name, "err", lastErr)
	}
	return new(dns.Msg).SetRcode(r, dns.RcodeServerFailure)
}

func (f *forwarder) exchange(r *dns.Msg, up string, tcp bool) (*dns.Msg, error) {
	c := f.udp
	if tcp {
		c = f.tcp
	}
	start := time.Now()
	reply, _, err := c.Exchange(r, up)
	if err == nil && reply.Truncated && !tcp {
		reply, _, err = f.tcp.Exchange(r, up)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %s after %v: %w", up, time.Since(start).Round(time.Millisecond), err)
	}
	return reply, nil
}

// resolve looks a name up upstream for an ExternalName target. It returns
// nil when there is no usable answer.
func (f *forwarder) resolve(name string, qtype uint16) *dns.Msg {
	if len(f.upstreams) == 0 {
		return nil
	}
	q := new(dns.Msg).SetQuestion(name, qtype)
	reply := f.forward(q, false)
	if reply.Rcode != dns.RcodeSuccess {
		return nil
	}
	return reply
}
