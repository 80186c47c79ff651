package watchcache

import (
	"slices"
	"strings"
)

// Pair is one label or field of a cached object.
type Pair struct{ Key, Value string }

// Pairs holds a cached object's labels or selectable fields sorted by key.
// It implements labels.Labels and fields.Fields. One slice per object
// rather than a map: the cache holds every object of every resource, and
// a small Go map costs several times the strings it holds.
type Pairs []Pair

// NewPairs copies m into Pairs.
func NewPairs(m map[string]string) Pairs {
	if len(m) == 0 {
		return nil
	}
	p := make(Pairs, 0, len(m))
	for k, v := range m {
		p = append(p, Pair{k, v})
	}
	slices.SortFunc(p, func(a, b Pair) int { return strings.Compare(a.Key, b.Key) })
	return p
}

// Lookup returns the value of key and whether it is present.
func (p Pairs) Lookup(key string) (string, bool) {
	i, ok := slices.BinarySearchFunc(p, key, func(e Pair, k string) int { return strings.Compare(e.Key, k) })
	if !ok {
		return "", false
	}
	return p[i].Value, true
}

// Has reports whether key is present.
func (p Pairs) Has(key string) bool {
	_, ok := p.Lookup(key)
	return ok
}

// Get returns the value of key, or "" when it is absent.
func (p Pairs) Get(key string) string {
	v, _ := p.Lookup(key)
	return v
}
