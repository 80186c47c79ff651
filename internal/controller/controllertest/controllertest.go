// Package controllertest runs one controller against a test API server, as
// the controllers' integration tests do.
package controllertest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
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
	return start(t, s, build, false)
}

// StartRecordingEvents is Start with events recorded to the API server, for
// tests that read them back.
func StartRecordingEvents[C Runner](t *testing.T, s *servertest.Server, build func(controller.Context) (C, error)) C {
	t.Helper()
	return start(t, s, build, true)
}

func start[C Runner](t *testing.T, s *servertest.Server, build func(controller.Context) (C, error), realEvents bool) C {
	t.Helper()
	cfg := rest.CopyConfig(s.Config)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cc := kubernetes.NewForConfigOrDie(cfg)
	factory := informers.NewSharedInformerFactory(cc, 0)
	ctx, cancel := context.WithCancel(context.Background())
	recorder := func(string) record.EventRecorder { return record.NewFakeRecorder(100) }
	stopEvents := func() {}
	if realEvents {
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cc.CoreV1().Events("")})
		recorder = func(component string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		}
		stopEvents = broadcaster.Shutdown
	}
	c, err := build(controller.Context{Client: cc, Informers: factory, Recorder: recorder, Clock: clock.RealClock{}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
		stopEvents()
	})
	return c
}

// Eventually polls cond until it returns nil, failing with its last error
// after a generous deadline (the machine may be busy).
func Eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
