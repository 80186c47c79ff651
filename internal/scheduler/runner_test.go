package scheduler

import (
	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/manager"
)

// The entry the server's controller list uses; compiling it here keeps the
// scheduler honest to the manager's Runner contract.
var _ = manager.Controller{Name: "scheduler", New: func(cc controller.Context) (manager.Runner, error) { return New(cc) }}
