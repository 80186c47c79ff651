// Package apiserver is Skiff's HTTP front: it authenticates requests, routes
// /api and /apis paths to the registered resources and serves every verb of
// the Kubernetes API contract (get, list, watch, create, update, patch,
// delete, deletecollection, the status, scale and binding subresources) in
// JSON, YAML and protobuf, with server-side Tables and metav1.Status errors.
//
// Every resource goes through the same generic handlers, driven by its
// registry.Resource strategy. Reads are served from the watch cache; writes
// go to the Store with compare-on-revision and come back to the cache
// through the store's watch.
//
// pods/log, pods/exec, pods/attach and pods/portforward are proxied to the
// node agent's kubelet API (kubelet.go, podlog.go, podstream.go), with the
// API server's own client certificate and without verifying the agent's
// self-signed serving certificate, as upstream does without
// --kubelet-certificate-authority. WebSocket clients are translated to
// SPDY here with upstream's translators, so agents speak SPDY only.
//
// The package owns request semantics (resourceVersion rules, status split,
// graceful deletion, finalizers, field validation). It must not hold
// per-kind rules (those live in internal/registry) nor talk to the Store
// other than through storage.Store.
package apiserver
