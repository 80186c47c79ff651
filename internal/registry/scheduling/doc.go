// Package scheduling holds the registry strategy for scheduling.k8s.io/v1
// PriorityClasses and the definition of the two built-in system classes
// (SystemPriorityClasses), which the API server creates at start.
//
// It owns defaulting (preemptionPolicy PreemptLowerPriority), validation
// (user classes at most 1e9, "system-" names reserved for the built-in
// classes, value and preemptionPolicy fixed once created) and the table.
// Resolving a pod's priorityClassName belongs to pod admission, and the
// at-most-one globalDefault rule, as upstream, to admission too; neither is
// done here. Nothing here touches storage or HTTP.
//
// Where Skiff knowingly differs from upstream: nothing intended.
package scheduling
