package nodelifecycle

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/skiff-sh/skiff/internal/controller"
)

func seconds(s int64) *int64 { return &s }

func toleration(key string, secs *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
}

func TestDecideEviction(t *testing.T) {
	other := corev1.Taint{Key: "example.com/x", Effect: corev1.TaintEffectNoExecute}
	cases := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		want        evictionVerdict
	}{
		{name: "no taints", want: evictionVerdict{never: true}},
		{name: "not tolerated", taints: []corev1.Taint{unreachableTaint}, want: evictionVerdict{now: true}},
		{name: "one of two not tolerated", taints: []corev1.Taint{unreachableTaint, other},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, nil)}, want: evictionVerdict{now: true}},
		{name: "tolerated forever", taints: []corev1.Taint{unreachableTaint},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, nil)}, want: evictionVerdict{never: true}},
		{name: "tolerated for a while", taints: []corev1.Taint{unreachableTaint},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeNotReady, seconds(10)), toleration(corev1.TaintNodeUnreachable, seconds(300))},
			want:        evictionVerdict{after: 300 * time.Second}},
		{name: "shortest of the used tolerations", taints: []corev1.Taint{unreachableTaint, other},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, seconds(300)), toleration("example.com/x", seconds(30))},
			want:        evictionVerdict{after: 30 * time.Second}},
		{name: "forever and limited: the limit wins", taints: []corev1.Taint{unreachableTaint, other},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, nil), toleration("example.com/x", seconds(30))},
			want:        evictionVerdict{after: 30 * time.Second}},
		{name: "negative seconds mean at once", taints: []corev1.Taint{unreachableTaint},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, seconds(-5))}, want: evictionVerdict{}},
		{name: "wildcard toleration", taints: []corev1.Taint{unreachableTaint, other},
			tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, want: evictionVerdict{never: true}},
		{name: "NoSchedule toleration does not cover NoExecute", taints: []corev1.Taint{unreachableTaint},
			tolerations: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			want:        evictionVerdict{now: true}},
	}
	for _, tc := range cases {
		if got := decideEviction(tc.taints, tc.tolerations); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func boundPod(name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: node, Tolerations: tolerations}}
}

// TestTaintEvictionTiming drives the eviction controller with a fake
// clock: toleration seconds elapse only when the test says so.
func TestTaintEvictionTiming(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	tainted := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "dead"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{unreachableTaint}}}
	healthy := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fine"}}
	client := fake.NewClientset(tainted, healthy,
		boundPod("intolerant", "dead"),
		boundPod("tolerant", "dead", toleration(corev1.TaintNodeUnreachable, seconds(30))),
		boundPod("forever", "dead", toleration(corev1.TaintNodeUnreachable, nil)),
		boundPod("elsewhere", "fine"))
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c, err := NewTaintEviction(controller.Context{Client: client, Informers: factory, Clock: clk,
		Recorder: func(string) record.EventRecorder { return rec }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go func() { _ = c.Run(ctx) }()

	exists := func(name string) bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return !apierrors.IsNotFound(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	scheduled := func(name string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.scheduled["default/"+name]
		return ok
	}

	waitFor("the intolerant pod to be deleted", func() bool { return !exists("intolerant") })
	waitFor("the tolerant pod's eviction to be scheduled", func() bool { return scheduled("tolerant") })
	clk.Step(29 * time.Second)
	time.Sleep(100 * time.Millisecond)
	if !exists("tolerant") {
		t.Fatal("tolerant pod deleted before its tolerationSeconds ran out")
	}
	clk.Step(time.Second)
	waitFor("the tolerant pod to be deleted after 30s", func() bool { return !exists("tolerant") })
	clk.Step(time.Hour)
	time.Sleep(100 * time.Millisecond)
	if !exists("forever") || !exists("elsewhere") {
		t.Fatal("a pod that tolerates forever, or one on an untainted node, was deleted")
	}

	// Each deletion was preceded by the DisruptionTarget condition.
	patched := map[string]bool{}
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case clienttesting.PatchAction:
			if a.GetSubresource() == "status" && strings.Contains(string(a.GetPatch()), ReasonDeletionByTaintManager) {
				patched[a.GetName()] = true
			}
		case clienttesting.DeleteAction:
			if !patched[a.GetName()] {
				t.Errorf("pod %s deleted without the DisruptionTarget condition", a.GetName())
			}
		}
	}
	if !patched["intolerant"] || !patched["tolerant"] {
		t.Errorf("DisruptionTarget patches: %v", patched)
	}
	close(rec.Events)
	n := 0
	for ev := range rec.Events {
		if strings.Contains(ev, ReasonTaintManagerEviction) && strings.Contains(ev, "Marking for deletion") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d eviction events, want 2", n)
	}
}

// A taint removed before the toleration runs out cancels the eviction.
func TestTaintEvictionCancelled(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "flaky"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{notReadyTaint}}}
	client := fake.NewClientset(node, boundPod("p", "flaky", toleration(corev1.TaintNodeNotReady, seconds(60))))
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c, err := NewTaintEviction(controller.Context{Client: client, Informers: factory, Clock: clk,
		Recorder: func(string) record.EventRecorder { return rec }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go func() { _ = c.Run(ctx) }()
	scheduled := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.scheduled) == 1
	}
	for deadline := time.Now().Add(5 * time.Second); !scheduled(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("eviction never scheduled")
		}
	}
	node.Spec.Taints = nil
	if _, err := client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); scheduled(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("eviction not cancelled")
		}
	}
	clk.Step(2 * time.Minute)
	time.Sleep(100 * time.Millisecond)
	if _, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{}); err != nil {
		t.Fatalf("pod deleted after its eviction was cancelled: %v", err)
	}
	if ev := <-rec.Events; !strings.Contains(ev, "Cancelling deletion of Pod default/p") {
		t.Fatalf("event %q", ev)
	}
}
