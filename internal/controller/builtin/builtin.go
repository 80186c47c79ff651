// Package builtin lists the controllers `skiff server` runs: the one place
// that knows every built-in controller. It is kept out of internal/server so
// that controller packages' tests can start a server without importing
// themselves.
package builtin

import (
	"net/netip"
	"time"

	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/cronjob"
	"github.com/skiff-sh/skiff/internal/controller/daemonset"
	"github.com/skiff-sh/skiff/internal/controller/deployment"
	"github.com/skiff-sh/skiff/internal/controller/disruption"
	"github.com/skiff-sh/skiff/internal/controller/endpoints"
	"github.com/skiff-sh/skiff/internal/controller/endpointslice"
	"github.com/skiff-sh/skiff/internal/controller/garbagecollector"
	"github.com/skiff-sh/skiff/internal/controller/job"
	"github.com/skiff-sh/skiff/internal/controller/localprovisioner"
	"github.com/skiff-sh/skiff/internal/controller/manager"
	"github.com/skiff-sh/skiff/internal/controller/namespace"
	"github.com/skiff-sh/skiff/internal/controller/nodeipam"
	"github.com/skiff-sh/skiff/internal/controller/nodelifecycle"
	"github.com/skiff-sh/skiff/internal/controller/podgc"
	"github.com/skiff-sh/skiff/internal/controller/replicaset"
	"github.com/skiff-sh/skiff/internal/controller/resourcequota"
	"github.com/skiff-sh/skiff/internal/controller/serviceaccount"
	"github.com/skiff-sh/skiff/internal/controller/statefulset"
	"github.com/skiff-sh/skiff/internal/scheduler"
)

// SchedulerName names the scheduler in the list, so it can be left out.
const SchedulerName = "scheduler"

// Config tunes the built-in controllers; zero values mean upstream's
// defaults.
type Config struct {
	// NodeMonitorGracePeriod is how long a node may stay silent before it
	// is marked Unknown and tainted.
	NodeMonitorGracePeriod time.Duration
	// ClusterCIDRs are the pod ranges node IPAM cuts nodes' pod CIDRs
	// from; empty means nodeipam.DefaultClusterCIDR.
	ClusterCIDRs []netip.Prefix
	// LocalStorageDir is where the local-path provisioner puts volume
	// directories on nodes; empty means localprovisioner.DefaultBaseDir.
	// Nodes' cleaners must use the same.
	LocalStorageDir string
}

// Controllers is the explicit list of controllers `skiff server` runs.
// restConfig is their loopback connection, for the ones that need the
// metadata client.
func Controllers(restConfig *rest.Config, cfg Config) []manager.Controller {
	return []manager.Controller{
		// The scheduler runs under the same leader election as the
		// controllers: one lease, one process schedules at a time.
		{Name: SchedulerName, New: func(cc controller.Context) (manager.Runner, error) { return scheduler.New(cc) }},
		{Name: "replicaset", New: func(cc controller.Context) (manager.Runner, error) { return replicaset.NewReplicaSetController(cc) }},
		{Name: "replicationcontroller", New: func(cc controller.Context) (manager.Runner, error) { return replicaset.NewReplicationManager(cc) }},
		{Name: "deployment", New: func(cc controller.Context) (manager.Runner, error) { return deployment.New(cc) }},
		{Name: "daemonset", New: func(cc controller.Context) (manager.Runner, error) { return daemonset.New(cc) }},
		{Name: "statefulset", New: func(cc controller.Context) (manager.Runner, error) { return statefulset.New(cc) }},
		{Name: "job", New: func(cc controller.Context) (manager.Runner, error) { return job.New(cc) }},
		{Name: "ttl-after-finished", New: func(cc controller.Context) (manager.Runner, error) { return job.NewTTLAfterFinished(cc) }},
		{Name: "cronjob", New: func(cc controller.Context) (manager.Runner, error) { return cronjob.New(cc) }},
		{Name: "garbage-collector", New: func(cc controller.Context) (manager.Runner, error) {
			return garbagecollector.New(cc, garbagecollector.Config{RESTConfig: restConfig})
		}},
		{Name: "namespace", New: func(cc controller.Context) (manager.Runner, error) {
			return namespace.New(cc, namespace.Config{RESTConfig: restConfig})
		}},
		{Name: "node-lifecycle", New: func(cc controller.Context) (manager.Runner, error) {
			return nodelifecycle.New(cc, nodelifecycle.Config{NodeMonitorGracePeriod: cfg.NodeMonitorGracePeriod})
		}},
		{Name: "taint-eviction", New: func(cc controller.Context) (manager.Runner, error) { return nodelifecycle.NewTaintEviction(cc) }},
		{Name: "node-ipam", New: func(cc controller.Context) (manager.Runner, error) {
			return nodeipam.New(cc, nodeipam.Config{ClusterCIDRs: cfg.ClusterCIDRs})
		}},
		{Name: "pod-garbage-collector", New: func(cc controller.Context) (manager.Runner, error) { return podgc.New(cc, podgc.Config{}) }},
		{Name: "endpoint", New: func(cc controller.Context) (manager.Runner, error) { return endpoints.New(cc) }},
		{Name: "endpointslice", New: func(cc controller.Context) (manager.Runner, error) { return endpointslice.New(cc) }},
		{Name: "serviceaccount", New: func(cc controller.Context) (manager.Runner, error) { return serviceaccount.New(cc) }},
		{Name: "disruption", New: func(cc controller.Context) (manager.Runner, error) { return disruption.New(cc) }},
		{Name: "resourcequota", New: func(cc controller.Context) (manager.Runner, error) { return resourcequota.New(cc) }},
		{Name: "local-path-provisioner", New: func(cc controller.Context) (manager.Runner, error) {
			return localprovisioner.New(cc, localprovisioner.Config{BaseDir: cfg.LocalStorageDir})
		}},
	}
}
