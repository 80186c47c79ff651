package job

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Pod failure back-off: a Job whose pods keep failing waits before each
// replacement, 10s after the first failure, doubling with each further
// consecutive failure, capped at six minutes (the documented batch/v1
// behaviour).
const (
	podFailureBackoffBase = 10 * time.Second
	podFailureBackoffMax  = 6 * time.Minute
)

// backoffRecord is what the back-off of one Job depends on: how many pods
// failed since the last success, and when the last of them finished.
type backoffRecord struct {
	failuresAfterLastSuccess int32
	lastFailure              time.Time
}

// backoffStore keeps one record per Job key. It lives in memory, as
// upstream's does: after a restart a failing Job starts its back-off over.
type backoffStore struct {
	mu      sync.Mutex
	records map[string]backoffRecord
}

func newBackoffStore() *backoffStore {
	return &backoffStore{records: map[string]backoffRecord{}}
}

func (s *backoffStore) get(key string) backoffRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[key]
}

func (s *backoffStore) set(key string, r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = r
}

func (s *backoffStore) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
}

// nextBackoffRecord folds the pods that finished since the last sync into
// the record. A success resets the count; failures after the latest
// success (by finish time) start it again.
//
// Example: record {2 failures}, new pods: failed at 10:00, succeeded at
// 10:01, failed at 10:02 and 10:03 → {2 failures, last 10:03}.
func nextBackoffRecord(old backoffRecord, newSucceeded, newFailed []*corev1.Pod) backoffRecord {
	if len(newSucceeded) == 0 && len(newFailed) == 0 {
		return old
	}
	failedAt := finishTimes(newFailed)
	if len(newSucceeded) == 0 {
		return backoffRecord{
			failuresAfterLastSuccess: old.failuresAfterLastSuccess + int32(len(failedAt)),
			lastFailure:              failedAt[len(failedAt)-1],
		}
	}
	succeededAt := finishTimes(newSucceeded)
	lastSuccess := succeededAt[len(succeededAt)-1]
	var r backoffRecord
	for _, t := range failedAt {
		if t.After(lastSuccess) {
			r.failuresAfterLastSuccess++
			r.lastFailure = t
		}
	}
	return r
}

func finishTimes(pods []*corev1.Pod) []time.Time {
	out := make([]time.Time, 0, len(pods))
	for _, p := range pods {
		out = append(out, finishedTime(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// backoffDelay is the wait after n consecutive failures: base·2^(n-1),
// capped. With base 10s and cap 6m: 1→10s, 2→20s, 3→40s, 4→80s, 5→160s,
// 6→320s, 7 and more→360s.
func backoffDelay(failures int32, base, maxDelay time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := base
	for i := int32(1); i < failures; i++ {
		d *= 2
		if d >= maxDelay {
			return maxDelay
		}
	}
	return min(d, maxDelay)
}

// remaining returns how long the Job must still wait at now before it may
// create a replacement pod; zero means now. Example: 3 failures, the last
// 15s ago: the delay is 40s, so 25s remain.
func (r backoffRecord) remaining(now time.Time, base, maxDelay time.Duration) time.Duration {
	d := backoffDelay(r.failuresAfterLastSuccess, base, maxDelay)
	if d == 0 {
		return 0
	}
	elapsed := now.Sub(r.lastFailure)
	if elapsed >= d {
		return 0
	}
	return d - elapsed
}
