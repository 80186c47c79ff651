// Package manager runs the controllers of `skiff server` the way upstream's
// kube-controller-manager does: one shared informer factory, one event
// broadcaster, and leader election on a Lease so that only one server of an
// HA control plane runs them at a time. It owns nothing but that lifecycle;
// which controllers exist is decided by the caller's explicit list.
package manager

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
)

// Runner is a built controller.
type Runner interface {
	Run(ctx context.Context) error
}

// Controller names one controller and how to build it.
type Controller struct {
	Name string
	New  func(controller.Context) (Runner, error)
}

// Config is what the manager runs.
type Config struct {
	RESTConfig *rest.Config
	// LeaseName is the Lease in kube-system the instances compete for.
	LeaseName   string
	Controllers []Controller
	Log         *slog.Logger
}

// Run campaigns for leadership and, while leading, runs every controller.
// It returns when ctx ends.
func Run(ctx context.Context, cfg Config) error {
	client, err := kubernetes.NewForConfig(cfg.RESTConfig)
	if err != nil {
		return fmt.Errorf("controller manager client: %w", err)
	}
	host, _ := os.Hostname()
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, "kube-system", cfg.LeaseName,
		client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: fmt.Sprintf("%s_%d", host, os.Getpid())})
	if err != nil {
		return fmt.Errorf("leader election lock: %w", err)
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Name:            cfg.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				if err := runControllers(ctx, client, cfg); err != nil {
					cfg.Log.Error("controllers stopped", "err", err)
				}
			},
			OnStoppedLeading: func() { cfg.Log.Info("stopped leading", "lease", cfg.LeaseName) },
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(ctx)
	return nil
}

func runControllers(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	cc := controller.Context{
		Client:    client,
		Informers: informers.NewSharedInformerFactory(client, 0),
		Recorder: func(component string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		},
		Clock: clock.RealClock{},
	}
	runners := make([]Runner, 0, len(cfg.Controllers))
	for _, c := range cfg.Controllers {
		r, err := c.New(cc)
		if err != nil {
			return fmt.Errorf("building %s controller: %w", c.Name, err)
		}
		runners = append(runners, r)
	}
	cc.Informers.Start(ctx.Done())
	defer cc.Informers.Shutdown()
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Add(1)
		go func(name string, r Runner) {
			defer wg.Done()
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				cfg.Log.Error("controller failed", "controller", name, "err", err)
			}
		}(cfg.Controllers[i].Name, r)
	}
	cfg.Log.Info("controllers running", "count", len(runners))
	wg.Wait()
	return nil
}
