package exepages

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mapping is one address range of /proc/self/smaps.
type mapping struct {
	start, end uintptr
}

// executableMappings returns the mappings of the file at exe in a
// /proc/PID/smaps listing that are read-only and hold only file pages: text
// and rodata. A private mapping that was written before it became
// read-only, such as the dynamic linker's relocated GOT (RELRO), holds
// anonymous copies that dropping would replace with the unrelocated file
// contents, so any mapping with anonymous pages is left alone.
func executableMappings(smaps []byte, exe string) ([]mapping, error) {
	var out []mapping
	var cur *mapping
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if v, ok := strings.CutPrefix(line, "Anonymous:"); ok {
			if cur != nil && strings.TrimSpace(v) == "0 kB" {
				out = append(out, *cur)
			}
			cur = nil
			continue
		}
		// A mapping's header: address perms offset dev inode [pathname].
		// Its fields ("Rss:", "VmFlags:") end in a colon.
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok || strings.HasSuffix(f[0], ":") {
			continue
		}
		cur = nil
		if len(f) < 6 || strings.Join(f[5:], " ") != exe || strings.Contains(f[1], "w") {
			continue
		}
		start, err := strconv.ParseUint(lo, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed smaps line %q: %w", line, err)
		}
		end, err := strconv.ParseUint(hi, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed smaps line %q: %w", line, err)
		}
		cur = &mapping{start: uintptr(start), end: uintptr(end)}
	}
	return out, sc.Err()
}

// Trim drops the executable's read-only pages from this process and asks
// for later faults on them to bring in single pages. It returns how many
// bytes of mappings it advised.
func Trim() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("reading the memory map: %w", err)
	}
	ms, err := executableMappings(smaps, exe)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		// RANDOM first, so nothing faulted after PAGEOUT reads ahead again.
		// PAGEOUT evicts the folios only this process maps; DONTNEED then
		// unmaps those another process (say, the agent next to the server)
		// shares, which stay cached for it.
		for _, advice := range []int{unix.MADV_RANDOM, unix.MADV_PAGEOUT, unix.MADV_DONTNEED} {
			if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, uintptr(advice)); e != 0 {
				return n, fmt.Errorf("madvise(%d) on %#x-%#x: %w", advice, m.start, m.end, e)
			}
		}
		n += int(m.end - m.start)
	}
	// Evict what of the file is cached but no longer mapped by anyone,
	// such as large folios read ahead by an earlier reader of the file
	// (the build, a copy, a `skiff kubectl` run): a later fault here would
	// map such a folio whole.
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return n, fmt.Errorf("opening the executable: %w", err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return n, fmt.Errorf("dropping the executable's cached pages: %w", err)
	}
	return n, nil
}

// residentFileBytes is the file-backed part of this process's resident
// set.
func residentFileBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no RssFile in /proc/self/status")
}

// unknown is a resident size not sampled yet.
const unknown = -1

// inflated reports whether the executable's resident pages grew by more
// than slack since the previous sample.
func inflated(previous, rss, slack int64) bool {
	return previous != unknown && rss-previous > slack
}

// Keep trims once start-up has settled (after delay). The resident pages
// are sampled settle after each trim, when the working set has faulted
// back; from then on Keep checks every interval and trims again when they
// have grown by more than slack since the previous sample. A jump of that
// size between two checks comes from another process reading the file (a
// `skiff kubectl` or `skiff image` run, the server next to an agent): the
// large folios its reads leave in the page cache are mapped whole when
// this process faults on them. A working set grows slowly once start-up is
// over, and a burst of new work costs at most one extra trim. Keep returns
// when ctx ends; a failure is logged and stops it, since the process works
// the same without it.
func Keep(ctx context.Context, log *slog.Logger, delay, settle, interval time.Duration, slack int64) {
	t := time.NewTimer(delay)
	defer t.Stop()
	previous := int64(unknown)
	trim := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rss, err := residentFileBytes()
		if err != nil {
			log.Info("Not trimming the executable's resident pages", "err", err)
			return
		}
		if !trim && !inflated(previous, rss, slack) {
			previous = rss
			t.Reset(interval)
			continue
		}
		if _, err := Trim(); err != nil {
			log.Info("Not trimming the executable's resident pages", "err", err)
			return
		}
		log.Debug("Trimmed the executable's resident pages", "beforeMiB", rss>>20, "previousMiB", previous>>20)
		trim, previous = false, unknown
		t.Reset(settle)
	}
}
