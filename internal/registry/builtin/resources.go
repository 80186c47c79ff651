package builtin

import (
	"net/netip"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/registry/apps"
	"github.com/skiff-sh/skiff/internal/registry/batch"
	"github.com/skiff-sh/skiff/internal/registry/coordination"
	"github.com/skiff-sh/skiff/internal/registry/core"
	"github.com/skiff-sh/skiff/internal/registry/discovery"
	"github.com/skiff-sh/skiff/internal/registry/events"
	"github.com/skiff-sh/skiff/internal/registry/networking"
	"github.com/skiff-sh/skiff/internal/registry/policy"
	"github.com/skiff-sh/skiff/internal/registry/rbac"
	"github.com/skiff-sh/skiff/internal/registry/scheduling"
	"github.com/skiff-sh/skiff/internal/registry/storageclass"
)

// Config holds the cluster-wide settings strategies need.
type Config struct {
	ServiceCIDR netip.Prefix
}

// Resources lists every built-in resource the API server serves.
func Resources(cfg Config) []registry.Resource {
	var out []registry.Resource
	for _, group := range [][]registry.Resource{
		core.Resources(core.Config{ServiceCIDR: cfg.ServiceCIDR}),
		apps.Resources(),
		batch.Resources(),
		networking.Resources(),
		discovery.Resources(),
		coordination.Resources(),
		events.Resources(),
		rbac.Resources(),
		storageclass.Resources(),
		policy.Resources(),
		scheduling.Resources(),
	} {
		out = append(out, group...)
	}
	return out
}
