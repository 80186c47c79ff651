// Package masquerade gives pods a way out of the node: connections from
// the cluster's pod range to anywhere outside it leave with the node's
// address (SNAT by masquerade), which the CNI bridge plugin's ipMasq does
// with an iptables chain per pod. One nftables table for the whole range
// does the same with nothing to add or remove per pod: pod start-up needs
// no iptables call, and a pod whose network was never torn down (its
// node killed) leaves no rule behind.
//
// It owns the nftables table Table in the ip and ip6 families and nothing
// else; Remove deletes it. Service traffic is not its business: the
// service proxy masquerades what its rules need (internal/proxy).
package masquerade

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"sigs.k8s.io/knftables"
)

// Table is the nftables table's name.
const Table = "skiff-node"

// Rules are the masquerade rules for the pod ranges.
type Rules struct {
	// ClusterCIDRs are the cluster's pod ranges.
	ClusterCIDRs []netip.Prefix
	// NewNFT opens the table for a family; nil means knftables.New.
	// Tests pass a knftables.Fake.
	NewNFT func(knftables.Family, string) (knftables.Interface, error)
}

func (r Rules) open(fam knftables.Family) (knftables.Interface, error) {
	if r.NewNFT != nil {
		return r.NewNFT(fam, Table)
	}
	return knftables.New(fam, Table)
}

// families groups the ranges by IP family.
func (r Rules) families() map[knftables.Family][]netip.Prefix {
	out := map[knftables.Family][]netip.Prefix{}
	for _, p := range r.ClusterCIDRs {
		fam := knftables.IPv4Family
		if p.Addr().Is6() {
			fam = knftables.IPv6Family
		}
		out[fam] = append(out[fam], p.Masked())
	}
	return out
}

// Install writes (or rewrites) the table: traffic from a pod range to an
// address outside every pod range, other than multicast, is masqueraded
// after routing.
func (r Rules) Install(ctx context.Context) error {
	for fam, prefixes := range r.families() {
		nft, err := r.open(fam)
		if err != nil {
			return fmt.Errorf("masquerade: %s: %w", fam, err)
		}
		ipKw, multicast := "ip", "224.0.0.0/4"
		if fam == knftables.IPv6Family {
			ipKw, multicast = "ip6", "ff00::/8"
		}
		tx := nft.NewTransaction()
		tx.Add(&knftables.Table{Comment: knftables.PtrTo("skiff pod egress masquerade")})
		tx.Flush(&knftables.Table{})
		tx.Add(&knftables.Chain{Name: "postrouting", Type: knftables.PtrTo(knftables.NATType),
			Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority)})
		for _, p := range prefixes {
			tx.Add(&knftables.Rule{Chain: "postrouting", Rule: knftables.Concat(
				ipKw, "saddr", p.String(), ipKw, "daddr", "!=", "{", setOf(prefixes), ",", multicast, "}", "masquerade")})
		}
		if err := nft.Run(ctx, tx); err != nil {
			return fmt.Errorf("masquerade: writing the %s table: %w", fam, err)
		}
	}
	return nil
}

func setOf(prefixes []netip.Prefix) string {
	s := ""
	for i, p := range prefixes {
		if i > 0 {
			s += ", "
		}
		s += p.String()
	}
	return s
}

// Remove deletes the table; a table already gone is not an error.
func (r Rules) Remove(ctx context.Context) error {
	var errs []error
	for fam := range r.families() {
		nft, err := r.open(fam)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tx := nft.NewTransaction()
		tx.Delete(&knftables.Table{})
		if err := nft.Run(ctx, tx); err != nil && !knftables.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("masquerade: deleting the %s table: %w", fam, err))
		}
	}
	return errors.Join(errs...)
}
