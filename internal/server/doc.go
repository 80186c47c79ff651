// Package server assembles `skiff server`: certificates, the store, the API
// server and (in later stages) controllers, scheduler and agent, in one
// explicit list, and runs them until the context ends.
package server
