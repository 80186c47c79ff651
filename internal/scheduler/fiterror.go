package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// errNoNodes is upstream's ErrNoNodesAvailable message: the cluster has no
// nodes at all.
const errNoNodes = "no nodes available to schedule pods"

// fitError explains why no node fits a pod: how many nodes failed for each
// reason, and which plugins rejected them (for the queue).
type fitError struct {
	numAllNodes int
	reasons     map[string]int
	plugins     pluginSet
	noNodes     bool
}

func (e *fitError) add(v verdict) {
	if e.reasons == nil {
		e.reasons = map[string]int{}
	}
	e.plugins |= v.plugin
	for _, r := range v.reasons {
		e.reasons[r]++
	}
}

// Error words the failure as upstream's FitError does:
// "0/<all> nodes are available: <count> <reason>, ...." with the
// "<count> <reason>" items sorted as strings.
//
// Worked example: one node not ready and two too small give
// "0/3 nodes are available: 1 node(s) had untolerated taint
// {node.kubernetes.io/not-ready: }, 2 Insufficient cpu."
//
// Upstream goes on with the preemption plugin's verdict ("preemption: 0/3
// nodes are available: 3 No preemption victims found for incoming pod.").
// Skiff does not preempt, so it claims nothing about preemption and ends
// the message after the filter reasons.
func (e *fitError) Error() string {
	if e.noNodes {
		return errNoNodes
	}
	msg := fmt.Sprintf("0/%d nodes are available:", e.numAllNodes)
	if len(e.reasons) == 0 {
		return msg
	}
	items := make([]string, 0, len(e.reasons))
	for r, n := range e.reasons {
		items = append(items, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(items)
	return msg + " " + strings.Join(items, ", ") + "."
}
