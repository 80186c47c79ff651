package garbagecollector

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef names an object in the graph: the coordinates an
// ownerReference carries plus the namespace. For a virtual node (known
// only from its dependents' references) the namespace is the referring
// dependent's, which is right only if the owner's kind is namespaced.
type objectRef struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        types.UID
}

func (r objectRef) String() string {
	return fmt.Sprintf("[%s/%s, namespace: %s, name: %s, uid: %s]", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// ownerIdentity is who a dependent in namespace ns says its owner is.
func ownerIdentity(ref metav1.OwnerReference, ns string) objectRef {
	return objectRef{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ns, Name: ref.Name, UID: ref.UID}
}

// refMatches reports whether ref names id: same uid, name and kind, and
// the same API group (versions of one group name the same object).
func refMatches(ref metav1.OwnerReference, id objectRef) bool {
	return ref.UID == id.UID && ref.Name == id.Name && ref.Kind == id.Kind && groupOf(ref.APIVersion) == groupOf(id.APIVersion)
}

func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return apiVersion
	}
	return gv.Group
}

// node is one object in the dependency graph.
type node struct {
	identity objectRef
	// observed is false for a virtual node: one only its dependents name.
	observed bool
	// beingDeleted: the object has a deletionTimestamp.
	beingDeleted bool
	// deletingDependents: it is being deleted in the foreground, waiting
	// for its blocking dependents to go first.
	deletingDependents bool
	owners             []metav1.OwnerReference
	dependents         map[types.UID]*node
}

// blockedBy reports whether dep's reference to n blocks n's deletion.
func (n *node) blockedBy(dep *node) bool {
	for _, ref := range dep.owners {
		if ref.UID == n.identity.UID && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
			return true
		}
	}
	return false
}

// work is what a change of the graph asks the workers to do.
type work struct {
	attemptToDelete []types.UID
	attemptToOrphan []types.UID
	// invalidNamespace lists dependents that name an owner living in
	// another namespace, with that owner's uid: worth a warning event.
	invalidNamespace []invalidRef
}

type invalidRef struct {
	dependent objectRef
	owner     types.UID
}

func (w *work) del(uids ...types.UID) { w.attemptToDelete = append(w.attemptToDelete, uids...) }

func (w *work) merge(o work) {
	w.attemptToDelete = append(w.attemptToDelete, o.attemptToDelete...)
	w.attemptToOrphan = append(w.attemptToOrphan, o.attemptToOrphan...)
	w.invalidNamespace = append(w.invalidNamespace, o.invalidNamespace...)
}

// event is one change the graph learns of: from an informer, or a
// "virtual" delete the workers infer when a GET finds an object gone.
type event struct {
	deleted  bool
	virtual  bool
	identity objectRef
	// obj is the object's new state (nil for deletes); old the state
	// before an update (nil for adds).
	obj metav1.Object
	old metav1.Object
}

// graph is the owner→dependents graph of every object the monitors
// see, keyed by uid. All access holds mu; nothing under mu talks to the
// API server.
type graph struct {
	mu     sync.RWMutex
	nodes  map[types.UID]*node
	absent *absentOwners
}

func newGraph(absent *absentOwners) *graph {
	return &graph{nodes: map[types.UID]*node{}, absent: absent}
}

// apply records ev and returns the work it causes.
func (g *graph) apply(ev event) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ev.deleted {
		return g.applyDelete(ev)
	}
	return g.applyAddOrUpdate(ev)
}

func (g *graph) applyAddOrUpdate(ev event) work {
	var w work
	n, found := g.nodes[ev.identity.UID]
	if !found {
		n = &node{identity: ev.identity, observed: true, beingDeleted: ev.obj.GetDeletionTimestamp() != nil,
			owners: slices.Clone(ev.obj.GetOwnerReferences()), dependents: map[types.UID]*node{}}
		g.nodes[n.identity.UID] = n
		w.merge(g.addDependentToOwners(n, n.owners))
		w.merge(processTransitions(ev.old, ev.obj, n))
		return w
	}
	if !n.observed {
		// A virtual node turns out to exist. Dependents that named it with
		// other coordinates may be wrong: let each check its references.
		if ev.identity != n.identity {
			_, mismatched := partitionDependents(n, ev.identity)
			for _, dep := range mismatched {
				if ev.identity.Namespace != "" && dep.identity.Namespace != ev.identity.Namespace {
					w.invalidNamespace = append(w.invalidNamespace, invalidRef{dependent: dep.identity, owner: ev.identity.UID})
				}
				w.del(dep.identity.UID)
			}
			n.identity = ev.identity
		}
		n.observed = true
	}
	added, removed, unblocked := referenceDiffs(n.owners, ev.obj.GetOwnerReferences())
	if len(added)+len(removed)+len(unblocked) > 0 {
		// Owners waiting for their dependents may have lost a blocker.
		for _, ref := range append(removed, unblocked...) {
			if owner, ok := g.nodes[ref.UID]; ok && owner.deletingDependents {
				w.del(owner.identity.UID)
			}
		}
		n.owners = slices.Clone(ev.obj.GetOwnerReferences())
		w.merge(g.addDependentToOwners(n, added))
		for _, ref := range removed {
			if owner, ok := g.nodes[ref.UID]; ok {
				delete(owner.dependents, n.identity.UID)
			}
		}
	}
	if ev.obj.GetDeletionTimestamp() != nil {
		n.beingDeleted = true
	}
	w.merge(processTransitions(ev.old, ev.obj, n))
	return w
}

// addDependentToOwners links n under each of refs, creating virtual
// nodes for owners not seen yet (they are queued to be verified). A
// reference that cannot be right as given queues n itself to be checked.
func (g *graph) addDependentToOwners(n *node, refs []metav1.OwnerReference) work {
	var w work
	suspicious := false
	for _, ref := range refs {
		owner, ok := g.nodes[ref.UID]
		if !ok {
			owner = &node{identity: ownerIdentity(ref, n.identity.Namespace), dependents: map[types.UID]*node{}}
			g.nodes[ref.UID] = owner
			w.del(ref.UID)
		} else {
			ownerNamespaced := owner.identity.Namespace != ""
			switch {
			case ownerNamespaced && owner.identity.Namespace != n.identity.Namespace:
				// A namespaced owner can only own objects of its namespace.
				if owner.observed {
					w.invalidNamespace = append(w.invalidNamespace, invalidRef{dependent: n.identity, owner: ref.UID})
				}
				suspicious = true
			case !refMatches(ref, owner.identity):
				suspicious = true
			case !ownerNamespaced && n.identity.Namespace != "" && !owner.observed:
				// A virtual owner named by a cluster-scoped object may be a
				// namespaced kind that cluster-scoped objects cannot own.
				suspicious = true
			}
		}
		owner.dependents[n.identity.UID] = n
	}
	if suspicious {
		w.del(n.identity.UID)
	}
	return w
}

func (g *graph) applyDelete(ev event) work {
	var w work
	n, found := g.nodes[ev.identity.UID]
	if !found {
		return w
	}
	remove := true
	if ev.virtual {
		// A GET found ev.identity gone. That proves nothing about other
		// coordinates some dependents use for the same uid.
		matching, mismatched := partitionDependents(n, ev.identity)
		switch {
		case !n.observed && len(mismatched) > 0:
			remove = false
			if n.identity == ev.identity {
				// Try the coordinates the other dependents use next.
				n.identity = alternateIdentity(mismatched, ev.identity)
				w.del(n.identity.UID)
			}
		case n.observed && n.identity != ev.identity:
			// The object exists as observed; only the references using
			// the absent coordinates are dangling.
			remove = false
		}
		if !remove && len(matching) > 0 {
			g.absent.add(ev.identity)
			for _, dep := range matching {
				w.del(dep.identity.UID)
			}
		}
	}
	if !remove {
		return w
	}
	delete(g.nodes, n.identity.UID)
	for _, ref := range n.owners {
		if owner, ok := g.nodes[ref.UID]; ok {
			delete(owner.dependents, n.identity.UID)
			if owner.deletingDependents {
				// This may have been its last blocking dependent.
				w.del(owner.identity.UID)
			}
		}
	}
	if len(n.dependents) > 0 {
		g.absent.add(ev.identity)
	}
	for uid := range n.dependents {
		w.del(uid)
	}
	return w
}

// partitionDependents splits n's dependents into those whose reference
// to n matches id and those that name it differently.
func partitionDependents(n *node, id objectRef) (matching, mismatched []*node) {
	for _, dep := range n.dependents {
		ok := false
		for _, ref := range dep.owners {
			if ref.UID == id.UID {
				// A namespaced owner must share the dependent's namespace.
				ok = refMatches(ref, id) && (id.Namespace == "" || id.Namespace == dep.identity.Namespace)
				break
			}
		}
		if ok {
			matching = append(matching, dep)
		} else {
			mismatched = append(mismatched, dep)
		}
	}
	return matching, mismatched
}

// alternateIdentity picks, in a stable order, the first identity other
// than absent under which deps refer to the owner.
func alternateIdentity(deps []*node, absent objectRef) objectRef {
	var ids []objectRef
	for _, dep := range deps {
		for _, ref := range dep.owners {
			if ref.UID == absent.UID {
				if id := ownerIdentity(ref, dep.identity.Namespace); id != absent {
					ids = append(ids, id)
				}
			}
		}
	}
	if len(ids) == 0 {
		return absent
	}
	return slices.MinFunc(ids, func(a, b objectRef) int { return strings.Compare(a.String(), b.String()) })
}

// referenceDiffs compares an object's old and new ownerReferences by
// uid: added, removed, and kept references that stopped blocking.
func referenceDiffs(old, cur []metav1.OwnerReference) (added, removed, unblocked []metav1.OwnerReference) {
	oldByUID := map[types.UID]metav1.OwnerReference{}
	for _, r := range old {
		oldByUID[r.UID] = r
	}
	for _, r := range cur {
		o, ok := oldByUID[r.UID]
		if !ok {
			added = append(added, r)
			continue
		}
		delete(oldByUID, r.UID)
		if blocking(o) && !blocking(r) {
			unblocked = append(unblocked, r)
		}
	}
	for _, r := range old {
		if _, gone := oldByUID[r.UID]; gone {
			removed = append(removed, r)
		}
	}
	return added, removed, unblocked
}

func blocking(r metav1.OwnerReference) bool {
	return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion
}

// processTransitions starts the orphan or foreground work when an
// object enters that state (or is first seen in it).
func processTransitions(old, cur metav1.Object, n *node) work {
	var w work
	switch {
	case startsWaiting(old, cur, metav1.FinalizerOrphanDependents):
		w.attemptToOrphan = append(w.attemptToOrphan, n.identity.UID)
	case startsWaiting(old, cur, metav1.FinalizerDeleteDependents):
		n.beingDeleted, n.deletingDependents = true, true
		for uid := range n.dependents {
			w.del(uid)
		}
		w.del(n.identity.UID)
	}
	return w
}

func startsWaiting(old, cur metav1.Object, finalizer string) bool {
	waiting := func(o metav1.Object) bool {
		return o != nil && o.GetDeletionTimestamp() != nil && slices.Contains(o.GetFinalizers(), finalizer)
	}
	return waiting(cur) && !waiting(old)
}

// nodeView is a copy of what a worker needs of a node, taken under the
// lock so the worker can talk to the API server without holding it.
type nodeView struct {
	identity           objectRef
	observed           bool
	beingDeleted       bool
	deletingDependents bool
	dependents         []dependentView
}

type dependentView struct {
	identity           objectRef
	deletingDependents bool
	// blocking: its reference to the owner has blockOwnerDeletion.
	blocking bool
}

func (g *graph) view(uid types.UID) (nodeView, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nodeView{}, false
	}
	v := nodeView{identity: n.identity, observed: n.observed, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}
	for _, dep := range n.dependents {
		v.dependents = append(v.dependents, dependentView{identity: dep.identity,
			deletingDependents: dep.deletingDependents, blocking: n.blockedBy(dep)})
	}
	slices.SortFunc(v.dependents, func(a, b dependentView) int { return strings.Compare(string(a.identity.UID), string(b.identity.UID)) })
	return v, true
}

// has reports whether uid is in the graph and whether it was observed.
func (g *graph) has(uid types.UID) (found, observed bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	return ok, ok && n.observed
}
