package dns

import (
	"sync"
	"time"

	"github.com/miekg/dns"
)

// table is the in-memory zone: every owner name a Service contributes,
// indexed by its lower-case FQDN so a query is one map lookup.
type table struct {
	// mu guards every field below. Writers hold it only to swap in records
	// built beforehand, so queries never wait on a build.
	mu sync.RWMutex
	// names maps an owner name to its records; a name has one owner because
	// every name embeds <service>.<namespace>.
	names map[string]*entry
	// ptrs maps a reverse name to its records, by owning Service key. An
	// address can back several Services (one pod behind two headless ones).
	ptrs map[string]map[string][]ptrItem
	// owned remembers which names and reverse names each Service key
	// installed, so a change removes exactly those.
	owned map[string]*serviceRecords
	// modified is the last change, the SOA serial as CoreDNS reports it.
	modified time.Time
}

func newTable() *table {
	return &table{
		names: map[string]*entry{},
		ptrs:  map[string]map[string][]ptrItem{},
		owned: map[string]*serviceRecords{},
	}
}

// replace installs recs as everything key contributes; nil removes it.
func (t *table) replace(key string, recs *serviceRecords, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.owned[key]; old != nil {
		for name := range old.names {
			delete(t.names, name)
		}
		for rev := range old.ptrs {
			m := t.ptrs[rev]
			delete(m, key)
			if len(m) == 0 {
				delete(t.ptrs, rev)
			}
		}
		delete(t.owned, key)
	}
	t.modified = now
	if recs == nil {
		return
	}
	t.owned[key] = recs
	for name, e := range recs.names {
		t.names[name] = e
	}
	for rev, items := range recs.ptrs {
		m := t.ptrs[rev]
		if m == nil {
			m = map[string][]ptrItem{}
			t.ptrs[rev] = m
		}
		m[key] = items
	}
}

// lookup returns the entry for a lower-case owner name. Entries are never
// mutated after they are installed, so the caller may read it unlocked.
func (t *table) lookup(name string) *entry {
	t.mu.RLock()
	e := t.names[name]
	t.mu.RUnlock()
	return e
}

// reverse appends the PTR records for a reverse name: the Service whose
// ClusterIP it is if there is one, otherwise every endpoint name.
func (t *table) reverse(rev string, out []dns.RR) []dns.RR {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m := t.ptrs[rev]
	for _, items := range m {
		for _, it := range items {
			if it.service {
				return append(out, it.rr)
			}
		}
	}
	start := len(out)
	for _, items := range m {
		for _, it := range items {
			out = append(out, it.rr)
		}
	}
	// Map order is random; keep answers stable for caches and tests.
	sortPTR(out[start:])
	return out
}

func (t *table) serial() uint32 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return uint32(t.modified.Unix())
}

func sortPTR(rrs []dns.RR) {
	for i := 1; i < len(rrs); i++ {
		for j := i; j > 0 && rrs[j].(*dns.PTR).Ptr < rrs[j-1].(*dns.PTR).Ptr; j-- {
			rrs[j], rrs[j-1] = rrs[j-1], rrs[j]
		}
	}
}
