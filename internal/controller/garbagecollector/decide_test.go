package garbagecollector

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestDecide(t *testing.T) {
	r := func(uid types.UID) []metav1.OwnerReference { return []metav1.OwnerReference{{UID: uid}} }
	leaf := []dependentView(nil)
	parent := []dependentView{{identity: cm("ns", "c", "c")}}
	cycle := []dependentView{{identity: cm("ns", "c", "c"), deletingDependents: true}}
	cases := []struct {
		name                     string
		finalizers               []string
		solid, dangling, waiting []metav1.OwnerReference
		dependents               []dependentView
		want                     decision
	}{
		{name: "live owner", solid: r("s"), want: decision{action: actionNone}},
		{name: "live and absent owners", solid: r("s"), dangling: r("d"),
			want: decision{action: actionRemoveRefs, removeRefs: []types.UID{"d"}}},
		{name: "live and foreground-deleting owners", solid: r("s"), dangling: r("d"), waiting: r("w"),
			want: decision{action: actionRemoveRefs, removeRefs: []types.UID{"d", "w"}}},
		{name: "owner gone", dangling: r("d"),
			want: decision{action: actionDelete, policy: metav1.DeletePropagationBackground}},
		{name: "owner gone, object carries orphan finalizer", dangling: r("d"), finalizers: []string{metav1.FinalizerOrphanDependents},
			want: decision{action: actionDelete, policy: metav1.DeletePropagationOrphan}},
		{name: "owner gone, object carries foreground finalizer", dangling: r("d"), finalizers: []string{metav1.FinalizerDeleteDependents},
			want: decision{action: actionDelete, policy: metav1.DeletePropagationForeground}},
		{name: "owner deleting in foreground, leaf", waiting: r("w"), dependents: leaf,
			want: decision{action: actionDelete, policy: metav1.DeletePropagationBackground}},
		{name: "owner deleting in foreground, object has dependents", waiting: r("w"), dependents: parent,
			want: decision{action: actionDelete, policy: metav1.DeletePropagationForeground}},
		{name: "foreground cycle", waiting: r("w"), dependents: cycle,
			want: decision{action: actionDelete, policy: metav1.DeletePropagationForeground, unblockFirst: true}},
	}
	for _, tc := range cases {
		got := decide(tc.finalizers, tc.solid, tc.dangling, tc.waiting, tc.dependents)
		if got.action != tc.want.action || got.policy != tc.want.policy || got.unblockFirst != tc.want.unblockFirst ||
			!slices.Equal(got.removeRefs, tc.want.removeRefs) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestMetadataMergePatch(t *testing.T) {
	got, err := metadataMergePatch("7", map[string]any{"finalizers": nilIfEmpty([]string{})})
	if err != nil || string(got) != `{"metadata":{"finalizers":null,"resourceVersion":"7"}}` {
		t.Fatalf("got %s, %v", got, err)
	}
	got, _ = metadataMergePatch("8", map[string]any{"ownerReferences": nilIfEmpty([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "a", UID: "u"}})})
	if string(got) != `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"a","uid":"u"}],"resourceVersion":"8"}}` {
		t.Fatalf("got %s", got)
	}
}

func TestUnblockAll(t *testing.T) {
	yes, no := true, false
	refs := unblockAll([]metav1.OwnerReference{{UID: "a", BlockOwnerDeletion: &yes}, {UID: "b", BlockOwnerDeletion: &no}, {UID: "c"}})
	for _, r := range refs {
		if blocking(r) {
			t.Fatalf("%s still blocks", r.UID)
		}
	}
	if refs[2].BlockOwnerDeletion != nil {
		t.Fatal("an unset blockOwnerDeletion was set")
	}
}

func TestDeletableFrom(t *testing.T) {
	all := []string{"list", "watch", "delete", "get"}
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Kind: "ConfigMap", Verbs: all},
			{Name: "pods/status", Kind: "Pod", Verbs: all},
			{Name: "events", Kind: "Event", Verbs: all},
			{Name: "bindings", Kind: "Binding", Verbs: []string{"create"}},
			{Name: "componentstatuses", Kind: "ComponentStatus", Verbs: []string{"list", "get"}},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "events", Kind: "Event", Verbs: all}}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{{Name: "widgets", Kind: "Widget", Verbs: all}}},
	}
	got := deletableFrom(lists, DefaultIgnoredResources())
	want := map[schema.GroupVersionResource]schema.GroupVersionKind{
		{Version: "v1", Resource: "configmaps"}:                    {Version: "v1", Kind: "ConfigMap"},
		{Group: "example.com", Version: "v1", Resource: "widgets"}: {Group: "example.com", Version: "v1", Kind: "Widget"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for gvr, gvk := range want {
		if got[gvr] != gvk {
			t.Errorf("%v = %v, want %v", gvr, got[gvr], gvk)
		}
	}
}
