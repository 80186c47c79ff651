// Package apps holds the registry strategies for the apps/v1 group:
// deployments, replicasets, statefulsets, daemonsets and
// controllerrevisions. Each file owns one resource: its discovery names,
// v1 defaulting, create/update/status validation, server-side table and
// scale subresource.
//
// It owns only the rules that are specific to apps objects. Pod templates
// are defaulted with core.SetDefaultsPodSpec and validated with
// core.ValidatePodTemplateSpec; this package must not grow its own pod
// rules, and it must not touch storage, HTTP or the status split, which
// the API server applies generically from the Resource flags.
//
// Where Skiff knowingly differs from upstream:
//   - Validation runs on the v1 object, not on an internal type, so the
//     few checks upstream does after v1->internal conversion are done here
//     on the v1 fields directly (a nil spec.replicas counts as 0, which the
//     defaulter makes unreachable).
//   - A DaemonSet's template generation lives, as in v1 upstream, in the
//     deprecated.daemonset.template.generation annotation. An unparsable
//     value is replaced on create instead of failing conversion.
//   - StatefulSet pod templates are validated with core.ValidatePodTemplateSpec
//     (upstream only checks their labels and annotations) on a copy that
//     also declares a volume per volumeClaimTemplate, so mounts of claim
//     templates are accepted.
//   - Selector immutability is applied to every update: Skiff serves no
//     apps/v1beta1 or extensions/v1beta1 versions that would exempt it.
//   - StatefulSet updates may also change revisionHistoryLimit; the error
//     message is upstream's, which does not list it.
package apps
