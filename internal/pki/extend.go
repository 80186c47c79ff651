package pki

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
)

// AddServingIPs makes the serving certificate cover ips as well as what
// Ensure was asked for, reissuing and rewriting it when it does not yet,
// and returns the certificate to serve from now on. It exists for
// addresses a server learns only after it started: the gateway of its own
// node's pod CIDR, known once node IPAM assigned the range, is where pods
// reach the API server through the kubernetes Service. The addresses are
// remembered, so a later call for other addresses keeps covering these.
// Safe for concurrent use; Bundle.Serving is not updated (readers of that
// field would race), callers serve the returned certificate.
func (b *Bundle) AddServingIPs(ips ...net.IP) (tls.Certificate, error) {
	b.servingMu.Lock()
	defer b.servingMu.Unlock()
	want := b.servingWant
	want.dns = append([]string(nil), want.dns...)
	want.ips = append([]net.IP(nil), want.ips...)
	for _, ip := range ips {
		want.addIP(ip)
	}
	if b.current.Leaf != nil && want.coveredBy(b.current.Leaf) {
		b.servingWant = want
		return b.current, nil
	}
	// Another process on this data dir (a second `skiff server` refusing
	// to start, `skiff` tooling) must not see a half-written pair.
	unlock, err := lockDir(filepath.Dir(b.Paths.ServingCert))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: lock %s: %w", filepath.Dir(b.Paths.ServingCert), err)
	}
	defer unlock()
	cert, err := b.ensureServing(want)
	if err != nil {
		return tls.Certificate{}, err
	}
	b.servingWant, b.current = want, cert
	return cert, nil
}
