// Package watchcache keeps every stored object decoded in memory and serves
// lists, gets and watches from there, so the Store is only touched for
// writes, for history older than the cache keeps, and for paginated lists
// that must be served at an older revision.
//
// One dispatcher goroutine consumes a single store watch over all resources
// and applies events in revision order under one lock, so the revision a
// list reports is always exactly the state it returns, across resources.
// Client watchers get events through bounded buffers: a watcher that cannot
// keep up is ended (the client re-watches from its last resourceVersion),
// never allowed to stall the dispatcher.
//
// The package must not decide API semantics (selectors, defaults, status
// codes): callers pass filters and decode functions in.
package watchcache
