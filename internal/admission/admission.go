// Package admission defines the hook through which the API server lets
// plugins (LimitRanger, ResourceQuota, ...) inspect and change a write after
// defaulting and before validation, as upstream's admission chain does.
// Plugins live in subpackages; the server's wiring lists them explicitly.
package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Operation is the kind of write being admitted.
type Operation string

const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Attributes describe one write. Object is the object about to be stored
// (a plugin may mutate it on Create and Update); OldObject is the stored
// version for Update and Delete.
type Attributes struct {
	Operation   Operation
	Resource    schema.GroupVersionResource
	Subresource string
	Namespace   string
	Name        string
	Object      runtime.Object
	OldObject   runtime.Object
	DryRun      bool
}

// Plugin admits or rejects a write. A rejection is an API error
// (apierrors.NewForbidden, NewInvalid, ...) returned to the client as is.
type Plugin interface {
	Admit(ctx context.Context, a *Attributes) error
}
