// Package controller holds what every controller shares: the Context they
// are built from. Each controller lives in its own subpackage and talks to
// the API server only through client-go (informers, listers, workqueues),
// exactly as it would against upstream Kubernetes.
package controller
