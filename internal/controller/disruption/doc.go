// Package disruption is upstream's disruption controller: it keeps the
// status of every PodDisruptionBudget (policy/v1) current, which is what
// the API server's pods/eviction handler reads to decide whether an
// eviction may proceed and then decrements with a conditional update.
//
// Status: expectedPods and desiredHealthy from minAvailable or
// maxUnavailable (an integer minAvailable counts matching pods; percentages
// and maxUnavailable scale against the replicas of the pods' controllers,
// found through ownerReferences: ReplicationController, ReplicaSet (or its
// Deployment), StatefulSet from informer caches, anything else through its
// scale subresource); currentHealthy, the Ready pods not being deleted and
// not recently evicted; disruptionsAllowed; observedGeneration; the
// DisruptionAllowed condition (SufficientPods, InsufficientPods, or
// SyncFailed when the status cannot be computed, which also sets
// disruptionsAllowed to 0). Entries of status.disruptedPods are dropped
// once the pod is being deleted, is gone, or has not been deleted within
// DeletionTimeout (the budget is rechecked then).
//
// What it owns: PodDisruptionBudget status, nothing else. It must not
// touch pods or budgets' specs.
//
// Where it knowingly differs from upstream: a pod event queues every
// budget selecting the pod, not only the first; the stale DisruptionTarget
// pod condition cleanup (a separate upstream worker) is not done here.
package disruption
