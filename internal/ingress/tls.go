package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// certStore picks a certificate by SNI name; it is part of the immutable
// table, so a handshake never takes a lock.
type certStore struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // ".foo.com" from "*.foo.com"
	// anyHost comes from a TLS entry without hosts, which the spec says
	// applies to every host the controller serves.
	anyHost *tls.Certificate
}

// lookup returns the certificate for an SNI name, or nil. A TLS host
// "*.foo.com" covers "bar.foo.com" only, like a wildcard rule.
func (s *certStore) lookup(name string) *tls.Certificate {
	if s == nil {
		return nil
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if c, ok := s.exact[name]; ok {
		return c
	}
	if key, ok := wildcardKey(name); ok {
		if c, ok := s.wildcard[key]; ok {
			return c
		}
	}
	return s.anyHost
}

// cachedCert avoids re-parsing a Secret's key pair on every rebuild.
type cachedCert struct {
	crt, key []byte
	cert     *tls.Certificate
	err      error
}

// certFromSecret parses tls.crt/tls.key. Type kubernetes.io/tls is not
// required: ingress-nginx also accepts Opaque Secrets with those keys.
func certFromSecret(s *corev1.Secret) (*tls.Certificate, error) {
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return nil, fmt.Errorf("secret %s/%s has no %s/%s", s.Namespace, s.Name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	c, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, fmt.Errorf("parse key pair of secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return &c, nil
}

// buildCertStore resolves the table's TLS references through get, which
// returns a parsed certificate or an error for one Secret. The oldest
// Ingress's certificate wins for a host claimed twice, as for paths.
func buildCertStore(refs []tlsRef, get func(ns, name string) (*tls.Certificate, error)) (*certStore, []error) {
	s := &certStore{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	var errs []error
	for _, r := range refs {
		c, err := get(r.namespace, r.secret)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(r.hosts) == 0 && s.anyHost == nil {
			s.anyHost = c
		}
		for _, h := range r.hosts {
			h = strings.ToLower(h)
			m, key := s.exact, h
			if strings.HasPrefix(h, "*.") {
				m, key = s.wildcard, h[1:]
			}
			if _, taken := m[key]; !taken {
				m[key] = c
			}
		}
	}
	return s, errs
}

// selfSignedCert is served when no Ingress has a certificate for the
// name a client asked for, as ingress-nginx's "fake certificate" is.
func selfSignedCert() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate default certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("generate default certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Skiff Ingress Default Certificate"},
		DNSNames:     []string{"ingress.local"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create default certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
