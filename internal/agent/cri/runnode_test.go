package cri_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/skiff-sh/skiff/internal/agent/cri"
	"github.com/skiff-sh/skiff/internal/agent/cri/critest"
	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// TestRunNode runs the whole node (supervised containerd, pause image,
// agent on CRI) against an API server and runs a host-network pod on it
// until it is Running and Ready, then deletes it. (Pod networking needs
// the node's pod CIDR and its bridge, which the network package tests.)
func TestRunNode(t *testing.T) {
	critest.RequireRealNode(t)
	s := servertest.Start(t, servertest.Options{})
	dir := critest.ShortDir(t, "sknode")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	critest.RunNode(t, ctx, cri.NodeConfig{NodeName: "real-0", Client: s.Client, DataDir: dir})
	node, err := s.Client.CoreV1().Nodes().Get(ctx, "real-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := node.Status.Capacity; c.Cpu().IsZero() || c.Memory().IsZero() || c.StorageEphemeral().IsZero() || c.Pods().Value() != cri.MaxPods {
		t.Errorf("capacity = %v", c)
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "real-0", HostNetwork: true,
			Containers: []corev1.Container{{Name: "pause", Image: image.PauseRef}}},
	}
	begin := time.Now()
	if _, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := s.Client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		cs := p.Status.ContainerStatuses[0]
		return p.Status.Phase == corev1.PodRunning && cs.Ready && cs.ContainerID != "", nil
	})
	if err != nil {
		t.Fatalf("pod not running: %v", err)
	}
	t.Logf("pod Running and Ready %s after creation", time.Since(begin).Round(time.Millisecond))
	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := s.Client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return err != nil, nil
	})
	if err != nil {
		t.Fatalf("pod not deleted: %v", err)
	}
}
