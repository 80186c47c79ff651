package agent

import (
	"context"
	"fmt"
)

// RuntimeStatuser is implemented by runtimes that report CRI's runtime
// conditions (RuntimeReady, NetworkReady). The agent reports the node Ready
// only while both hold, as the kubelet does: a node whose CNI is not set up
// yet (no pod CIDR, plugins missing) must not receive pods.
type RuntimeStatuser interface {
	RuntimeConditions(ctx context.Context) ([]RuntimeCondition, error)
}

// RuntimeCondition is CRI's RuntimeCondition.
type RuntimeCondition struct {
	Type    string
	Status  bool
	Reason  string
	Message string
}

// CRI's condition types.
const (
	RuntimeReady = "RuntimeReady"
	NetworkReady = "NetworkReady"
)

// runtimeProblem is why the runtime cannot run pods, worded as the
// kubelet's Ready condition message, or "" when it can. A runtime that
// reports no conditions is taken as ready.
func (a *Agent) runtimeProblem(ctx context.Context) string {
	rs, ok := a.runtime.(RuntimeStatuser)
	if !ok {
		return ""
	}
	conds, err := rs.RuntimeConditions(ctx)
	if err != nil {
		return fmt.Sprintf("container runtime status check may not have completed yet: %v", err)
	}
	return runtimeProblemMessage(conds)
}

func runtimeProblemMessage(conds []RuntimeCondition) string {
	found := map[string]RuntimeCondition{}
	for _, c := range conds {
		found[c.Type] = c
	}
	if c, ok := found[RuntimeReady]; ok && !c.Status {
		return fmt.Sprintf("container runtime not ready: %s=false reason:%s message:%s", c.Type, c.Reason, c.Message)
	}
	if c, ok := found[NetworkReady]; ok && !c.Status {
		return fmt.Sprintf("container runtime network not ready: %s=false reason:%s message:%s", c.Type, c.Reason, c.Message)
	}
	return ""
}
