package proxy

import (
	"testing"
)

// TestRoutesTo follows what the programmed rules send connections to: a
// ready endpoint, not a terminating one while others are ready, and
// nothing of a deleted Service.
func TestRoutesTo(t *testing.T) {
	h := newHarness(t, webService(), slice("default", "web", "web-1", map[string]int32{"http": 8080},
		ep{ip: "10.244.0.11"}, ep{ip: "10.244.0.12"}))
	for _, ip := range []string{"10.244.0.11", "10.244.0.12"} {
		if !h.p.RoutesTo(ip) {
			t.Errorf("RoutesTo(%s) = false for a ready endpoint", ip)
		}
	}
	if h.p.RoutesTo("10.244.0.99") || h.p.RoutesTo("not an address") {
		t.Error("RoutesTo reports an address no rule uses")
	}

	s := slice("default", "web", "web-1", map[string]int32{"http": 8080},
		ep{ip: "10.244.0.11"}, ep{ip: "10.244.0.12", notReady: true, serving: true, terminating: true})
	h.updateSlice(s)
	if !h.p.RoutesTo("10.244.0.12") {
		t.Error("RoutesTo changed before the rules were synced")
	}
	h.sync()
	if h.p.RoutesTo("10.244.0.12") || !h.p.RoutesTo("10.244.0.11") {
		t.Error("after the sync, the terminating endpoint is still routed to, or the ready one is not")
	}

	h.remove(webService())
	h.sync()
	if h.p.RoutesTo("10.244.0.11") {
		t.Error("a deleted Service's endpoint is still routed to")
	}
}
