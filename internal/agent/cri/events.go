package cri

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// WatchEvents implements agent.Runtime as the kubelet's generic PLEG:
// relist every RelistPeriod and report each container whose state differs
// from the previous list. One ListContainers call per relist: the list
// carries each container's state, so no per-container status is read.
// The first list is the baseline and reports nothing; a failed list is
// retried on the next tick (the agent's own periodic sync covers the gap).
func (r *Runtime) WatchEvents(ctx context.Context, handle func(agent.ContainerEvent)) error {
	var last map[string]agent.ContainerState
	tick := time.NewTicker(r.cfg.RelistPeriod)
	defer tick.Stop()
	filter := &runtimeapi.ContainerFilter{LabelSelector: map[string]string{managedLabel: "true"}}
	for {
		if list, err := r.rs.ListContainers(quiet(ctx), filter); err == nil {
			next := make(map[string]agent.ContainerState, len(list))
			for _, c := range list {
				state := containerState(c.State)
				next[c.Id] = state
				if prev, seen := last[c.Id]; last != nil && (!seen || prev != state) {
					handle(agent.ContainerEvent{PodUID: types.UID(c.Labels[podUIDLabel]), ContainerID: c.Id, State: state})
				}
			}
			last = next
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
