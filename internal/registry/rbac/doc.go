// Package rbac holds the registry strategies for rbac.authorization.k8s.io/v1
// roles, clusterroles, rolebindings and clusterrolebindings: binding
// defaults, rule and subject validation, and the binding tables.
//
// It owns the shape of RBAC objects only. Whether a caller may create a
// role or binding granting more than it holds (upstream's escalation
// check) belongs to the authorizer in front of writes, and evaluating
// rules belongs to the authorizer; neither is done here. Nothing here
// touches storage or HTTP.
//
// Where Skiff knowingly differs from upstream:
//   - Roles and clusterroles leave Strategy.Columns nil, which the API
//     server renders as upstream's default table (NAME, CREATED AT), as
//     upstream does for these kinds.
//   - Names are checked as path segments (not "." or "..", no "/" or "%"),
//     upstream's deliberately minimal rule, because RBAC names appear in
//     URLs and are often colon-separated ("system:node").
package rbac
