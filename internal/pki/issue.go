package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// newKey returns a fresh ECDSA P-256 key: small, fast, and accepted by every
// Kubernetes client.
func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// newSerial returns a random 128-bit serial number, as RFC 5280 allows up to
// 20 octets and random serials make a collision between two CAs' certificates
// irrelevant.
func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func caTemplate(now time.Time) *x509.Certificate {
	return &x509.Certificate{
		// The timestamp tells apart the CAs of clusters that were
		// recreated, the way k3s and kubeadm do it.
		Subject:               pkix.Name{CommonName: fmt.Sprintf("skiff-ca@%d", now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Leaves only: nothing below this CA may sign.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
}

func servingTemplate(sans sanSet) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "skiff-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    sans.dns,
		IPAddresses: sans.ips,
	}
}

func clientTemplate(cn string, orgs []string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: slices.Clone(orgs)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// issue signs tmpl with the cluster CA for a new key and returns both PEM
// encoded. It fills in serial and validity.
func (b *Bundle) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, fmt.Errorf("pki: serial: %w", err)
	}
	now := b.now()
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(leafValidity)
	if tmpl.NotAfter.After(b.CA.NotAfter) {
		// A leaf cannot outlive its CA; clients would reject the chain.
		tmpl.NotAfter = b.CA.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.CA, key.Public(), b.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err = pemKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemCertDER(der), keyPEM, nil
}

// checkLeaf says why an existing leaf certificate must be reissued, or nil
// if it can be kept: it must chain to the current CA for usage and have more
// than renewBefore left.
func (b *Bundle) checkLeaf(cert *x509.Certificate, usage x509.ExtKeyUsage) error {
	now := b.now()
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       b.CAPool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{usage},
	}); err != nil {
		return err
	}
	if left := cert.NotAfter.Sub(now); left < renewBefore {
		return fmt.Errorf("expires in %s", left.Round(time.Hour))
	}
	return nil
}

// loadLeaf reads a certificate and key pair. A missing file yields an error
// wrapping fs.ErrNotExist; a pair that does not match is an error too.
func loadLeaf(certPath, keyPath string) (tls.Certificate, []byte, []byte, error) {
	certPEM, err := readFile(certPath)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	keyPEM, err := readFile(keyPath)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if pair.Leaf == nil {
		return tls.Certificate{}, nil, nil, errors.New(certPath + ": no leaf certificate")
	}
	return pair, certPEM, keyPEM, nil
}
