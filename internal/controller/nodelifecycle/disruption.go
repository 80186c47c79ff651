package nodelifecycle

import (
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

type zoneState string

const (
	stateInitial           zoneState = "Initial"
	stateNormal            zoneState = "Normal"
	statePartialDisruption zoneState = "PartialDisruption"
	stateFullDisruption    zoneState = "FullDisruption"
)

// computeZoneState judges a zone from its nodes' Ready conditions (nil:
// never posted): no Ready node at all is a full disruption; at least
// threshold of them not Ready, and more than two, a partial one.
//
// Example: threshold 0.55 and 5 nodes of which 3 are not Ready: 3 > 2
// and 3/5 = 0.6 ≥ 0.55, so the zone is partially disrupted; 2 of 3 not
// Ready is Normal (only two).
func computeZoneState(ready []*corev1.NodeCondition, threshold float32) (notReady int, state zoneState) {
	readyCount := 0
	for _, c := range ready {
		if c != nil && c.Status == corev1.ConditionTrue {
			readyCount++
		} else {
			notReady++
		}
	}
	switch {
	case readyCount == 0 && notReady > 0:
		return notReady, stateFullDisruption
	case notReady > 2 && float32(notReady)/float32(notReady+readyCount) >= threshold:
		return notReady, statePartialDisruption
	}
	return notReady, stateNormal
}

// zoneQPS is the tainting rate of a zone in a state: normal speed when
// healthy; in a partial disruption the secondary rate for large zones and
// none for small ones (the trouble is likely the zone, not the nodes); a
// fully disrupted zone (while others are not) the normal rate again.
func (c *Controller) zoneQPS(state zoneState, zoneSize int) float32 {
	switch state {
	case statePartialDisruption:
		if int32(zoneSize) > c.cfg.LargeClusterSizeThreshold {
			return c.cfg.SecondaryNodeEvictionRate
		}
		return 0
	}
	return c.cfg.NodeEvictionRate
}

// ensureZone returns a zone's tainter, creating it. Caller holds zoneMu.
func (c *Controller) ensureZone(zone string) *zoneTainter {
	t := c.tainters[zone]
	if t == nil {
		t = newZoneTainter(c.clock, c.cfg.NodeEvictionRate)
		c.tainters[zone] = t
		c.zoneStates[zone] = stateInitial
	}
	return t
}

// handleDisruption updates every zone's state and tainting rate. When
// every zone is fully disrupted the likeliest cause is this controller's
// own connectivity, so all NoExecute taints are removed and tainting
// stops; when that ends, every node gets a fresh grace period.
func (c *Controller) handleDisruption(ctx context.Context, zoneReady map[string][]*corev1.NodeCondition, nodes []*corev1.Node) {
	logger := klog.FromContext(ctx)
	c.zoneMu.Lock()
	newStates := map[string]zoneState{}
	allFull := true
	for zone, ready := range zoneReady {
		_, s := computeZoneState(ready, c.cfg.UnhealthyZoneThreshold)
		newStates[zone] = s
		allFull = allFull && s == stateFullDisruption
		c.ensureZone(zone)
	}
	wasAllFull := true
	for zone, s := range c.zoneStates {
		if _, ok := zoneReady[zone]; !ok {
			delete(c.zoneStates, zone)
			continue
		}
		wasAllFull = wasAllFull && s == stateFullDisruption
	}
	if len(zoneReady) == 0 || (allFull && wasAllFull) {
		c.zoneMu.Unlock()
		return
	}
	switch {
	case allFull:
		logger.Info("All nodes are not Ready; stopping evictions (control plane disruption mode)")
		for zone := range c.zoneStates {
			c.tainters[zone].setQPS(0)
			c.zoneStates[zone] = stateFullDisruption
		}
		c.zoneMu.Unlock()
		for _, n := range nodes {
			if err := c.markNodeAsReachable(ctx, n); err != nil {
				logger.Error(err, "Removing NoExecute taints", "node", klog.KObj(n))
			}
		}
		return
	case wasAllFull:
		logger.Info("Some nodes are Ready again; leaving control plane disruption mode")
		now := c.clock.Now()
		for _, name := range c.health.names() {
			if h := c.health.get(name); h != nil {
				h.probeTime, h.readyTransitionTime = now, now
				c.health.set(name, h)
			}
		}
		for zone := range c.zoneStates {
			c.tainters[zone].setQPS(c.zoneQPS(newStates[zone], len(zoneReady[zone])))
			c.zoneStates[zone] = newStates[zone]
		}
	default:
		for zone, s := range c.zoneStates {
			if s == newStates[zone] {
				continue
			}
			if s == stateInitial {
				logger.V(2).Info("New zone", "zone", zone, "state", newStates[zone])
			} else {
				logger.Info("Zone changed state", "zone", zone, "from", s, "to", newStates[zone])
			}
			c.tainters[zone].setQPS(c.zoneQPS(newStates[zone], len(zoneReady[zone])))
			c.zoneStates[zone] = newStates[zone]
		}
	}
	c.zoneMu.Unlock()
}

// zoneTainter is a zone's queue of nodes waiting for a NoExecute taint,
// drained no faster than its rate limiter (upstream's
// RateLimitedTimedQueue). A node stays a member after it was tainted, so
// that the monitor pass, which asks for it again every time, does not
// taint it again: only remove (the node recovered, or lost its taint)
// lets it back in.
type zoneTainter struct {
	clock clock.Clock

	mu sync.Mutex
	// items are the members still waiting, ordered by processAt.
	items   []tainterItem
	members map[string]bool
	limiter flowcontrol.RateLimiter // nil: tainting stopped
}

type tainterItem struct {
	name      string
	processAt time.Time
}

// retryDelay is how long a node whose tainting failed waits.
const retryDelay = 50 * time.Millisecond

func newZoneTainter(clk clock.Clock, qps float32) *zoneTainter {
	t := &zoneTainter{clock: clk, members: map[string]bool{}}
	t.setQPS(qps)
	return t
}

// setQPS replaces the rate limiter; 0 stops tainting. The burst is one
// node, as upstream's.
func (t *zoneTainter) setQPS(qps float32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.limiter != nil {
		t.limiter.Stop()
	}
	t.limiter = nil
	if qps > 0 {
		t.limiter = flowcontrol.NewTokenBucketRateLimiterWithClock(qps, 1, t.clock)
	}
}

func (t *zoneTainter) add(name string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.members[name] {
		return false
	}
	t.members[name] = true
	t.insert(tainterItem{name: name, processAt: now})
	return true
}

// insert keeps items ordered by processAt, after items due at the same
// time (first in, first out). Caller holds mu.
func (t *zoneTainter) insert(item tainterItem) {
	i := slices.IndexFunc(t.items, func(x tainterItem) bool { return x.processAt.After(item.processAt) })
	if i < 0 {
		i = len(t.items)
	}
	t.items = slices.Insert(t.items, i, item)
}

func (t *zoneTainter) remove(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	had := t.members[name]
	delete(t.members, name)
	t.items = slices.DeleteFunc(t.items, func(i tainterItem) bool { return i.name == name })
	return had
}

// try hands due nodes, oldest first, to taint while the limiter allows;
// a node for which taint returns false is retried after retryDelay. taint
// runs without the lock held: it talks to the API server.
func (t *zoneTainter) try(now time.Time, taint func(name string) bool) {
	for {
		item, ok := t.pop(now)
		if !ok {
			return
		}
		if !taint(item.name) {
			item.processAt = now.Add(retryDelay)
			t.mu.Lock()
			// Unless it was removed meanwhile.
			if t.members[item.name] && !slices.ContainsFunc(t.items, func(i tainterItem) bool { return i.name == item.name }) {
				t.insert(item)
			}
			t.mu.Unlock()
		}
	}
}

// pop takes the first item if it is due and the limiter allows.
func (t *zoneTainter) pop(now time.Time) (tainterItem, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.items) == 0 || t.limiter == nil || t.items[0].processAt.After(now) || !t.limiter.TryAccept() {
		return tainterItem{}, false
	}
	item := t.items[0]
	t.items = t.items[1:]
	return item, true
}

func (t *zoneTainter) names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, len(t.items))
	for i, item := range t.items {
		out[i] = item.name
	}
	return out
}
