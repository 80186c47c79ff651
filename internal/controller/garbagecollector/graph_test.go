package garbagecollector

import (
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var now = metav1.Now()

// obj is an object as an informer would show it.
type obj struct {
	id         objectRef
	owners     []metav1.OwnerReference
	finalizers []string
	deleting   bool
}

func cm(ns, name string, uid types.UID) objectRef {
	return objectRef{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: name, UID: uid}
}

func (o obj) meta() metav1.Object {
	m := &metav1.ObjectMeta{Namespace: o.id.Namespace, Name: o.id.Name, UID: o.id.UID, OwnerReferences: o.owners, Finalizers: o.finalizers}
	if o.deleting {
		m.DeletionTimestamp = &now
	}
	return m
}

func owns(o objectRef, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, BlockOwnerDeletion: &block}
}

func add(g *graph, o obj) work { return g.apply(event{identity: o.id, obj: o.meta()}) }
func update(g *graph, old, o obj) work {
	return g.apply(event{identity: o.id, obj: o.meta(), old: old.meta()})
}

func sorted(uids []types.UID) []types.UID {
	out := slices.Clone(uids)
	slices.Sort(out)
	return slices.Compact(out)
}

func dependentsOf(g *graph, uid types.UID) []types.UID {
	v, _ := g.view(uid)
	var out []types.UID
	for _, d := range v.dependents {
		out = append(out, d.identity.UID)
	}
	return out
}

func TestGraphBuildsFromOwnerReferences(t *testing.T) {
	g := newGraph(newAbsentOwners())
	owner := cm("ns", "owner", "o")
	// The dependent arrives first: its owner becomes a virtual node, queued
	// to be checked against the API server.
	w := add(g, obj{id: cm("ns", "dep", "d"), owners: []metav1.OwnerReference{owns(owner, true)}})
	if !slices.Equal(w.attemptToDelete, []types.UID{"o"}) {
		t.Fatalf("adding a dependent of an unseen owner queued %v, want [o]", w.attemptToDelete)
	}
	if found, observed := g.has("o"); !found || observed {
		t.Fatalf("owner node: found=%v observed=%v, want a virtual node", found, observed)
	}
	// The owner is observed: same node, now real, nothing to do.
	if w := add(g, obj{id: owner}); len(w.attemptToDelete) != 0 {
		t.Fatalf("observing the owner queued %v", w.attemptToDelete)
	}
	if _, observed := g.has("o"); !observed {
		t.Fatal("owner still virtual after being observed")
	}
	add(g, obj{id: cm("ns", "dep2", "d2"), owners: []metav1.OwnerReference{owns(owner, false)}})
	if got := dependentsOf(g, "o"); !slices.Equal(got, []types.UID{"d", "d2"}) {
		t.Fatalf("dependents = %v", got)
	}
	v, _ := g.view("o")
	if !v.dependents[0].blocking || v.dependents[1].blocking {
		t.Fatalf("blocking flags = %+v", v.dependents)
	}

	// d2 drops its reference: it leaves the owner's dependents.
	update(g, obj{id: cm("ns", "dep2", "d2"), owners: []metav1.OwnerReference{owns(owner, false)}}, obj{id: cm("ns", "dep2", "d2")})
	if got := dependentsOf(g, "o"); !slices.Equal(got, []types.UID{"d"}) {
		t.Fatalf("after removing a reference, dependents = %v", got)
	}

	// The owner is deleted: its dependents are queued and it is recorded
	// as absent for their lookups.
	w = g.apply(event{deleted: true, identity: owner})
	if !slices.Equal(w.attemptToDelete, []types.UID{"d"}) {
		t.Fatalf("deleting the owner queued %v, want [d]", w.attemptToDelete)
	}
	if found, _ := g.has("o"); found {
		t.Fatal("deleted owner still in the graph")
	}
	if !g.absent.has(owner) {
		t.Fatal("deleted owner not recorded as absent")
	}
}

func TestGraphForegroundTransition(t *testing.T) {
	g := newGraph(newAbsentOwners())
	owner := obj{id: cm("ns", "owner", "o")}
	add(g, owner)
	add(g, obj{id: cm("ns", "a", "a"), owners: []metav1.OwnerReference{owns(owner.id, true)}})
	add(g, obj{id: cm("ns", "b", "b"), owners: []metav1.OwnerReference{owns(owner.id, false)}})

	deleting := obj{id: owner.id, deleting: true, finalizers: []string{metav1.FinalizerDeleteDependents}}
	w := update(g, owner, deleting)
	if got := sorted(w.attemptToDelete); !slices.Equal(got, []types.UID{"a", "b", "o"}) {
		t.Fatalf("foreground start queued %v, want every dependent and the owner", got)
	}
	if v, _ := g.view("o"); !v.deletingDependents || !v.beingDeleted {
		t.Fatalf("owner view %+v", v)
	}
	// The same state again (a relist) starts nothing new.
	if w := update(g, deleting, deleting); len(w.attemptToDelete) != 0 {
		t.Fatalf("repeated foreground state queued %v", w.attemptToDelete)
	}
	// A blocking dependent stops blocking: the owner may be done.
	w = update(g, obj{id: cm("ns", "a", "a"), owners: []metav1.OwnerReference{owns(owner.id, true)}},
		obj{id: cm("ns", "a", "a"), owners: []metav1.OwnerReference{owns(owner.id, false)}})
	if !slices.Equal(w.attemptToDelete, []types.UID{"o"}) {
		t.Fatalf("unblocking queued %v, want [o]", w.attemptToDelete)
	}
	// A dependent goes: the waiting owner is queued again.
	w = g.apply(event{deleted: true, identity: cm("ns", "b", "b")})
	if !slices.Equal(w.attemptToDelete, []types.UID{"o"}) {
		t.Fatalf("dependent deletion queued %v, want [o]", w.attemptToDelete)
	}
}

func TestGraphOrphanTransition(t *testing.T) {
	g := newGraph(newAbsentOwners())
	owner := obj{id: cm("ns", "owner", "o")}
	add(g, owner)
	orphaning := obj{id: owner.id, deleting: true, finalizers: []string{metav1.FinalizerOrphanDependents}}
	w := update(g, owner, orphaning)
	if !slices.Equal(w.attemptToOrphan, []types.UID{"o"}) || len(w.attemptToDelete) != 0 {
		t.Fatalf("orphan start: %+v", w)
	}
	// A collector that starts after the delete sees the state on add.
	g2 := newGraph(newAbsentOwners())
	if w := add(g2, orphaning); !slices.Equal(w.attemptToOrphan, []types.UID{"o"}) {
		t.Fatalf("orphan state on add: %+v", w)
	}
}

func TestGraphVirtualDelete(t *testing.T) {
	g := newGraph(newAbsentOwners())
	ghost := cm("ns", "ghost", "g")
	add(g, obj{id: cm("ns", "dep", "d"), owners: []metav1.OwnerReference{owns(ghost, false)}})
	// A GET found the owner missing: the virtual node goes, its dependents
	// are queued to be checked.
	w := g.apply(event{deleted: true, virtual: true, identity: ghost})
	if !slices.Equal(w.attemptToDelete, []types.UID{"d"}) {
		t.Fatalf("virtual delete queued %v", w.attemptToDelete)
	}
	if found, _ := g.has("g"); found {
		t.Fatal("virtual node not removed")
	}

	// Two dependents name the same uid with different kinds. A GET that
	// finds the first identity absent cannot remove the node: the other
	// identity is tried next, and only the matching dependent is queued.
	g = newGraph(newAbsentOwners())
	asCM := cm("ns", "x", "u")
	asSecret := objectRef{APIVersion: "v1", Kind: "Secret", Namespace: "ns", Name: "x", UID: "u"}
	add(g, obj{id: cm("ns", "d1", "d1"), owners: []metav1.OwnerReference{owns(asCM, false)}})
	add(g, obj{id: cm("ns", "d2", "d2"), owners: []metav1.OwnerReference{owns(asSecret, false)}})
	w = g.apply(event{deleted: true, virtual: true, identity: asCM})
	if got := sorted(w.attemptToDelete); !slices.Equal(got, []types.UID{"d1", "u"}) {
		t.Fatalf("queued %v, want the matching dependent and the node under its next identity", got)
	}
	if v, ok := g.view("u"); !ok || v.identity != asSecret {
		t.Fatalf("node = %+v, %v; want it kept with the Secret identity", v.identity, ok)
	}
	if !g.absent.has(asCM) {
		t.Fatal("verified-absent identity not recorded")
	}
}

func TestGraphNamespaceMismatch(t *testing.T) {
	g := newGraph(newAbsentOwners())
	owner := cm("a", "owner", "o")
	add(g, obj{id: owner})
	// A dependent in namespace b names an owner observed in a: reported,
	// and the dependent is queued (the owner is absent from b's view).
	w := add(g, obj{id: cm("b", "dep", "d"), owners: []metav1.OwnerReference{owns(owner, false)}})
	if len(w.invalidNamespace) != 1 || w.invalidNamespace[0].dependent.UID != "d" || !slices.Contains(w.attemptToDelete, "d") {
		t.Fatalf("work = %+v", w)
	}
}

func TestReferenceDiffs(t *testing.T) {
	a, b, c := owns(cm("", "a", "a"), true), owns(cm("", "b", "b"), false), owns(cm("", "c", "c"), true)
	cUnblocked := owns(cm("", "c", "c"), false)
	added, removed, unblocked := referenceDiffs([]metav1.OwnerReference{a, c}, []metav1.OwnerReference{b, cUnblocked})
	if len(added) != 1 || added[0].UID != "b" || len(removed) != 1 || removed[0].UID != "a" || len(unblocked) != 1 || unblocked[0].UID != "c" {
		t.Fatalf("added %v removed %v unblocked %v", added, removed, unblocked)
	}
}

func TestAbsentOwnersIsBounded(t *testing.T) {
	a := newAbsentOwners()
	for i := range absentOwnersCapacity + 10 {
		a.add(cm("", "x", types.UID(fmt.Sprint(i))))
	}
	if len(a.set) != absentOwnersCapacity || len(a.order) != absentOwnersCapacity {
		t.Fatalf("size %d/%d, want %d", len(a.set), len(a.order), absentOwnersCapacity)
	}
}
