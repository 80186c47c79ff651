package dns

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestForwarding(t *testing.T) {
	up := startUpstream(t)
	e := start(t, Config{Upstreams: []string{up.addr}}, fixture()...)

	wantAnswers(t, e.query("example.org.", dns.TypeA), "example.org. A 192.0.2.1")
	// An upstream NXDOMAIN is passed through.
	wantRcode(t, e.query("nowhere.example.", dns.TypeA), dns.RcodeNameError)
	// A search-list candidate without the cluster domain is not ours: it
	// goes upstream, as with CoreDNS, and fails there.
	wantRcode(t, e.query("web.default.svc.", dns.TypeA), dns.RcodeNameError)
	// Cluster names never leave the server.
	e.query("nope.default.svc.cluster.local.", dns.TypeA)
	// An ExternalName's target outside the zone is resolved upstream.
	wantAnswers(t, e.query("ext.default.svc.cluster.local.", dns.TypeA),
		"ext.default.svc.cluster.local. CNAME example.com.",
		"example.com. A 192.0.2.1")

	want := []string{"udp example.org.", "udp nowhere.example.", "udp web.default.svc.", "udp example.com."}
	if got := up.queries(); !slices.Equal(got, want) {
		t.Fatalf("upstream saw %q, want %q", got, want)
	}
}

func TestForwardingRetriesTruncatedOverTCP(t *testing.T) {
	up := startUpstream(t)
	e := start(t, Config{Upstreams: []string{up.addr}}, fixture()...)
	q := new(dns.Msg).SetQuestion("big.example.", dns.TypeA)
	q.SetEdns0(maxUDPSize, false)
	m := e.exchange("udp", q)
	if m.Truncated || len(m.Answer) != 60 {
		t.Fatalf("truncated=%v answers=%d, want the full 60 fetched over TCP", m.Truncated, len(m.Answer))
	}
	want := []string{"udp big.example.", "tcp big.example."}
	if got := up.queries(); !slices.Equal(got, want) {
		t.Fatalf("upstream saw %q, want %q", got, want)
	}
	// A TCP client is forwarded over TCP directly.
	if m := e.exchange("tcp", new(dns.Msg).SetQuestion("big.example.", dns.TypeA)); len(m.Answer) != 60 {
		t.Fatalf("over TCP: %d answers", len(m.Answer))
	}
	if got := up.queries(); got[len(got)-1] != "tcp big.example." || len(got) != 3 {
		t.Fatalf("upstream saw %q, want one more TCP query", got)
	}
}

func TestForwardingFailsOver(t *testing.T) {
	up := startUpstream(t)
	// The first upstream is a closed port on loopback: refused at once.
	dead, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr()
	dead.Close()
	e := start(t, Config{Upstreams: []string{deadAddr, up.addr}}, fixture()...)
	wantAnswers(t, e.query("example.org.", dns.TypeA), "example.org. A 192.0.2.1")
}

func TestParseResolvConf(t *testing.T) {
	cases := []struct {
		name, conf string
		want       []string
	}{
		{"stub skipped when real ones exist", "nameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver fd00::53\nsearch example\n",
			[]string{"10.0.0.2:53", "[fd00::53]:53"}},
		{"only a stub is kept", "nameserver 127.0.0.53\noptions edns0 trust-ad\n", []string{"127.0.0.53:53"}},
		{"nothing", "# empty\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseResolvConf(strings.NewReader(c.conf))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestUpstreamConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 127.0.0.53\nnameserver 10.1.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	srv, err := New(Config{Informers: f, ResolvConf: path})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Upstreams(); !slices.Equal(got, []string{"10.1.2.3:53"}) {
		t.Fatalf("from resolv.conf: %q", got)
	}
	f = informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	srv, err = New(Config{Informers: f, Upstreams: []string{"10.9.9.9", "[fd00::1]:5353"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Upstreams(); !slices.Equal(got, []string{"10.9.9.9:53", "[fd00::1]:5353"}) {
		t.Fatalf("explicit: %q", got)
	}
	if _, err := New(Config{Informers: informers.NewSharedInformerFactory(fake.NewClientset(), 0), Upstreams: []string{"dns.example"}}); err == nil {
		t.Fatal("a host name upstream was accepted")
	}
}
