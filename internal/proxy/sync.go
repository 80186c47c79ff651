package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"sigs.k8s.io/knftables"
)

// plan collects a sync's operations in the order nft needs them within one
// transaction: objects are created before anything refers to them, and
// deleted only after every rule and element pointing at them is gone.
type plan struct {
	addrType string // of the affinity sets
	create   []op   // new chains and sets
	fill     []op   // chain flushes and their new rules
	elems    []op   // element deletes, then adds (see addElemOps)
	adds     []op
	remove   []op // chain and set deletes
}

type op struct {
	verb string // add, flush, delete
	obj  knftables.Object
}

func (p *plan) emit(tx *knftables.Transaction) {
	for _, list := range [][]op{p.create, p.fill, p.elems, p.adds, p.remove} {
		for _, o := range list {
			switch o.verb {
			case "add":
				tx.Add(o.obj)
			case "flush":
				tx.Flush(o.obj)
			case "delete":
				tx.Delete(o.obj)
			}
		}
	}
}

// diff adds to p what turns old into cur; either may be empty. With full
// set, the shared maps were flushed by addBase, so every element of cur is
// added again, and chains that may already exist in the kernel are flushed
// before being refilled.
func (p *plan) diff(old, cur *objects, full bool) {
	if old == nil {
		old = newObjects()
	}
	if cur == nil {
		cur = newObjects()
	}
	for _, name := range sortedKeys(cur.chains) {
		rules := cur.chains[name]
		prev, existed := old.chains[name]
		if existed && !full && slices.Equal(prev, rules) {
			continue
		}
		if !existed {
			p.create = append(p.create, op{"add", &knftables.Chain{Name: name}})
		}
		p.fill = append(p.fill, op{"flush", &knftables.Chain{Name: name}})
		for _, r := range rules {
			p.fill = append(p.fill, op{"add", &knftables.Rule{Chain: name, Rule: r}})
		}
	}
	for _, name := range sortedKeys(cur.sets) {
		if _, existed := old.sets[name]; !existed || full {
			p.create = append(p.create, op{"add", &knftables.Set{
				Name: name, Type: p.addrType, Flags: []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
				Timeout: knftables.PtrTo(cur.sets[name]),
			}})
		}
	}
	for _, name := range sortedKeys(old.chains) {
		if _, keep := cur.chains[name]; !keep {
			p.removeChain(name)
		}
	}
	for _, name := range sortedKeys(old.sets) {
		if _, keep := cur.sets[name]; !keep {
			p.remove = append(p.remove, op{"delete", &knftables.Set{Name: name}})
		}
	}
	p.diffElems(old, cur, full)
}

func (p *plan) removeChain(name string) {
	p.fill = append(p.fill, op{"flush", &knftables.Chain{Name: name}})
	p.remove = append(p.remove, op{"delete", &knftables.Chain{Name: name}})
}

func (p *plan) diffElems(old, cur *objects, full bool) {
	for _, id := range sortedKeys(old.elems) {
		e := old.elems[id]
		n, keep := cur.elems[id]
		if full || (keep && slices.Equal(n.value, e.value)) {
			continue
		}
		// A map element's value cannot be replaced by "add"; delete it and
		// add the new one in the same transaction, so there is no gap.
		p.elems = append(p.elems, op{"delete", toElement(e, false)})
	}
	for _, id := range sortedKeys(cur.elems) {
		e := cur.elems[id]
		o, existed := old.elems[id]
		if existed && !full && slices.Equal(o.value, e.value) {
			continue
		}
		p.adds = append(p.adds, op{"add", toElement(e, true)})
	}
}

func toElement(e element, withValue bool) *knftables.Element {
	el := &knftables.Element{Key: e.key}
	if e.isMap {
		el.Map = e.container
		if withValue {
			el.Value = e.value
		}
	} else {
		el.Set = e.container
	}
	return el
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// familyTable is the proxy's table for one IP family and what it last
// wrote there.
type familyTable struct {
	gen          generator
	nft          knftables.Interface
	serviceCIDRs []netip.Prefix
	nodePortIPs  []netip.Addr
	// applied is what the kernel holds per Service ("ns/name"), as of the
	// last successful transaction. Only the sync loop touches it.
	applied map[string]*objects
}

// sync writes desired (objects per Service key; nil means the Service is
// gone) into the table. A full sync rewrites everything and deletes what
// no Service owns any more, including leftovers of an earlier run; a
// partial one touches only the keys in desired. It returns the UDP flows
// the change made stale.
func (t *familyTable) sync(ctx context.Context, desired map[string]*objects, full bool) ([]flowFilter, error) {
	tx := t.nft.NewTransaction()
	p := &plan{addrType: t.gen.fam.addrType}
	if full {
		t.gen.addBase(tx, t.serviceCIDRs, t.nodePortIPs)
		if err := t.removeStale(ctx, p, desired); err != nil {
			return nil, err
		}
		for _, key := range sortedKeys(desired) {
			p.diff(nil, desired[key], true)
		}
	} else {
		for _, key := range sortedKeys(desired) {
			p.diff(t.applied[key], desired[key], false)
		}
	}
	p.emit(tx)
	if tx.NumOperations() == 0 {
		return nil, nil
	}
	if err := t.nft.Run(ctx, tx); err != nil {
		return nil, fmt.Errorf("applying %d nftables operations to %s table: %w", tx.NumOperations(), t.gen.fam.nft, err)
	}
	var flows []flowFilter
	for key, o := range t.applied {
		if _, synced := desired[key]; !synced && full {
			flows = append(flows, staleFlows(o, nil)...)
		}
	}
	for key, o := range desired {
		flows = append(flows, staleFlows(t.applied[key], o)...)
	}
	if full {
		t.applied = map[string]*objects{}
	}
	for key, o := range desired {
		if o == nil || (len(o.chains) == 0 && len(o.elems) == 0) {
			delete(t.applied, key)
			continue
		}
		t.applied[key] = o
	}
	return flows, nil
}

// removeStale deletes chains and sets the kernel has but no Service owns:
// what a previous run left behind, or what a failed partial sync lost
// track of.
func (t *familyTable) removeStale(ctx context.Context, p *plan, desired map[string]*objects) error {
	want := map[string]bool{}
	for _, o := range desired {
		if o == nil {
			continue
		}
		for n := range o.chains {
			want[n] = true
		}
		for n := range o.sets {
			want[n] = true
		}
	}
	chains, err := t.nft.List(ctx, "chains")
	if err != nil && !knftables.IsNotFound(err) {
		return fmt.Errorf("listing chains: %w", err)
	}
	for _, c := range chains {
		if !want[c] && !isBaseObject(c) {
			p.removeChain(c)
		}
	}
	sets, err := t.nft.List(ctx, "sets")
	if err != nil && !knftables.IsNotFound(err) {
		return fmt.Errorf("listing sets: %w", err)
	}
	for _, s := range sets {
		if !want[s] && !isBaseObject(s) {
			p.remove = append(p.remove, op{"delete", &knftables.Set{Name: s}})
		}
	}
	return nil
}

// deleteTable removes the whole table: everything the proxy ever wrote.
func (t *familyTable) deleteTable(ctx context.Context) error {
	tx := t.nft.NewTransaction()
	tx.Delete(&knftables.Table{})
	if err := t.nft.Run(ctx, tx); err != nil && !knftables.IsNotFound(err) {
		return fmt.Errorf("deleting %s table: %w", t.gen.fam.nft, err)
	}
	return nil
}
