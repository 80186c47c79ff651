package server

import (
	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/cronjob"
	"github.com/skiff-sh/skiff/internal/controller/deployment"
	"github.com/skiff-sh/skiff/internal/controller/job"
	"github.com/skiff-sh/skiff/internal/controller/manager"
	"github.com/skiff-sh/skiff/internal/controller/replicaset"
)

// controllers is the explicit list of controllers `skiff server` runs.
func controllers() []manager.Controller {
	return []manager.Controller{
		{Name: "replicaset", New: func(cc controller.Context) (manager.Runner, error) { return replicaset.NewReplicaSetController(cc) }},
		{Name: "replicationcontroller", New: func(cc controller.Context) (manager.Runner, error) { return replicaset.NewReplicationManager(cc) }},
		{Name: "deployment", New: func(cc controller.Context) (manager.Runner, error) { return deployment.New(cc) }},
		{Name: "job", New: func(cc controller.Context) (manager.Runner, error) { return job.New(cc) }},
		{Name: "ttl-after-finished", New: func(cc controller.Context) (manager.Runner, error) { return job.NewTTLAfterFinished(cc) }},
		{Name: "cronjob", New: func(cc controller.Context) (manager.Runner, error) { return cronjob.New(cc) }},
	}
}
