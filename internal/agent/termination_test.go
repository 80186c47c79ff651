package agent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestTerminationGate(t *testing.T) {
	running := podState{containers: []ContainerStatus{{ID: "c1", Name: "app", State: ContainerRunning}}}
	pod := hookPod(nil)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	pod.Status.PodIP = "10.42.0.5"

	a, clk, _ := hookAgent(&hookRuntime{stops: map[string]time.Duration{}})
	var gated *corev1.Pod
	var deadline time.Duration
	a.cfg.TerminationGate = func(ctx context.Context, p *corev1.Pod) error {
		gated = p
		d, _ := ctx.Deadline()
		deadline = time.Until(d)
		clk.Step(2 * time.Second) // the data path took 2s to let go
		return nil
	}
	if grace := a.awaitTermination(context.Background(), pod, running, 30*time.Second); grace != 28*time.Second {
		t.Errorf("grace left after a 2s gate = %v, want 28s", grace)
	}
	if gated != pod {
		t.Fatal("the gate did not run for a deleted pod with running containers")
	}
	if deadline <= 0 || deadline > maxTerminationGate {
		t.Errorf("the gate's deadline is %v away, want at most %v", deadline, maxTerminationGate)
	}

	// Half the grace period bounds the gate; nothing to gate without
	// running containers or a pod IP.
	gated = nil
	short := hookPod(nil)
	short.Status.PodIP = "10.42.0.6"
	a.cfg.TerminationGate = func(ctx context.Context, p *corev1.Pod) error {
		gated = p
		if d, _ := ctx.Deadline(); time.Until(d) > time.Second {
			t.Errorf("gate deadline %v away for a 2s grace period, want at most 1s", time.Until(d))
		}
		return nil
	}
	a.awaitTermination(context.Background(), short, running, 2*time.Second)
	if gated == nil {
		t.Error("the gate did not run for a 2s grace period")
	}
	gated = nil
	a.awaitTermination(context.Background(), short, podState{}, 30*time.Second)
	noIP := hookPod(nil)
	a.awaitTermination(context.Background(), noIP, running, 30*time.Second)
	if gated != nil {
		t.Error("the gate ran for a pod with nothing running or no IP")
	}
}
