// Package randomread asks the kernel, as early in start-up as a Go package
// can, to stop reading Skiff's executable ahead when it pages in code and
// data. Imported for its effect by cmd/skiff.
//
// Read-ahead fills the page cache with large folios of the executable, and
// every process that later faults on one of them maps it whole: one
// `skiff kubectl` run could add tens of megabytes to a server's resident
// set. With this package, every skiff process pages in the executable one
// page at a time from the moment its package initialisation reaches this
// package, which Go's ordering (by import path, once a package's imports are
// initialised) places before the k8s.io packages that make up most of the
// binary. See package exepages for the trimming that follows.
//
// It depends only on syscall so that it is initialised early, and it
// ignores every error: the process works the same without it.
package randomread
