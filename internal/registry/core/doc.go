// Package core describes the core/v1 ("" group) resources Skiff serves:
// namespaces, pods, services, endpoints, configmaps, secrets,
// serviceaccounts, nodes, events, persistentvolumes,
// persistentvolumeclaims, replicationcontrollers, resourcequotas,
// limitranges and podtemplates. Resources(cfg) returns one
// registry.Resource per kind, one file per kind.
//
// What it owns: discovery names, upstream's v1 defaulting, validation
// (field paths and messages as upstream's pkg/apis/core/validation),
// create/update preparation, server-side table columns (as upstream's
// pkg/printers/internalversion), field-selector fields, and the ClusterIP
// and NodePort allocator behind the service write hooks (allocator.go,
// service_hooks.go). It also exports SetDefaultsPodSpec and
// ValidatePodTemplateSpec for the workload groups' strategies.
//
// What it must not touch: storage, HTTP, admission (service account token
// mounts, default tolerations, default storage class, LimitRange
// defaults on pods), and controllers. Strategies are pure functions of
// objects, except the allocator, which holds in-memory reservations
// rebuilt from storage at start.
//
// Expectations on the API server:
//   - For unconditional updates (no resourceVersion in the body) it fills
//     in the stored resourceVersion before ValidateUpdate, as upstream's
//     store does; ValidateObjectMetaUpdate otherwise rejects the update.
//   - It names generateName objects before calling the service hooks, so
//     reservations are keyed by namespace/name.
//   - Namespace spec.finalizers change only through namespaces/finalize
//     (PrepareForUpdate keeps the stored ones on plain updates), so the
//     server needs that subresource for namespace deletion to finish.
//   - Endpoints reject loopback, link-local and unspecified addresses, as
//     upstream: the default/kubernetes endpoints need a routable address.
//
// Known differences from upstream:
//   - Errors are reported in a deterministic order (resource names sorted);
//     upstream iterates maps.
//   - Feature-gated behaviour follows the gates' defaults for 1.3x and is not
//     switchable: relaxed env var names are on; pod-level resources are
//     validated but not defaulted (no pod-level requests from limits);
//     RelaxedServiceNameValidation is off (service names are DNS-1035).
//   - Declarative defaults of deprecated in-tree volume plugins (rbd pool,
//     iscsi interface, azureDisk caching, ...) are not applied, and those
//     plugins' sources are not validated beyond "exactly one source".
//   - Pod validation omits securityContext, affinity, topology spread
//     constraints, resource claims, OS-specific and Windows rules, AppArmor
//     and seccomp annotation/field agreement, and per-volume-plugin checks
//     other than hostPath, emptyDir, secret, configMap, PVC, downwardAPI,
//     projected, NFS, CSI, ephemeral and image.
//   - Pod update diffs are unified JSON diffs (apimachinery's util/diff),
//     not go-cmp diffs; the message text before the diff is upstream's.
//   - Table rows carry no row conditions (upstream marks Succeeded/Failed
//     pods "Completed"); the Row contract has no place for them.
//   - The event table, like upstream's, starts with LAST SEEN: its first
//     cell is not the name (NAME is the last, wide-only column).
//   - ResourceQuota validation skips upstream's scope/resource
//     compatibility matrix; only unknown and conflicting scopes are errors.
//   - PersistentVolume validation checks only local, hostPath, NFS and CSI
//     sources in detail.
//   - The service allocator is single-stack (the family of ServiceCIDR):
//     RequireDualStack is refused for services with IPs, as upstream on a
//     single-stack cluster. Dynamic allocation is next-fit,
//     not random, and the first usable address is kept for
//     default/kubernetes (upstream only prefers it). An exhausted range is
//     a 500 InternalError, as upstream. Ranges with more than 2^24
//     addresses hand out only the first 2^24 dynamically.
//   - healthCheckNodePort is not allocated.
package core
