package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one served resource: how clients address it, how
// discovery lists it, and the Strategy that governs writes to it. The API
// server serves every Resource through one generic code path.
type Resource struct {
	// GVR is the group, version and plural name clients use in URLs.
	GVR        schema.GroupVersionResource
	Kind       string
	Singular   string
	ShortNames []string
	Categories []string
	Namespaced bool

	// StorageGVR is the resource objects are stored as, when it differs from
	// GVR (events.k8s.io/v1 events are stored as core/v1 events). Objects are
	// converted with the scheme's registered conversions.
	StorageGVR schema.GroupVersionResource

	// HasStatus enables the status subresource and the spec/status split:
	// writes to the main resource keep the stored status, writes to /status
	// keep everything but the status.
	HasStatus bool
	// Scale, when set, enables the scale subresource.
	Scale *Scale
	// Generation is bumped when anything but metadata and status changes.
	TracksGeneration bool

	Strategy Strategy
}

// Storage returns the resource objects are stored as.
func (r *Resource) Storage() schema.GroupVersionResource {
	if r.StorageGVR.Resource != "" {
		return r.StorageGVR
	}
	return r.GVR
}

// GroupVersionKind of objects served at GVR.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GVR.GroupVersion().WithKind(r.Kind)
}

// Strategy holds the per-kind rules. Every function may be nil, meaning the
// generic behaviour described on the field.
type Strategy struct {
	// Default fills unset fields the way upstream's defaulters do when a
	// request is decoded. Runs on create and update bodies.
	Default func(obj runtime.Object)
	// PrepareForCreate clears what clients may not set on create. Nil means:
	// reset the status to its zero value when the resource HasStatus.
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate adjusts an update of the main resource given the
	// stored object (after the generic status split has been applied).
	PrepareForUpdate func(obj, old runtime.Object)
	// Validate checks a new object.
	Validate func(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update (immutable fields and the rules of
	// Validate). Nil means Validate alone.
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// ValidateStatusUpdate checks a write to the status subresource.
	ValidateStatusUpdate func(obj, old runtime.Object) field.ErrorList

	// Columns and Row make the server-side Table rows kubectl prints.
	// Columns excludes nothing: the first column is conventionally "Name".
	// Nil means upstream's default table (Name, Created At).
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object) ([]any, error)

	// Fields returns the values field selectors match on, in addition to
	// metadata.name and metadata.namespace which are always supported.
	Fields func(obj runtime.Object) fields.Set

	// Hooks reserve cluster-wide resources (service IPs, node ports).
	Hooks WriteHooks
}

// Scale reads and writes the replica count behind the scale subresource.
type Scale struct {
	// Replicas returns spec replicas, status replicas and the label
	// selector in its string form.
	Replicas func(obj runtime.Object) (spec, status int32, selector string)
	// SetReplicas sets spec replicas.
	SetReplicas func(obj runtime.Object, replicas int32)
}

// WriteHooks reserve and release cluster-wide resources that are not part
// of any one object's storage, such as ClusterIPs and NodePorts. The API
// server calls them around its store writes.
type WriteHooks interface {
	// Rebuild replaces all reservations with those implied by the stored
	// objects; called once at start.
	Rebuild(objs []runtime.Object) error
	// BeforeCreate reserves what obj needs (and may fill in allocated
	// values). finish(true) is called after the write succeeded,
	// finish(false) if it failed or was a dry run.
	BeforeCreate(ctx context.Context, obj runtime.Object) (finish func(committed bool), err error)
	// BeforeUpdate is BeforeCreate for an update from old to obj; on
	// finish(true) it releases what only old held.
	BeforeUpdate(ctx context.Context, obj, old runtime.Object) (finish func(committed bool), err error)
	// AfterDelete releases what obj held; called once the object is gone.
	AfterDelete(obj runtime.Object)
}
