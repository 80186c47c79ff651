// Package exepages keeps the part of Skiff's own executable that a
// long-running process holds in memory down to the code and data it
// actually uses.
//
// The binary is large (kubectl and client-go are linked in) and Linux reads
// and maps executables in large folios: one page fault on a cold part of
// the file maps hundreds of kilobytes around it. Package initialisation
// touches code all over the file, so a freshly started server or agent
// has nearly the whole executable mapped, although it runs a fraction of
// it. Trim asks the kernel to drop the file pages of the executable that
// only this process maps and to fault the rest back one page at a time, so
// what stays resident is the working set. The memory is given back to the
// machine, not merely unmapped: clean file pages are evicted from the page
// cache unless another process maps them.
//
// The package touches only read-only, file-backed mappings of the running
// executable; the heap, the stacks and the writable data segment are the
// Go runtime's business.
package exepages
