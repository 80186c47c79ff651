package kubeletserver

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
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// allowedGroup is the only group let in: the API server's client
// certificate carries it. The kubelet asks the API server
// (SubjectAccessReview) instead; see doc.go.
const allowedGroup = "system:masters"

// authenticate lets through requests whose client certificate chains to
// the cluster CA (401 otherwise) and whose subject is in allowedGroup
// (403 otherwise).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			writeError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		leaf := r.TLS.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: s.cfg.ClientCAs, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			s.cfg.Log.Debug("Kubelet API: client certificate refused", "subject", leaf.Subject.String(), "err", err)
			writeError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		if !slices.Contains(leaf.Subject.Organization, allowedGroup) {
			writeError(w, http.StatusForbidden, "Forbidden (user=%s, verb=%s, resource=nodes, subresource(s)=[%s])",
				leaf.Subject.CommonName, verb(r), subresource(r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// verb and subresource name the request as the kubelet's authorizer does
// in its Forbidden message.
func verb(r *http.Request) string {
	if r.Method == http.MethodPost {
		return "create"
	}
	return "get"
}

func subresource(path string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch first {
	case "containerLogs", "exec", "attach", "portForward":
		return "proxy"
	}
	return first
}

// ClientCAsFromPEM returns a pool of the PEM certificates in data (a
// kubeconfig's certificate-authority-data, or the cluster CA file).
func ClientCAsFromPEM(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("kubelet server: no CA certificate in the given PEM")
	}
	return pool, nil
}

// ClientCAsFromRESTConfig returns the CA a node agent's kubeconfig trusts
// the API server with: the cluster CA, which also signs the API server's
// client certificate.
func ClientCAsFromRESTConfig(rc *rest.Config) (*x509.CertPool, error) {
	data := rc.TLSClientConfig.CAData
	if len(data) == 0 && rc.TLSClientConfig.CAFile != "" {
		var err error
		if data, err = os.ReadFile(rc.TLSClientConfig.CAFile); err != nil {
			return nil, fmt.Errorf("kubelet server: cluster CA: %w", err)
		}
	}
	if len(data) == 0 {
		return nil, errors.New("kubelet server: the kubeconfig names no certificate authority to verify the API server's client certificate with")
	}
	return ClientCAsFromPEM(data)
}

// SelfSignedCert makes a serving certificate for hosts (names or IPs; the
// host name when empty), signed by its own key, valid for a year from
// now, as the kubelet generates one when given none.
func SelfSignedCert(hosts []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("kubelet server: serving key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("kubelet server: serial: %w", err)
	}
	if len(hosts) == 0 {
		if h, err := os.Hostname(); err == nil {
			hosts = []string{strings.ToLower(h)}
		}
	}
	cn := "skiff-kubelet"
	if len(hosts) > 0 {
		cn = fmt.Sprintf("%s@%d", hosts[0], now.Unix())
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		// A CA of its own, so a client may pin it as a root.
		IsCA: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("kubelet server: self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("kubelet server: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
