package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strings"
)

// kubernetesNames are the names pods use for the API server through the
// kubernetes.default Service; client libraries verify them.
var kubernetesNames = []string{
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
}

// sanSet is a deduplicated list of DNS names and IPs, in insertion order.
type sanSet struct {
	dns []string
	ips []net.IP
}

func (s *sanSet) add(name string) {
	name = strings.TrimSpace(name)
	if name == "" {
		return
	}
	if ip := net.ParseIP(name); ip != nil {
		s.addIP(ip)
		return
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if !slices.Contains(s.dns, name) {
		s.dns = append(s.dns, name)
	}
}

func (s *sanSet) addIP(ip net.IP) {
	if ip == nil {
		return
	}
	if !slices.ContainsFunc(s.ips, ip.Equal) {
		s.ips = append(s.ips, ip)
	}
}

// coveredBy reports whether cert lists every name and IP in s.
func (s sanSet) coveredBy(cert *x509.Certificate) bool {
	for _, name := range s.dns {
		if !slices.ContainsFunc(cert.DNSNames, func(n string) bool { return strings.EqualFold(n, name) }) {
			return false
		}
	}
	for _, ip := range s.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// servingSANs lists what the serving certificate must cover for opts.
func servingSANs(opts Options) (sanSet, error) {
	var s sanSet
	s.add("localhost")
	s.addIP(net.IPv4(127, 0, 0, 1))
	s.addIP(net.IPv6loopback)
	if host := strings.TrimSpace(opts.BindAddress); host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			s.add(host)
		}
	}
	// The hostname is a convenience (kubectl from another machine by name);
	// a machine without a usable one still gets a working certificate.
	if host, err := opts.hostname(); err == nil && validDNSName(host) {
		s.add(host)
	}
	s.dns = append(s.dns, kubernetesNames...)
	s.addIP(opts.ServiceIP)
	for _, name := range opts.ExtraSANs {
		if net.ParseIP(name) == nil && !validDNSName(name) {
			return sanSet{}, fmt.Errorf("pki: SAN %q is neither an IP address nor a DNS name", name)
		}
		s.add(name)
	}
	return s, nil
}

// validDNSName accepts names made of letters, digits, '-' and '.', with a
// leading "*." wildcard allowed: what x509 verifiers match against.
func validDNSName(name string) bool {
	name = strings.TrimSuffix(strings.TrimPrefix(name, "*."), ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// ensureServing keeps the serving certificate if it still fits, else issues
// and writes a new one covering want.
func (b *Bundle) ensureServing(want sanSet) (tls.Certificate, error) {
	pair, _, _, err := loadLeaf(b.Paths.ServingCert, b.Paths.ServingKey)
	switch {
	case err == nil:
		err = b.checkLeaf(pair.Leaf, x509.ExtKeyUsageServerAuth)
		if err == nil && !want.coveredBy(pair.Leaf) {
			err = errors.New("SANs do not cover the requested names and addresses")
		}
		if err == nil {
			return pair, nil
		}
		b.log.Info("Reissuing API serving certificate", "reason", err.Error(), "path", b.Paths.ServingCert)
	case !errors.Is(err, fs.ErrNotExist):
		b.log.Info("Reissuing API serving certificate", "reason", err.Error(), "path", b.Paths.ServingCert)
	}

	certPEM, keyPEM, err := b.issue(servingTemplate(want))
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writePair(b.Paths.ServingCert, certPEM, b.Paths.ServingKey, keyPEM); err != nil {
		return tls.Certificate{}, err
	}
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	return pair, nil
}

// ensureClient keeps the client certificate at certPath if it still fits
// (chains to the CA, not near expiry, subject CN=cn with O=org), else
// issues and writes a new one. It returns the PEM pair; what names the
// certificate in log lines.
func (b *Bundle) ensureClient(what, certPath, keyPath, cn, org string) (certPEM, keyPEM []byte, err error) {
	pair, certPEM, keyPEM, err := loadLeaf(certPath, keyPath)
	if err == nil {
		err = b.checkLeaf(pair.Leaf, x509.ExtKeyUsageClientAuth)
		subj := pair.Leaf.Subject
		if err == nil && (subj.CommonName != cn || !slices.Contains(subj.Organization, org)) {
			err = fmt.Errorf("subject is %q, want CN=%s, O=%s", subj.String(), cn, org)
		}
		if err == nil {
			return certPEM, keyPEM, nil
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		b.log.Info("Reissuing "+what+" client certificate", "reason", err.Error(), "path", certPath)
	}
	certPEM, keyPEM, err = b.ClientCert(cn, []string{org})
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(certPath, certPEM, keyPath, keyPEM); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}
