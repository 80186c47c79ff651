package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// loadOrCreateCA returns the cluster CA, creating it only when neither its
// certificate nor its key exists. Any other state (one file without the
// other, a key that does not match, an expired CA) is an error: replacing
// the CA would silently invalidate every certificate and kubeconfig issued.
func loadOrCreateCA(paths Paths, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	certPEM, certErr := readFile(paths.CACert)
	keyPEM, keyErr := readFile(paths.CAKey)
	certMissing, keyMissing := errors.Is(certErr, fs.ErrNotExist), errors.Is(keyErr, fs.ErrNotExist)
	switch {
	case certMissing && keyMissing:
		return createCA(paths, now)
	case certErr != nil:
		return nil, nil, caError(paths, certErr)
	case keyErr != nil:
		return nil, nil, caError(paths, keyErr)
	}

	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, caError(paths, fmt.Errorf("%s: %w", paths.CACert, err))
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, caError(paths, fmt.Errorf("%s: %w", paths.CAKey, err))
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, nil, caError(paths, errors.New("CA key does not match CA certificate"))
	}
	if !cert.IsCA {
		return nil, nil, caError(paths, fmt.Errorf("%s is not a CA certificate", paths.CACert))
	}
	if now.After(cert.NotAfter) {
		return nil, nil, caError(paths, fmt.Errorf("CA expired on %s", cert.NotAfter.Format(time.DateOnly)))
	}
	return cert, key, nil
}

func createCA(paths Paths, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	tmpl := caTemplate(now)
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, fmt.Errorf("pki: serial: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create CA: %w", err)
	}
	keyPEM, err := pemKey(key)
	if err != nil {
		return nil, nil, err
	}
	// Key first: a crash between the two writes leaves a key without a
	// certificate, which the next start reports instead of silently making
	// a second CA whose key could be confused with this one.
	if err := writeFileAtomic(paths.CAKey, keyPEM, keyMode); err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(paths.CACert, pemCertDER(der), certMode); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func caError(paths Paths, err error) error {
	return fmt.Errorf("pki: cluster CA in %s and %s is unusable (%w); restore both files, or remove both to create a new cluster CA", paths.CACert, paths.CAKey, err)
}

// publicKeysEqual compares two public keys of any supported type.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}
