package dns

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// answers renders the answer section as "name type data", sorted.
func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		h := rr.Header()
		data := strings.TrimPrefix(rr.String(), h.String())
		out = append(out, h.Name+" "+dns.TypeToString[h.Rrtype]+" "+data)
	}
	slices.Sort(out)
	return out
}

func wantRcode(t *testing.T, m *dns.Msg, rcode int) {
	t.Helper()
	if m.Rcode != rcode {
		t.Fatalf("rcode %s, want %s: %v", dns.RcodeToString[m.Rcode], dns.RcodeToString[rcode], m)
	}
}

func wantAnswers(t *testing.T, m *dns.Msg, want ...string) {
	t.Helper()
	wantRcode(t, m, dns.RcodeSuccess)
	slices.Sort(want)
	if got := answers(m); !slices.Equal(got, want) {
		t.Fatalf("answers:\n got %q\nwant %q", got, want)
	}
}

// wantNegative checks an NXDOMAIN or NODATA reply: no answer and the zone's
// SOA in the authority section, with the 5s negative TTL.
func wantNegative(t *testing.T, m *dns.Msg, rcode int) {
	t.Helper()
	wantRcode(t, m, rcode)
	if len(m.Answer) != 0 {
		t.Fatalf("unexpected answers %v", m.Answer)
	}
	if len(m.Ns) != 1 {
		t.Fatalf("authority %v, want the SOA", m.Ns)
	}
	soa, ok := m.Ns[0].(*dns.SOA)
	if !ok || soa.Hdr.Name != zone || soa.Minttl != DefaultTTL || soa.Ns != "ns.dns."+zone {
		t.Fatalf("authority %v, want SOA of %s with minimum %d", m.Ns[0], zone, DefaultTTL)
	}
	if !m.Authoritative {
		t.Fatal("negative answer not authoritative")
	}
}

func TestClusterIPService(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	m := e.query("web.default.svc.cluster.local.", dns.TypeA)
	wantAnswers(t, m, "web.default.svc.cluster.local. A 10.96.0.10")
	if !m.Authoritative || m.Answer[0].Header().Ttl != DefaultTTL {
		t.Fatalf("want an authoritative answer with TTL %d: %v", DefaultTTL, m)
	}
	// IPv4-only: the name exists, so AAAA is NODATA, not NXDOMAIN.
	wantNegative(t, e.query("web.default.svc.cluster.local.", dns.TypeAAAA), dns.RcodeSuccess)
	wantNegative(t, e.query("web.default.svc.cluster.local.", dns.TypeMX), dns.RcodeSuccess)
	// Names are case-insensitive and answered in the case asked.
	wantAnswers(t, e.query("Web.Default.SVC.cluster.local.", dns.TypeA), "Web.Default.SVC.cluster.local. A 10.96.0.10")
	// CoreDNS also names a ClusterIP Service's endpoints.
	wantAnswers(t, e.query("10-244-1-1.web.default.svc.cluster.local.", dns.TypeA),
		"10-244-1-1.web.default.svc.cluster.local. A 10.244.1.1")
}

func TestDualStackService(t *testing.T) {
	svc := service("default", "dual", "10.96.0.11", port{"http", 80, corev1.ProtocolTCP})
	svc.Spec.ClusterIPs = []string{"10.96.0.11", "fd00::11"}
	e := start(t, Config{}, ns("default"), svc)
	wantAnswers(t, e.query("dual.default.svc.cluster.local.", dns.TypeA), "dual.default.svc.cluster.local. A 10.96.0.11")
	wantAnswers(t, e.query("dual.default.svc.cluster.local.", dns.TypeAAAA), "dual.default.svc.cluster.local. AAAA fd00::11")
}

func TestHeadlessService(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	// Ready and unknown-readiness endpoints from both slices; db-2 is not
	// ready and is left out.
	wantAnswers(t, e.query("db.default.svc.cluster.local.", dns.TypeA),
		"db.default.svc.cluster.local. A 10.244.0.5",
		"db.default.svc.cluster.local. A 10.244.0.6",
		"db.default.svc.cluster.local. A 10.244.0.8")
}

func TestStatefulSetPodNames(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	wantAnswers(t, e.query("db-0.db.default.svc.cluster.local.", dns.TypeA), "db-0.db.default.svc.cluster.local. A 10.244.0.5")
	wantAnswers(t, e.query("db-1.db.default.svc.cluster.local.", dns.TypeA), "db-1.db.default.svc.cluster.local. A 10.244.0.6")
	// Without a hostname the endpoint is named by its dashed address.
	wantAnswers(t, e.query("10-244-0-8.db.default.svc.cluster.local.", dns.TypeA), "10-244-0-8.db.default.svc.cluster.local. A 10.244.0.8")
	wantNegative(t, e.query("db-2.db.default.svc.cluster.local.", dns.TypeA), dns.RcodeNameError)
}

func TestSRV(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	m := e.query("_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV)
	wantAnswers(t, m, "_http._tcp.web.default.svc.cluster.local. SRV 0 100 80 web.default.svc.cluster.local.")
	if len(m.Extra) != 1 || m.Extra[0].String() != mustRR("web.default.svc.cluster.local. 5 IN A 10.96.0.10").String() {
		t.Fatalf("additional section %v, want the service address", m.Extra)
	}
	// Headless: one record per ready endpoint with the slice's port, the
	// weight split evenly as CoreDNS does.
	m = e.query("_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV)
	wantAnswers(t, m,
		"_pg._tcp.db.default.svc.cluster.local. SRV 0 33 5432 db-0.db.default.svc.cluster.local.",
		"_pg._tcp.db.default.svc.cluster.local. SRV 0 33 5432 db-1.db.default.svc.cluster.local.",
		"_pg._tcp.db.default.svc.cluster.local. SRV 0 33 5432 10-244-0-8.db.default.svc.cluster.local.")
	if len(m.Extra) != 3 {
		t.Fatalf("additional section %v, want the three endpoint addresses", m.Extra)
	}
	// The wrong protocol or an unnamed port has no SRV name.
	wantNegative(t, e.query("_http._udp.web.default.svc.cluster.local.", dns.TypeSRV), dns.RcodeNameError)
	// An endpoint's own name lists its ports.
	wantAnswers(t, e.query("db-0.db.default.svc.cluster.local.", dns.TypeSRV),
		"db-0.db.default.svc.cluster.local. SRV 0 100 5432 db-0.db.default.svc.cluster.local.")
	// SRV on the Service name lists every port, named or not.
	wantAnswers(t, e.query("web.default.svc.cluster.local.", dns.TypeSRV),
		"web.default.svc.cluster.local. SRV 0 50 80 web.default.svc.cluster.local.",
		"web.default.svc.cluster.local. SRV 0 50 8080 web.default.svc.cluster.local.")
}

func TestPTR(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	wantAnswers(t, e.query("10.0.96.10.in-addr.arpa.", dns.TypePTR), "10.0.96.10.in-addr.arpa. PTR web.default.svc.cluster.local.")
	wantAnswers(t, e.query("5.0.244.10.in-addr.arpa.", dns.TypePTR), "5.0.244.10.in-addr.arpa. PTR db-0.db.default.svc.cluster.local.")
	wantAnswers(t, e.query("8.0.244.10.in-addr.arpa.", dns.TypePTR), "8.0.244.10.in-addr.arpa. PTR 10-244-0-8.db.default.svc.cluster.local.")
	// An unknown address goes upstream; with none configured that is SERVFAIL.
	wantRcode(t, e.query("7.0.244.10.in-addr.arpa.", dns.TypePTR), dns.RcodeServerFailure)
}

func TestExternalName(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	wantAnswers(t, e.query("ext.default.svc.cluster.local.", dns.TypeCNAME), "ext.default.svc.cluster.local. CNAME example.com.")
	// No upstream here: the CNAME alone, for the client to follow.
	wantAnswers(t, e.query("ext.default.svc.cluster.local.", dns.TypeA), "ext.default.svc.cluster.local. CNAME example.com.")
	// A target inside the zone is followed locally.
	wantAnswers(t, e.query("alias.default.svc.cluster.local.", dns.TypeA),
		"alias.default.svc.cluster.local. CNAME web.default.svc.cluster.local.",
		"web.default.svc.cluster.local. A 10.96.0.10")
}

func TestNegativeAnswers(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	wantNegative(t, e.query("nope.default.svc.cluster.local.", dns.TypeA), dns.RcodeNameError)
	wantNegative(t, e.query("web.missing.svc.cluster.local.", dns.TypeA), dns.RcodeNameError)
	wantNegative(t, e.query("x.y.web.default.svc.cluster.local.", dns.TypeA), dns.RcodeNameError)
	wantNegative(t, e.query("foo.cluster.local.", dns.TypeA), dns.RcodeNameError)
	// Existing namespaces and the zone's structural names are NODATA.
	wantNegative(t, e.query("default.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess)
	wantNegative(t, e.query("missing.svc.cluster.local.", dns.TypeA), dns.RcodeNameError)
	wantNegative(t, e.query("svc.cluster.local.", dns.TypeA), dns.RcodeSuccess)
	wantNegative(t, e.query("cluster.local.", dns.TypeA), dns.RcodeSuccess)

	soa := e.query("cluster.local.", dns.TypeSOA)
	if wantRcode(t, soa, dns.RcodeSuccess); len(soa.Answer) != 1 || soa.Answer[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("apex SOA: %v", soa)
	}
	wantAnswers(t, e.query("dns-version.cluster.local.", dns.TypeTXT), `dns-version.cluster.local. TXT "1.1.0"`)
}

func TestApexNS(t *testing.T) {
	e := start(t, Config{NameserverIPs: []string{"10.96.0.10"}}, fixture()...)
	m := e.query("cluster.local.", dns.TypeNS)
	wantAnswers(t, m, "cluster.local. NS ns.dns.cluster.local.")
	if len(m.Extra) != 1 || m.Extra[0].(*dns.A).A.String() != "10.96.0.10" {
		t.Fatalf("additional section %v, want the nameserver address", m.Extra)
	}
	wantAnswers(t, e.query("ns.dns.cluster.local.", dns.TypeA), "ns.dns.cluster.local. A 10.96.0.10")
}

func TestPodRecords(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	wantAnswers(t, e.query("10-244-0-9.default.pod.cluster.local.", dns.TypeA), "10-244-0-9.default.pod.cluster.local. A 10.244.0.9")
	wantAnswers(t, e.query("fd00--9.other.pod.cluster.local.", dns.TypeAAAA), "fd00--9.other.pod.cluster.local. AAAA fd00::9")
	wantNegative(t, e.query("10-244-0-9.default.pod.cluster.local.", dns.TypeAAAA), dns.RcodeSuccess)
	wantNegative(t, e.query("not-an-ip.default.pod.cluster.local.", dns.TypeA), dns.RcodeNameError)
	wantNegative(t, e.query("10-244-0-9.missing.pod.cluster.local.", dns.TypeA), dns.RcodeNameError)
}

func TestCustomDomain(t *testing.T) {
	e := start(t, Config{Domain: "Example.Internal."}, fixture()...)
	wantAnswers(t, e.query("web.default.svc.example.internal.", dns.TypeA), "web.default.svc.example.internal. A 10.96.0.10")
	if e.srv.Domain() != "example.internal" {
		t.Fatalf("Domain() = %q", e.srv.Domain())
	}
}

func TestTCP(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	m := e.exchange("tcp", new(dns.Msg).SetQuestion("db.default.svc.cluster.local.", dns.TypeA))
	if len(m.Answer) != 3 {
		t.Fatalf("over TCP: %v", m)
	}
}

func TestTruncation(t *testing.T) {
	var eps []ep
	for i := range 200 {
		eps = append(eps, ep{ip: "10.244.0." + strconv.Itoa(i+1)})
	}
	e := start(t, Config{}, ns("default"), service("default", "big", corev1.ClusterIPNone),
		slice("default", "big", "big-a", nil, eps...))
	name := "big.default.svc.cluster.local."

	plain := e.query(name, dns.TypeA)
	// Len measures the packed size only if compression is on, as sent.
	plain.Compress = true
	if !plain.Truncated || plain.Len() > dns.MinMsgSize {
		t.Fatalf("no EDNS0: truncated=%v len=%d, want TC within 512 bytes", plain.Truncated, plain.Len())
	}
	edns := new(dns.Msg).SetQuestion(name, dns.TypeA)
	edns.SetEdns0(4096, false)
	r := e.exchange("udp", edns)
	r.Compress = true
	if !r.Truncated || r.Len() > maxUDPSize || len(r.Answer) <= len(plain.Answer) {
		t.Fatalf("EDNS0 4096: truncated=%v len=%d answers=%d, want more than without EDNS0 and capped at %d bytes",
			r.Truncated, r.Len(), len(r.Answer), maxUDPSize)
	}
	if r.IsEdns0() == nil {
		t.Fatal("EDNS0 query answered without OPT")
	}
	full := e.exchange("tcp", new(dns.Msg).SetQuestion(name, dns.TypeA))
	if full.Truncated || len(full.Answer) != 200 {
		t.Fatalf("TCP: truncated=%v answers=%d, want all 200", full.Truncated, len(full.Answer))
	}
}

func TestNotReadyIsServfail(t *testing.T) {
	// Informers never started: the table is incomplete, so an unknown
	// name must not be reported as NXDOMAIN.
	client := fake.NewClientset()
	srv, err := New(Config{Informers: informers.NewSharedInformerFactory(client, 0), ResolvConf: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Ready() {
		t.Fatal("ready before the informers synced")
	}
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(quietContext())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListeners(ctx, l) }()
	defer func() { cancel(); <-done }()
	e := &env{t: t, addr: l.Addr()}
	wantRcode(t, e.query("web.default.svc.cluster.local.", dns.TypeA), dns.RcodeServerFailure)
}

func TestUpdates(t *testing.T) {
	e := start(t, Config{}, fixture()...)
	ctx := context.Background()
	name := "web.default.svc.cluster.local."
	wantAnswers(t, e.query(name, dns.TypeA), name+" A 10.96.0.10")

	if err := e.client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted service to be NXDOMAIN", func() bool { return e.query(name, dns.TypeA).Rcode == dns.RcodeNameError })
	wantNegative(t, e.query(name, dns.TypeA), dns.RcodeNameError)
	// The PTR went with it: the address is now the upstreams' (none here).
	wantRcode(t, e.query("10.0.96.10.in-addr.arpa.", dns.TypePTR), dns.RcodeServerFailure)

	// A new endpoint in the headless Service appears under its name.
	sl := slice("default", "db", "db-b", []port{{"pg", 5432, corev1.ProtocolTCP}},
		ep{ip: "10.244.0.8"}, ep{ip: "10.244.0.9", host: "db-3"})
	if _, err := e.client.DiscoveryV1().EndpointSlices("default").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	db3 := "db-3.db.default.svc.cluster.local."
	eventually(t, "new endpoint to resolve", func() bool { return e.query(db3, dns.TypeA).Rcode == dns.RcodeSuccess })
	wantAnswers(t, e.query(db3, dns.TypeA), db3+" A 10.244.0.9")
	if got := len(e.query("db.default.svc.cluster.local.", dns.TypeA).Answer); got != 4 {
		t.Fatalf("headless service has %d addresses after the update, want 4", got)
	}

	// A Service created later resolves.
	if _, err := e.client.CoreV1().Services("other").Create(ctx, service("other", "late", "10.96.0.99"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	late := "late.other.svc.cluster.local."
	eventually(t, "new service to resolve", func() bool { return e.query(late, dns.TypeA).Rcode == dns.RcodeSuccess })
	wantAnswers(t, e.query(late, dns.TypeA), late+" A 10.96.0.99")
}

func TestConcurrentQueriesShareRecords(t *testing.T) {
	// Replies share prebuilt record slices; EDNS0 replies append an OPT to
	// the additional section, which must never land in the shared slice.
	e := start(t, Config{}, fixture()...)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			c := &dns.Client{Net: "udp"}
			for range 25 {
				q := new(dns.Msg).SetQuestion("_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV)
				q.SetEdns0(1232, false)
				r, _, err := c.Exchange(q, e.addr)
				if err != nil || len(r.Answer) != 3 || len(r.Extra) != 4 {
					errs <- fmt.Sprintf("reply %v: %v", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestServeClosesOnCancel(t *testing.T) {
	srv, err := New(Config{Informers: informers.NewSharedInformerFactory(fake.NewClientset(), 0), ResolvConf: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(quietContext(), "127.0.0.1:99999"); err == nil {
		t.Fatal("Serve on an invalid address succeeded")
	}
	// Serve binds the address itself; find a free one, then serve on it.
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	l.Close()
	ctx, cancel := context.WithCancel(quietContext())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, addr) }()
	e := &env{t: t, addr: addr}
	eventually(t, "server to answer", func() bool {
		c := &dns.Client{Net: "tcp"}
		_, _, err := c.Exchange(new(dns.Msg).SetQuestion("cluster.local.", dns.TypeSOA), addr)
		return err == nil
	})
	wantRcode(t, e.query("cluster.local.", dns.TypeSOA), dns.RcodeSuccess)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after cancel", err)
	}
	// The listeners are closed: the port can be bound again.
	again, err := Listen(addr)
	if err != nil {
		t.Fatalf("address still in use after Serve returned: %v", err)
	}
	again.Close()
}
