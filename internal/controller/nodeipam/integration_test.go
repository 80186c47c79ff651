package nodeipam

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

func startIPAM(t *testing.T, s *servertest.Server, cfg Config) *record.FakeRecorder {
	t.Helper()
	client := kubernetes.NewForConfigOrDie(s.Config)
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	cc := controller.Context{Client: client, Informers: factory, Clock: clock.RealClock{},
		Recorder: func(string) record.EventRecorder { return rec }}
	c, err := New(cc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	return rec
}

func createNode(t *testing.T, client kubernetes.Interface, name, podCIDR string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: podCIDR}}
	if _, err := client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitPodCIDRs polls until the node's podCIDRs equal want.
func waitPodCIDRs(t *testing.T, client kubernetes.Interface, name string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && slices.Equal(n.Spec.PodCIDRs, want) && (len(want) == 0 || n.Spec.PodCIDR == want[0]) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: podCIDRs never became %v (last: %+v, err %v)", name, want, n.Spec, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A /23 cluster CIDR holds two node subnets: enough to see the rebuild
// from existing nodes, exhaustion, and release on deletion.
func TestAllocatesRebuildsExhaustsAndReleases(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	// Assigned before the controller starts, as after a restart: the
	// rebuild must keep it from being handed out again.
	createNode(t, s.Client, "old", "10.42.0.0/24")
	rec := startIPAM(t, s, Config{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/23")}})

	createNode(t, s.Client, "a", "")
	waitPodCIDRs(t, s.Client, "a", "10.42.1.0/24")

	createNode(t, s.Client, "b", "")
	select {
	case ev := <-rec.Events:
		if want := "Warning " + ReasonCIDRNotAvailable; len(ev) < len(want) || ev[:len(want)] != want {
			t.Fatalf("event = %q, want %s", ev, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no CIDRNotAvailable event for a node beyond the range")
	}
	waitPodCIDRs(t, s.Client, "b") // still none

	if err := s.Client.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// b's retry (rate-limited back-off) picks up a's released subnet.
	waitPodCIDRs(t, s.Client, "b", "10.42.1.0/24")
	waitPodCIDRs(t, s.Client, "old", "10.42.0.0/24")

	// Deleted and created again at once (the delete and the add may
	// reach the queue as one key): the new b has a new uid, and gets the
	// only free subnet, which the old b held.
	if err := s.Client.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	createNode(t, s.Client, "b", "")
	waitPodCIDRs(t, s.Client, "b", "10.42.1.0/24")
}

func TestDualStackNodeGetsOneSubnetPerFamily(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	cidrs, err := ParseClusterCIDRs("10.42.0.0/16,fd00:42::/56")
	if err != nil {
		t.Fatal(err)
	}
	startIPAM(t, s, Config{ClusterCIDRs: cidrs})
	createNode(t, s.Client, "n", "")
	waitPodCIDRs(t, s.Client, "n", "10.42.0.0/24", "fd00:42::/64")
}

// The pod CIDR patch carries the uid it was computed for: a node
// recreated under the same name must not receive the old node's subnet.
func TestPatchIsPreconditionedOnUID(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	createNode(t, s.Client, "n", "")
	c := &Controller{client: s.Client}
	stale := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", UID: "not-the-current-uid"}}
	err := c.patchCIDRs(context.Background(), stale, []netip.Prefix{netip.MustParsePrefix("10.42.5.0/24")})
	// Upstream answers 422 (uid is immutable), as Skiff does; 409 would
	// do as well. Either way the node is left alone.
	if !apierrors.IsInvalid(err) && !apierrors.IsConflict(err) {
		t.Fatalf("patch with a stale uid: err = %v, want it refused", err)
	}
	waitPodCIDRs(t, s.Client, "n")
}
