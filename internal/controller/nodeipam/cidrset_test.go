package nodeipam

import (
	"errors"
	"net/netip"
	"testing"
)

func mustSet(t *testing.T, cidr string, mask int) *cidrSet {
	t.Helper()
	s, err := newCIDRSet(netip.MustParsePrefix(cidr), mask)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCIDRSetAllocatesInOrderAndWrapsPastReleased(t *testing.T) {
	s := mustSet(t, "10.42.0.0/22", 24) // 4 subnets
	var got []string
	for range 4 {
		p, err := s.allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.String())
	}
	want := []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocation %d = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := s.allocate(); !errors.Is(err, errCIDRRangeFull) {
		t.Fatalf("allocate on a full set: err = %v, want errCIDRRangeFull", err)
	}
	if err := s.release(netip.MustParsePrefix("10.42.1.0/24")); err != nil {
		t.Fatal(err)
	}
	p, err := s.allocate()
	if err != nil || p.String() != "10.42.1.0/24" {
		t.Fatalf("after release: got %v, %v; want 10.42.1.0/24", p, err)
	}
}

func TestCIDRSetOccupyIsRespectedByAllocate(t *testing.T) {
	s := mustSet(t, "10.42.0.0/16", 24)
	// A /23 set by hand covers two node subnets; a /25 covers its /24.
	for _, c := range []string{"10.42.0.0/23", "10.42.2.128/25"} {
		if err := s.occupy(netip.MustParsePrefix(c)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.allocate()
	if err != nil || p.String() != "10.42.3.0/24" {
		t.Fatalf("got %v, %v; want 10.42.3.0/24", p, err)
	}
	if s.free != 256-4 {
		t.Fatalf("free = %d, want 252", s.free)
	}
	if err := s.occupy(netip.MustParsePrefix("10.99.0.0/24")); err == nil {
		t.Fatal("occupying a CIDR outside the cluster CIDR succeeded")
	}
}

func TestCIDRSetIPv6Subnets(t *testing.T) {
	s := mustSet(t, "fd00:42::/56", 64)
	s.next = 0x1f
	p, err := s.allocate()
	if err != nil || p.String() != "fd00:42:0:1f::/64" {
		t.Fatalf("got %v, %v; want fd00:42:0:1f::/64", p, err)
	}
	if i := s.index(netip.MustParseAddr("fd00:42:0:1f::5")); i != 0x1f {
		t.Fatalf("index = %#x, want 0x1f", i)
	}
}

func TestNewCIDRSetRejectsBadMasks(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		mask int
	}{
		{"10.42.0.0/16", 8},  // node subnet larger than the cluster
		{"10.42.0.0/16", 33}, // longer than an address
		{"10.0.0.0/8", 25},   // 2^17 subnets
	} {
		if _, err := newCIDRSet(netip.MustParsePrefix(tc.cidr), tc.mask); err == nil {
			t.Errorf("newCIDRSet(%s, /%d) succeeded", tc.cidr, tc.mask)
		}
	}
}

func TestParseClusterCIDRs(t *testing.T) {
	got, err := ParseClusterCIDRs("")
	if err != nil || len(got) != 1 || got[0].String() != DefaultClusterCIDR {
		t.Fatalf("default: %v, %v", got, err)
	}
	got, err = ParseClusterCIDRs("10.42.0.0/16, fd00:42::/56")
	if err != nil || len(got) != 2 {
		t.Fatalf("dual stack: %v, %v", got, err)
	}
	for _, bad := range []string{"10.42.0.0/16,10.43.0.0/16", "nope", "10.42.0.0/16,fd00::/56,fd01::/56"} {
		if _, err := ParseClusterCIDRs(bad); err == nil {
			t.Errorf("ParseClusterCIDRs(%q) succeeded", bad)
		}
	}
}
