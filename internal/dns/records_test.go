package dns

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func names(recs *serviceRecords) []string {
	if recs == nil {
		return nil
	}
	var out []string
	for n := range recs.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func TestBuildService(t *testing.T) {
	pg := port{"pg", 5432, corev1.ProtocolTCP}
	v6 := slice("ns", "db", "db-v6", []port{pg}, ep{ip: "fd00::5", host: "DB-0"}, ep{ip: "fd00::6"})
	v6.AddressType = discoveryv1.AddressTypeIPv6
	fqdn := slice("ns", "db", "db-fqdn", []port{pg}, ep{ip: "db.example.com"})
	fqdn.AddressType = discoveryv1.AddressTypeFQDN

	cases := []struct {
		name   string
		svc    *corev1.Service
		slices []*discoveryv1.EndpointSlice
		want   []string
	}{{
		name:   "headless IPv6 with an uppercase hostname, FQDN slices ignored",
		svc:    service("ns", "db", corev1.ClusterIPNone, pg),
		slices: []*discoveryv1.EndpointSlice{v6, fqdn},
		want: []string{"_pg._tcp.db.ns.svc.cluster.local.", "db-0.db.ns.svc.cluster.local.",
			"db.ns.svc.cluster.local.", "fd00--6.db.ns.svc.cluster.local."},
	}, {
		name: "headless without ready endpoints has no name, as CoreDNS",
		svc:  service("ns", "db", corev1.ClusterIPNone, pg),
		slices: []*discoveryv1.EndpointSlice{
			slice("ns", "db", "db-a", []port{pg}, ep{ip: "10.0.0.1", ready: ptrTo(false)})},
	}, {
		name: "ClusterIP without an address yet",
		svc:  service("ns", "web", ""),
	}, {
		name: "ExternalName that is an IP answers nothing",
		svc:  externalName("ns", "ext", "192.0.2.1"),
	}, {
		name: "unnamed port has no _port name",
		svc:  service("ns", "web", "10.96.0.1", port{"", 80, corev1.ProtocolTCP}, port{"dns", 53, corev1.ProtocolUDP}),
		want: []string{"_dns._udp.web.ns.svc.cluster.local.", "web.ns.svc.cluster.local."},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := names(buildService(c.svc, c.slices, zone, 5))
			if !slices.Equal(got, c.want) {
				t.Fatalf("names %q, want %q", got, c.want)
			}
		})
	}
}

func TestBuildServiceDeduplicates(t *testing.T) {
	// During a rebalance one address can sit in two slices.
	pg := port{"pg", 5432, corev1.ProtocolTCP}
	a := slice("ns", "db", "db-a", []port{pg}, ep{ip: "10.0.0.1", host: "db-0"})
	b := slice("ns", "db", "db-b", []port{pg}, ep{ip: "10.0.0.1", host: "db-0"}, ep{ip: "10.0.0.2", host: "db-1"})
	recs := buildService(service("ns", "db", corev1.ClusterIPNone, pg), []*discoveryv1.EndpointSlice{a, b}, zone, 5)
	svc := recs.names["db.ns.svc.cluster.local."]
	if len(svc.a) != 2 {
		t.Fatalf("A records %v, want two addresses", svc.a)
	}
	srv := recs.names["_pg._tcp.db.ns.svc.cluster.local."]
	if len(srv.srv) != 2 || srv.srv[0].(*dns.SRV).Weight != 50 {
		t.Fatalf("SRV %v, want two records of weight 50", srv.srv)
	}
	if ptrs := recs.ptrs["1.0.0.10.in-addr.arpa."]; len(ptrs) != 1 || ptrs[0].rr.Ptr != "db-0.db.ns.svc.cluster.local." {
		t.Fatalf("PTR %v, want one record for db-0", ptrs)
	}
	six := buildService(service("ns", "v6", "fd00::10"), nil, zone, 5)
	if _, ok := six.ptrs["0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."]; !ok {
		t.Fatalf("IPv6 ClusterIP PTR missing: %v", six.ptrs)
	}
}
