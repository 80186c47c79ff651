package garbagecollector

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"
)

func TestMonitorSetFollowsDiscovery(t *testing.T) {
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	widgets := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	owner := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "a"}}
	scheme := metadatafake.NewTestScheme()
	for _, gvk := range []schema.GroupVersionKind{{Version: "v1", Kind: "ConfigMap"}, {Group: "example.com", Version: "v1", Kind: "Widget"}} {
		scheme.AddKnownTypeWithName(gvk, &metav1.PartialObjectMetadata{})
		scheme.AddKnownTypeWithName(gvk.GroupVersion().WithKind(gvk.Kind+"List"), &metav1.PartialObjectMetadataList{})
	}
	client := metadatafake.NewSimpleMetadataClient(scheme, owner)

	var mu sync.Mutex
	var seen []objectRef
	set := newMonitorSet(client, func(ev event) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ev.identity)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer set.stopAll()

	one := map[schema.GroupVersionResource]schema.GroupVersionKind{cms: {Version: "v1", Kind: "ConfigMap"}}
	set.sync(ctx, one, nil)
	waitCtx, done := context.WithTimeout(ctx, 5*time.Second)
	defer done()
	if !set.waitForSync(waitCtx) {
		t.Fatal("monitor did not sync")
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != cm("ns", "a", "a") {
		t.Fatalf("events from the initial list: %+v", seen)
	}
	mu.Unlock()

	two := map[schema.GroupVersionResource]schema.GroupVersionKind{cms: one[cms], widgets: {Group: "example.com", Version: "v1", Kind: "Widget"}}
	if set.changed(one, nil) || !set.changed(two, nil) {
		t.Fatal("changed() wrong")
	}
	set.sync(ctx, two, nil)
	if set.len() != 2 {
		t.Fatalf("%d monitors, want 2", set.len())
	}
	// A group whose discovery failed keeps its monitors.
	if set.changed(one, map[string]bool{"example.com": true}) {
		t.Fatal("a failed group's resources count as removed")
	}
	set.sync(ctx, one, map[string]bool{"example.com": true})
	if set.len() != 2 {
		t.Fatal("monitor of a failed group stopped")
	}
	// Served no more: stopped.
	set.sync(ctx, one, nil)
	if set.len() != 1 {
		t.Fatalf("%d monitors, want 1", set.len())
	}
}
