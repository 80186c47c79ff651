// Package builtin assembles the built-in resources and the scheme that
// holds their types: the one place that knows every group Skiff serves.
package builtin
