// Package registry describes the resources the API server serves: their
// names for routing and discovery, and the per-kind Strategy (defaulting,
// validation, status split, table columns, field selectors, write hooks).
//
// The group subpackages (core, apps, batch, ...) hold one file per resource;
// package builtin assembles them into the list the server is built from.
// Nothing here touches storage or HTTP: strategies are pure functions of
// objects, so they are tested with plain tables.
package registry
