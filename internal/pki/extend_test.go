package pki

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"
)

// A data dir created before the kubernetes Service existed has a serving
// certificate without its ClusterIP; the next start must reissue it.
func TestEnsureReissuesServingForServiceIP(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(time.Now())
	opts.ServiceIP = nil
	old := mustEnsure(t, dir, opts)
	if old.Serving.Leaf.VerifyHostname("10.43.0.1") == nil {
		t.Fatal("setup: certificate already covers 10.43.0.1")
	}
	opts.ServiceIP = net.ParseIP("10.43.0.1")
	b := mustEnsure(t, dir, opts)
	for _, name := range []string{"10.43.0.1", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} {
		if err := b.Serving.Leaf.VerifyHostname(name); err != nil {
			t.Error(err)
		}
	}
}

func TestAddServingIPs(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(time.Now())
	b := mustEnsure(t, dir, opts)

	// Covered already: the same certificate comes back.
	same, err := b.AddServingIPs(net.ParseIP("10.43.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(same.Leaf.Raw, b.Serving.Leaf.Raw) {
		t.Error("reissued although the address was covered")
	}

	gw, err := b.AddServingIPs(net.ParseIP("192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(gw.Leaf.Raw, b.Serving.Leaf.Raw) {
		t.Fatal("not reissued for a new address")
	}
	for _, name := range []string{"192.0.2.1", "10.43.0.1", "127.0.0.1", "localhost", "kubernetes.default.svc"} {
		if err := gw.Leaf.VerifyHostname(name); err != nil {
			t.Error(err)
		}
	}
	onDisk, err := tls.LoadX509KeyPair(b.Paths.ServingCert, b.Paths.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk.Leaf.Raw, gw.Leaf.Raw) {
		t.Error("reissued certificate not written")
	}

	// A second new address keeps the first.
	both, err := b.AddServingIPs(net.ParseIP("192.0.2.2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"192.0.2.1", "192.0.2.2"} {
		if err := both.Leaf.VerifyHostname(name); err != nil {
			t.Error(err)
		}
	}

	// A restart with Ensure's options alone keeps the wider certificate.
	again := mustEnsure(t, dir, opts)
	if !bytes.Equal(again.Serving.Leaf.Raw, both.Leaf.Raw) {
		t.Error("restart reissued a certificate that covers more than asked")
	}
}

func TestAddServingIPsConcurrent(t *testing.T) {
	b := mustEnsure(t, t.TempDir(), testOptions(time.Now()))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.AddServingIPs(net.IPv4(192, 0, 2, byte(10+i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	last, err := b.AddServingIPs()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := last.Leaf.VerifyHostname(net.IPv4(192, 0, 2, byte(10+i)).String()); err != nil {
			t.Error(err)
		}
	}
}
