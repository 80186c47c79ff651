// Package endpoints is upstream's endpoint controller: it keeps one core/v1
// Endpoints object, named after the Service, for every Service that has a
// selector. Pods the selector matches and that have an IP are listed under
// addresses when Ready (or when the Service sets publishNotReadyAddresses)
// and under notReadyAddresses otherwise, on every Service port whose
// targetPort the pod resolves (named ports per pod). Terminating pods are
// left out unless the Service publishes unready addresses; finished pods
// (Succeeded, Failed) always are.
//
// What it owns: Endpoints labelled endpoints.kubernetes.io/managed-by=
// endpoint-controller, plus the Service's labels and the headless marker,
// annotated with endpoints.kubernetes.io/last-change-trigger-time and, past
// 1000 addresses, endpoints.kubernetes.io/over-capacity=truncated.
//
// What it must not touch: Endpoints of Services without a selector (their
// owner writes them) and ExternalName Services, and Endpoints it did not
// label, which it never deletes, even when no Service has their name.
//
// Cost: a pod event is matched against the cached, pre-parsed selectors of
// the Services in the pod's namespace only (servicepods.SelectorCache), and
// a sync lists pods from the namespace index, so pod churn never costs
// pods x services per event. The workqueue folds bursts of events for one
// Service into one sync.
//
// Where it knowingly differs from upstream: write-failure events are
// recorded on the Service (upstream records them on the Endpoints object
// it failed to create, which has no UID); subsets are sorted by address and
// port rather than by upstream's hash order; an over-capacity object is
// rewritten only when its truncated content changes.
package endpoints
