// Package pki creates, on a server's first start, the cluster CA, the API
// serving certificate, the admin client certificate, the API server's client
// certificate towards node agents and the admin kubeconfig, and reuses them
// on every later start.
//
// Layout under the data directory:
//
//	tls/ca.crt, tls/ca.key            cluster CA (ECDSA P-256, 10 years)
//	tls/serving.crt, tls/serving.key  API server certificate
//	tls/admin.crt, tls/admin.key      CN=skiff-admin, O=system:masters
//	tls/apiserver-kubelet-client.crt, tls/apiserver-kubelet-client.key
//	                                  CN=skiff-apiserver-kubelet-client,
//	                                  O=system:masters: the API server's
//	                                  identity towards node agents
//	kubeconfig.yaml                   admin kubeconfig, everything embedded
//
// The CA is never replaced once it exists: every certificate and kubeconfig
// handed out depends on it, so a missing or mismatched CA key is an error for
// the operator to resolve, not something to paper over. Leaf certificates are
// cheap and are reissued when they stop fitting (SANs, expiry, CA).
package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore: a leaf certificate with less than this left is reissued
	// at start, so a server restarted at least every nine months never
	// serves an expired certificate.
	renewBefore = 90 * 24 * time.Hour
	// backdate tolerates clocks that are a little behind ours (other nodes,
	// containers), which would otherwise see a certificate "not yet valid".
	backdate = 5 * time.Minute

	// AdminUser is the CommonName of the admin client certificate and the
	// kubeconfig user name.
	AdminUser = "skiff-admin"
	// AdminGroup is the group the admin certificate carries; RBAC binds it
	// to cluster-admin, as upstream does.
	AdminGroup = "system:masters"
	// KubeletClientUser is the CommonName of the certificate the API server
	// presents to node agents when it proxies logs, exec, attach and
	// port-forward, as upstream's --kubelet-client-certificate. It carries
	// AdminGroup, as kubeadm's apiserver-kubelet-client certificate does.
	KubeletClientUser = "skiff-apiserver-kubelet-client"
	// ClusterName is the cluster and context name in the admin kubeconfig.
	ClusterName = "skiff"

	defaultPort = 6443
)

// Options says what the certificates must cover and where clients connect.
type Options struct {
	// BindAddress is the API server's listen address, an IP. Unspecified
	// (0.0.0.0, ::) or empty means all interfaces.
	BindAddress string
	// Port is the API server's HTTPS port, for the kubeconfig; 0 means 6443.
	Port int
	// ServiceIP is the first IP of the service CIDR: the ClusterIP of
	// kubernetes.default, through which pods reach the API. Optional.
	ServiceIP net.IP
	// ExtraSANs are further DNS names or IP addresses the serving
	// certificate must cover (load balancer names, public IPs).
	ExtraSANs []string
	// Log receives a line when a certificate is reissued; nil means
	// slog.Default().
	Log *slog.Logger

	// hostname and now are replaced by tests.
	hostname func() (string, error)
	now      func() time.Time
}

// Paths are the files Ensure manages.
type Paths struct {
	CACert, CAKey           string
	ServingCert, ServingKey string
	AdminCert, AdminKey     string
	// KubeletClientCert and KubeletClientKey are the API server's client
	// certificate towards node agents.
	KubeletClientCert, KubeletClientKey string
	Kubeconfig                          string
}

// Bundle is the loaded PKI of one server.
type Bundle struct {
	// CA is the cluster CA certificate; CAPool holds just it, for verifying
	// client certificates and for clients verifying the server.
	CA     *x509.Certificate
	CAPool *x509.CertPool
	// Serving is the API server's certificate, with Leaf set.
	Serving tls.Certificate
	// KubeletClient is the API server's client certificate towards node
	// agents (CN=KubeletClientUser), with Leaf set.
	KubeletClient tls.Certificate
	Paths         Paths

	caKey crypto.Signer
	now   func() time.Time
	log   *slog.Logger

	servingMu sync.Mutex // guards the fields below
	// servingWant is what the serving certificate must cover: Ensure's
	// options plus AddServingIPs' addresses; current is the certificate
	// last loaded or issued.
	servingWant sanSet
	current     tls.Certificate
}

// PathsFor returns where Ensure keeps its files for a data directory.
func PathsFor(dataDir string) Paths {
	tlsDir := filepath.Join(dataDir, "tls")
	return Paths{
		CACert:      filepath.Join(tlsDir, "ca.crt"),
		CAKey:       filepath.Join(tlsDir, "ca.key"),
		ServingCert: filepath.Join(tlsDir, "serving.crt"),
		ServingKey:  filepath.Join(tlsDir, "serving.key"),
		AdminCert:   filepath.Join(tlsDir, "admin.crt"),
		AdminKey:    filepath.Join(tlsDir, "admin.key"),

		KubeletClientCert: filepath.Join(tlsDir, "apiserver-kubelet-client.crt"),
		KubeletClientKey:  filepath.Join(tlsDir, "apiserver-kubelet-client.key"),
		Kubeconfig:        filepath.Join(dataDir, "kubeconfig.yaml"),
	}
}

// Ensure loads the PKI under dir, creating whatever is missing: on a first
// start everything, later only leaf certificates that no longer fit opts or
// are close to expiry. The kubeconfig is rewritten when its contents would
// change. Concurrent Ensure calls on one dir are serialised by a lock file.
func Ensure(dir string, opts Options) (*Bundle, error) {
	if opts.hostname == nil {
		opts.hostname = os.Hostname
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.Port == 0 {
		opts.Port = defaultPort
	}
	paths := PathsFor(dir)
	tlsDir := filepath.Dir(paths.CACert)
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	unlock, err := lockDir(tlsDir)
	if err != nil {
		return nil, fmt.Errorf("pki: lock %s: %w", tlsDir, err)
	}
	defer unlock()

	ca, caKey, err := loadOrCreateCA(paths, opts.now())
	if err != nil {
		return nil, err
	}
	b := &Bundle{CA: ca, CAPool: x509.NewCertPool(), Paths: paths, caKey: caKey, now: opts.now, log: opts.Log}
	b.CAPool.AddCert(ca)

	want, err := servingSANs(opts)
	if err != nil {
		return nil, err
	}
	if b.Serving, err = b.ensureServing(want); err != nil {
		return nil, err
	}
	b.servingWant, b.current = want, b.Serving
	adminCert, adminKey, err := b.ensureClient("admin", paths.AdminCert, paths.AdminKey, AdminUser, AdminGroup)
	if err != nil {
		return nil, err
	}
	kcCert, kcKey, err := b.ensureClient("kubelet", paths.KubeletClientCert, paths.KubeletClientKey, KubeletClientUser, AdminGroup)
	if err != nil {
		return nil, err
	}
	if b.KubeletClient, err = tls.X509KeyPair(kcCert, kcKey); err != nil {
		return nil, fmt.Errorf("pki: kubelet client certificate: %w", err)
	}
	if err := writeKubeconfig(paths.Kubeconfig, serverURL(opts), pemCert(ca), adminCert, adminKey); err != nil {
		return nil, err
	}
	return b, nil
}

// ClientCert issues a client certificate signed by the cluster CA for user
// cn in groups orgs (the node agent's system:node:NAME in system:nodes, for
// example). Nothing is written to disk.
func (b *Bundle) ClientCert(cn string, orgs []string) (certPEM, keyPEM []byte, err error) {
	if cn == "" {
		return nil, nil, fmt.Errorf("pki: client certificate needs a common name")
	}
	return b.issue(clientTemplate(cn, orgs))
}

// CAPEM returns the CA certificate in PEM form, for client configs.
func (b *Bundle) CAPEM() []byte { return pemCert(b.CA) }
