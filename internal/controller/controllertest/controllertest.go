// Package controllertest runs one controller against a test API server, as
// the controllers' integration tests do.
package controllertest

import (
	"context"
	"testing"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// Runner is a controller: it runs until ctx ends.
type Runner interface {
	Run(ctx context.Context) error
}

// Start builds a controller with build, runs it against s and starts its
// informers; when the test ends it stops both and fails the test if Run
// returned an error. The controller gets its own client speaking protobuf,
// as the server's loopback clients do, a fake event recorder and the real
// clock.
func Start[C Runner](t *testing.T, s *servertest.Server, build func(controller.Context) (C, error)) C {
	t.Helper()
	cfg := rest.CopyConfig(s.Config)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cc := kubernetes.NewForConfigOrDie(cfg)
	factory := informers.NewSharedInformerFactory(cc, 0)
	c, err := build(controller.Context{
		Client:    cc,
		Informers: factory,
		Recorder:  func(string) record.EventRecorder { return record.NewFakeRecorder(100) },
		Clock:     clock.RealClock{},
	})
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
	return c
}
