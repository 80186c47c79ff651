package server

import (
	"github.com/skiff-sh/skiff/internal/controller/manager"
)

// controllers is the explicit list of controllers `skiff server` runs.
func controllers() []manager.Controller {
	return []manager.Controller{}
}
