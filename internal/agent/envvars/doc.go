// Package envvars resolves what a container sees in its environment, as the
// kubelet does before it creates a container: env (value, configMapKeyRef,
// secretKeyRef, fieldRef, resourceFieldRef), envFrom (configMapRef,
// secretRef with prefix), the service link variables (FOO_SERVICE_HOST,
// FOO_PORT_80_TCP_ADDR, ...) and $(VAR) expansion in env values, command
// and args.
//
// It owns no state and touches nothing: sources are read through the
// Sources interface (the agent backs it with informers, tests with fakes)
// and the result is a plain list the runtime passes to CRI.
//
// The field and resource helpers (FieldValue, ResourceValue, FormatMap) are
// shared with the downward API volume in internal/agent/volumes.
//
// Differences from upstream:
//   - The result is ordered (envFrom in order, then env in order, then the
//     service variables sorted by name) where upstream builds a map;
//     names still appear once, last definition wins, as upstream.
//   - Env var names from envFrom are checked with the relaxed rule
//     (printable ASCII except '='), upstream's RelaxedEnvironmentVariable
//     Validation default; invalid keys are skipped and returned in
//     Result.InvalidKeys so the caller can record upstream's
//     InvalidEnvironmentVariableNames event.
//   - Pod-level resources (spec.resources) are not consulted by
//     resourceFieldRef; container limits default to node allocatable.
//   - hugepages-* resourceFieldRefs are not supported.
package envvars
