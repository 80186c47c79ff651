// Package exepages keeps the part of Skiff's own executable that a
// long-running process holds in memory down to the code and data it
// actually uses.
//
// The binary is large (kubectl and client-go are linked in) and Linux reads
// and maps executables in large folios: one page fault on a cold part of
// the file maps hundreds of kilobytes around it. Package initialisation
// touches code all over the file, so a freshly started server or agent
// had nearly the whole executable mapped, although it runs a fraction of
// it. Trim advises the read-only mappings of the executable to be read one
// page at a time from now on, drops the pages only this process maps,
// unmaps the rest and evicts the file's cached pages that no process maps
// any more, so that what comes back resident is the working set. The
// memory is given back to the machine, not merely unmapped. Keep runs Trim
// after start-up and again when other processes' reads of the file have
// inflated this one's share.
//
// The package touches only read-only, file-backed mappings of the running
// executable; the heap, the stacks and the writable data segment are the
// Go runtime's business.
package exepages
