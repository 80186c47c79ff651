// Package storage defines the Store the API server keeps objects in (a
// narrow, etcd-shaped key-value interface with a single revision counter)
// and the history compactor. Backends live in subpackages (bolt is the
// embedded default) and must all pass storetest. The watch cache in
// watchcache sits on top of any Store.
package storage
