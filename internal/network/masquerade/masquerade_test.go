package masquerade

import (
	"context"
	"net/netip"
	"testing"

	"sigs.k8s.io/knftables"
)

func TestInstallAndRemove(t *testing.T) {
	fakes := map[knftables.Family]*knftables.Fake{}
	r := Rules{
		ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("fd00:42::/56")},
		NewNFT: func(fam knftables.Family, table string) (knftables.Interface, error) {
			if fakes[fam] == nil {
				fakes[fam] = knftables.NewFake(fam, table)
			}
			return fakes[fam], nil
		},
	}
	ctx := context.Background()
	for range 2 { // a restarted node writes it again
		if err := r.Install(ctx); err != nil {
			t.Fatal(err)
		}
	}
	v4 := fakes[knftables.IPv4Family].Table.Chains["postrouting"]
	if v4 == nil || len(v4.Rules) != 1 {
		t.Fatalf("ip postrouting = %+v, want one rule", v4)
	}
	if got, want := v4.Rules[0].Rule, "ip saddr 10.42.0.0/16 ip daddr != { 10.42.0.0/16 , 224.0.0.0/4 } masquerade"; got != want {
		t.Errorf("ip rule = %q, want %q", got, want)
	}
	v6 := fakes[knftables.IPv6Family].Table.Chains["postrouting"]
	if v6 == nil || len(v6.Rules) != 1 || v6.Rules[0].Rule != "ip6 saddr fd00:42::/56 ip6 daddr != { fd00:42::/56 , ff00::/8 } masquerade" {
		t.Errorf("ip6 postrouting = %+v", v6)
	}
	if err := r.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if fakes[knftables.IPv4Family].Table != nil {
		t.Error("the ip table is still there after Remove")
	}
	if err := r.Remove(ctx); err != nil {
		t.Errorf("a second Remove: %v", err)
	}
}
