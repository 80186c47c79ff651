// Package policy holds the registry strategy for policy/v1
// PodDisruptionBudgets: validation (minAvailable xor maxUnavailable, each
// a count or a percentage), the status rules and the table.
//
// It owns what a budget may say; computing disruptionsAllowed belongs to
// the disruption controller and enforcing it to pods/eviction. Nothing
// here touches storage or HTTP. Integer-or-percent rules are shared with
// the apps package, as upstream shares them.
//
// Where Skiff knowingly differs from upstream: label values in selectors
// are always validated strictly; upstream tolerates invalid values only in
// budgets stored before that check existed, which Skiff never had.
package policy
