package endpointslice

import (
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// deletionExpected marks a slice this controller deleted.
const deletionExpected = -1

// tracker remembers the generation of every slice this controller wrote,
// per Service, for two purposes:
//   - a sync whose informer cache lacks a slice it created (or still holds
//     one it deleted, or holds an older generation) would plan from stale
//     data and create duplicates, so it waits instead (stale);
//   - informer events for slices are the controller's own writes coming
//     back, except when someone else changed or deleted a slice, which is
//     the only case that needs a sync (shouldSync, handleDeletion).
type tracker struct {
	mu        sync.Mutex
	byService map[string]map[types.UID]int64 // "ns/service" -> slice UID -> generation
}

func newTracker() *tracker {
	return &tracker{byService: map[string]map[types.UID]int64{}}
}

func serviceKeyOf(s *discoveryv1.EndpointSlice) string {
	return s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
}

func (t *tracker) gens(key string) map[types.UID]int64 {
	g := t.byService[key]
	if g == nil {
		g = map[types.UID]int64{}
		t.byService[key] = g
	}
	return g
}

// written records a slice as the API server returned it.
func (t *tracker) written(s *discoveryv1.EndpointSlice) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gens(serviceKeyOf(s))[s.UID] = s.Generation
}

// deleted records a slice this controller deleted.
func (t *tracker) deleted(s *discoveryv1.EndpointSlice) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gens(serviceKeyOf(s))[s.UID] = deletionExpected
}

// stale reports whether the cached slices of a Service lag behind what this
// controller wrote.
func (t *tracker) stale(serviceKey string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.byService[serviceKey]
	if !ok {
		return false
	}
	seen := make(map[types.UID]bool, len(cached))
	for _, s := range cached {
		seen[s.UID] = true
		if want, ok := g[s.UID]; ok && (want == deletionExpected || want > s.Generation) {
			return true
		}
	}
	for uid, want := range g {
		if want != deletionExpected && !seen[uid] {
			return true
		}
	}
	return false
}

// shouldSync reports whether an added or updated slice is news: one this
// controller did not write, or a newer generation than it wrote.
func (t *tracker) shouldSync(s *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.byService[serviceKeyOf(s)]
	if !ok {
		return true
	}
	want, ok := g[s.UID]
	return !ok || s.Generation > want
}

// handleDeletion forgets a deleted slice and reports whether someone else
// deleted it.
func (t *tracker) handleDeletion(s *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := serviceKeyOf(s)
	g, ok := t.byService[key]
	if !ok {
		return true
	}
	want, ok := g[s.UID]
	delete(g, s.UID)
	if len(g) == 0 {
		delete(t.byService, key)
	}
	return !ok || want != deletionExpected
}

// forget drops a deleted Service.
func (t *tracker) forget(serviceKey string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byService, serviceKey)
}
