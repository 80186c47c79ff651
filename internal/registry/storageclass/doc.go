// Package storageclass holds the registry strategy for storage.k8s.io/v1
// StorageClasses. It is named for the resource rather than the group so it
// does not read as Skiff's own internal/storage (the datastore).
//
// It owns defaulting (reclaim policy Delete, binding mode Immediate),
// validation (a provisioner is required; provisioner, parameters, reclaim
// policy and binding mode are fixed once created, because existing volumes
// were provisioned under them) and the table. Provisioning itself belongs
// to the volume provisioner controller. Nothing here touches storage or
// HTTP.
//
// Where Skiff knowingly differs from upstream: nothing intended. The
// single-default-class rule is, as upstream, an admission concern and not
// enforced here.
package storageclass
