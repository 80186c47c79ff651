package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func testOptions(now time.Time) Options {
	return Options{
		BindAddress: "0.0.0.0",
		Port:        16443,
		ServiceIP:   net.ParseIP("10.43.0.1"),
		hostname:    func() (string, error) { return "node-a", nil },
		now:         func() time.Time { return now },
	}
}

func mustEnsure(t *testing.T, dir string, opts Options) *Bundle {
	t.Helper()
	b, err := Ensure(dir, opts)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return b
}

func TestEnsureCreates(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(time.Now())
	opts.ExtraSANs = []string{"api.example.com", "192.0.2.10"}
	b := mustEnsure(t, dir, opts)

	if !b.CA.IsCA || b.CA.NotAfter.Sub(time.Now()) < 9*365*24*time.Hour {
		t.Errorf("CA: IsCA=%v NotAfter=%v", b.CA.IsCA, b.CA.NotAfter)
	}
	if pub, ok := b.CA.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", b.CA.PublicKey)
	}

	leaf := b.Serving.Leaf
	if leaf == nil {
		t.Fatal("Serving.Leaf is nil")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("serving cert does not verify: %v", err)
	}
	for _, name := range []string{"localhost", "node-a", "api.example.com", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("serving cert: %v", err)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.43.0.1", "192.0.2.10"} {
		if err := leaf.VerifyHostname(ip); err != nil {
			t.Errorf("serving cert: %v", err)
		}
	}
	if slices.ContainsFunc(leaf.IPAddresses, net.IPv4zero.Equal) {
		t.Error("serving cert lists 0.0.0.0")
	}

	p := b.Paths
	for _, f := range []string{p.CAKey, p.ServingKey, p.AdminKey, p.Kubeconfig} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, fi.Mode().Perm())
		}
	}
	for _, f := range []string{p.CACert, p.ServingCert, p.AdminCert} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	if filepath.Dir(p.CACert) != filepath.Join(dir, "tls") || p.Kubeconfig != filepath.Join(dir, "kubeconfig.yaml") {
		t.Errorf("unexpected paths %+v", p)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "tls", ".*.tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestEnsureReuses(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(time.Now())
	first := mustEnsure(t, dir, opts)
	kc1, _ := os.ReadFile(first.Paths.Kubeconfig)
	admin1, _ := os.ReadFile(first.Paths.AdminCert)

	second := mustEnsure(t, dir, opts)
	if first.CA.SerialNumber.Cmp(second.CA.SerialNumber) != 0 || !bytes.Equal(first.CA.Raw, second.CA.Raw) {
		t.Error("CA changed on reuse")
	}
	if !bytes.Equal(first.Serving.Leaf.Raw, second.Serving.Leaf.Raw) {
		t.Error("serving cert reissued although it still fits")
	}
	kc2, _ := os.ReadFile(second.Paths.Kubeconfig)
	admin2, _ := os.ReadFile(second.Paths.AdminCert)
	if !bytes.Equal(kc1, kc2) || !bytes.Equal(admin1, admin2) {
		t.Error("admin cert or kubeconfig changed on reuse")
	}
}

func TestEnsureReissuesServingForNewSANs(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(time.Now())
	first := mustEnsure(t, dir, opts)

	opts.BindAddress = "192.0.2.7"
	opts.ExtraSANs = []string{"skiff.example.org"}
	second := mustEnsure(t, dir, opts)
	if !bytes.Equal(first.CA.Raw, second.CA.Raw) {
		t.Fatal("CA changed")
	}
	if bytes.Equal(first.Serving.Leaf.Raw, second.Serving.Leaf.Raw) {
		t.Fatal("serving cert not reissued for new SANs")
	}
	for _, name := range []string{"192.0.2.7", "skiff.example.org", "localhost"} {
		if err := second.Serving.Leaf.VerifyHostname(name); err != nil {
			t.Error(err)
		}
	}
	onDisk, err := tls.LoadX509KeyPair(second.Paths.ServingCert, second.Paths.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk.Leaf.Raw, second.Serving.Leaf.Raw) {
		t.Error("serving cert on disk differs from the one returned")
	}

	// Asking for less than the certificate covers keeps it.
	opts.ExtraSANs = nil
	third := mustEnsure(t, dir, opts)
	if !bytes.Equal(second.Serving.Leaf.Raw, third.Serving.Leaf.Raw) {
		t.Error("serving cert reissued although its SANs are a superset")
	}
}

func TestEnsureRenewsNearExpiry(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	first := mustEnsure(t, dir, testOptions(start))
	later := mustEnsure(t, dir, testOptions(start.Add(leafValidity-renewBefore+time.Hour)))
	if !bytes.Equal(first.CA.Raw, later.CA.Raw) {
		t.Fatal("CA changed")
	}
	if bytes.Equal(first.Serving.Leaf.Raw, later.Serving.Leaf.Raw) {
		t.Error("serving cert not renewed near expiry")
	}
}

func TestEnsureRefusesToReplaceCA(t *testing.T) {
	dir := t.TempDir()
	b := mustEnsure(t, dir, testOptions(time.Now()))
	if err := os.Remove(b.Paths.CAKey); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, testOptions(time.Now())); err == nil {
		t.Fatal("Ensure succeeded with the CA key missing")
	}
	cert, _ := os.ReadFile(b.Paths.CACert)
	if !bytes.Equal(cert, pemCert(b.CA)) {
		t.Error("CA certificate was replaced")
	}
}

func TestClientCert(t *testing.T) {
	b := mustEnsure(t, t.TempDir(), testOptions(time.Now()))
	certPEM, keyPEM, err := b.ClientCert("system:node:node-a", []string{"system:nodes"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert := pair.Leaf
	if cert.Subject.CommonName != "system:node:node-a" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("subject = %v", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert does not verify for client auth: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client cert verifies for server auth")
	}
	if block, _ := pem.Decode(keyPEM); block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("key PEM: %q", keyPEM)
	}
	if _, _, err := b.ClientCert("", nil); err == nil {
		t.Error("ClientCert with empty CN succeeded")
	}
}

func TestKubeconfig(t *testing.T) {
	for _, tc := range []struct {
		bind, wantServer string
	}{
		{"0.0.0.0", "https://127.0.0.1:16443"},
		{"127.0.0.1", "https://127.0.0.1:16443"},
		{"192.0.2.7", "https://192.0.2.7:16443"},
		{"2001:db8::7", "https://[2001:db8::7]:16443"},
	} {
		t.Run(tc.bind, func(t *testing.T) {
			opts := testOptions(time.Now())
			opts.BindAddress = tc.bind
			b := mustEnsure(t, t.TempDir(), opts)

			cfg, err := clientcmd.LoadFromFile(b.Paths.Kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.CurrentContext != "skiff" {
				t.Errorf("current context = %q", cfg.CurrentContext)
			}
			restCfg, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			if restCfg.Host != tc.wantServer {
				t.Errorf("server = %q, want %q", restCfg.Host, tc.wantServer)
			}
			if !bytes.Equal(restCfg.CAData, pemCert(b.CA)) {
				t.Error("kubeconfig CA differs from the cluster CA")
			}
			pair, err := tls.X509KeyPair(restCfg.CertData, restCfg.KeyData)
			if err != nil {
				t.Fatal(err)
			}
			subj := pair.Leaf.Subject
			if subj.CommonName != AdminUser || !slices.Equal(subj.Organization, []string{AdminGroup}) {
				t.Errorf("admin subject = %v", subj)
			}
			if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("admin cert: %v", err)
			}
		})
	}
}

// TestTLSHandshake checks the pieces fit together as the API server will use
// them: the serving cert and CA pool on one side, the kubeconfig on the other.
func TestTLSHandshake(t *testing.T) {
	b := mustEnsure(t, t.TempDir(), testOptions(time.Now()))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{b.Serving},
		ClientCAs:    b.CAPool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()

	cfg, err := clientcmd.BuildConfigFromFlags("https://"+ln.Addr().String(), b.Paths.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cfg.CAData)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := <-peer; got != AdminUser {
		t.Errorf("server saw client %q, want %q", got, AdminUser)
	}
}

func TestServingSANsRejectsGarbage(t *testing.T) {
	opts := testOptions(time.Now())
	opts.ExtraSANs = []string{"not a name"}
	if _, err := Ensure(t.TempDir(), opts); err == nil {
		t.Error("Ensure accepted an invalid SAN")
	}
}

func TestKubeletClientCert(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(time.Now())
	first := mustEnsure(t, dir, opts)
	cert := first.KubeletClient.Leaf
	if cert == nil {
		t.Fatal("no kubelet client certificate")
	}
	if cert.Subject.CommonName != KubeletClientUser || !slices.Equal(cert.Subject.Organization, []string{AdminGroup}) {
		t.Errorf("subject = %v", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: first.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("kubelet client cert does not verify for client auth: %v", err)
	}
	onDisk, err := os.ReadFile(first.Paths.KubeletClientCert)
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(onDisk); block == nil || !bytes.Equal(block.Bytes, cert.Raw) {
		t.Error("certificate on disk differs from the loaded one")
	}
	if fi, err := os.Stat(first.Paths.KubeletClientKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}

	second := mustEnsure(t, dir, opts)
	if !bytes.Equal(second.KubeletClient.Leaf.Raw, cert.Raw) {
		t.Error("kubelet client cert reissued although it still fits")
	}
	// A certificate for someone else at that path is replaced.
	certPEM, keyPEM, err := first.ClientCert("intruder", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := writePair(first.Paths.KubeletClientCert, certPEM, first.Paths.KubeletClientKey, keyPEM); err != nil {
		t.Fatal(err)
	}
	third := mustEnsure(t, dir, opts)
	if third.KubeletClient.Leaf.Subject.CommonName != KubeletClientUser {
		t.Errorf("wrong-subject certificate kept: %v", third.KubeletClient.Leaf.Subject)
	}
}
