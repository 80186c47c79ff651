// Package events serves events.k8s.io/v1 Events. They are stored as core/v1
// Events (Resource.StorageGVR), so one event written through either API is
// visible through both; this package owns the conversion between the two
// forms (AddConversions, ToCore, FromCore) and the events.k8s.io strategy.
//
// It must not own core/v1 Events themselves: their strategy lives with the
// core group. It touches no storage or HTTP; the API server converts with
// the scheme the conversions are registered in.
//
// Where Skiff knowingly differs from upstream:
//   - Strategy hooks accept the Event in either version, since the server
//     may pass the served or the stored object.
//   - Field selectors accept both the events.k8s.io names (regarding.*,
//     reportingController) and the core/v1 names (involvedObject.*,
//     reportingComponent); upstream maps the former onto the latter.
//   - As upstream, validation errors use core/v1 field paths
//     (involvedObject.namespace, message), since they are the stored
//     object's.
package events
