package core

import (
	"fmt"
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Config is what the core registry needs from the server's flags.
type Config struct {
	// ServiceCIDR is the range ClusterIPs are allocated from. The zero value
	// means 10.96.0.0/12, kubeadm's default.
	ServiceCIDR netip.Prefix
	// NodePortRange is the inclusive range NodePorts are allocated from. The
	// zero value (or an invalid range) means 30000-32767, upstream's default.
	NodePortRange [2]int
}

// Defaults used when Config leaves a field unset.
var (
	defaultServiceCIDR   = netip.MustParsePrefix("10.96.0.0/12")
	defaultNodePortRange = [2]int{30000, 32767}
)

func (c Config) withDefaults() Config {
	if !c.ServiceCIDR.IsValid() {
		c.ServiceCIDR = defaultServiceCIDR
	}
	c.ServiceCIDR = c.ServiceCIDR.Masked()
	lo, hi := c.NodePortRange[0], c.NodePortRange[1]
	if lo < 1 || hi > 65535 || lo > hi {
		c.NodePortRange = defaultNodePortRange
	}
	return c
}

// Resources returns every core/v1 resource Skiff serves. Each call builds a
// fresh service allocator, so call it once per server.
func Resources(cfg Config) []registry.Resource {
	cfg = cfg.withDefaults()
	return []registry.Resource{
		namespaceResource(),
		podResource(),
		serviceResource(cfg),
		endpointsResource(),
		configMapResource(),
		secretResource(),
		serviceAccountResource(),
		nodeResource(),
		eventResource(),
		persistentVolumeResource(),
		persistentVolumeClaimResource(),
		replicationControllerResource(),
		resourceQuotaResource(),
		limitRangeResource(),
		podTemplateResource(),
	}
}

// coreGVR is the address of a core/v1 resource ("" group).
func coreGVR(plural string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Version: "v1", Resource: plural}
}

// metadataPath roots every ObjectMeta error, as upstream's do.
var metadataPath = field.NewPath("metadata")

// translateTimestampSince renders an age the way upstream's printers do.
func translateTimestampSince(ts metav1.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts.Time))
}

// nameColumn and ageColumn are the columns nearly every upstream table
// starts and ends with.
func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
}

func ageColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
}

// The adapters below turn typed functions into the runtime.Object shaped
// functions of registry.Strategy. A wrong type is a wiring bug in the
// server, never a client error, so validators report it as an internal
// error rather than panicking.

func wrongType(want any, got runtime.Object) *field.Error {
	return field.InternalError(field.NewPath(""), fmt.Errorf("expected %T, got %T", want, got))
}

func defaulter[T runtime.Object](f func(T)) func(runtime.Object) {
	return func(obj runtime.Object) {
		if t, ok := obj.(T); ok {
			f(t)
		}
	}
}

func updater[T runtime.Object](f func(obj, old T)) func(obj, old runtime.Object) {
	return func(obj, old runtime.Object) {
		t, ok1 := obj.(T)
		o, ok2 := old.(T)
		if ok1 && ok2 {
			f(t, o)
		}
	}
}

func validator[T runtime.Object](f func(T) field.ErrorList) func(runtime.Object) field.ErrorList {
	return func(obj runtime.Object) field.ErrorList {
		t, ok := obj.(T)
		if !ok {
			return field.ErrorList{wrongType(t, obj)}
		}
		return f(t)
	}
}

func updateValidator[T runtime.Object](f func(obj, old T) field.ErrorList) func(obj, old runtime.Object) field.ErrorList {
	return func(obj, old runtime.Object) field.ErrorList {
		t, ok := obj.(T)
		if !ok {
			return field.ErrorList{wrongType(t, obj)}
		}
		o, ok := old.(T)
		if !ok {
			return field.ErrorList{wrongType(o, old)}
		}
		return f(t, o)
	}
}

func rower[T runtime.Object](f func(T) []any) func(runtime.Object) ([]any, error) {
	return func(obj runtime.Object) ([]any, error) {
		t, ok := obj.(T)
		if !ok {
			return nil, fmt.Errorf("table row: expected %T, got %T", t, obj)
		}
		return f(t), nil
	}
}

func fielder[T runtime.Object](f func(T) fields.Set) func(runtime.Object) fields.Set {
	return func(obj runtime.Object) fields.Set {
		t, ok := obj.(T)
		if !ok {
			return nil
		}
		return f(t)
	}
}
