package exepages

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

const smapsSample = `00400000-017ff000 r--p 00000000 fe:00 123 /usr/bin/skiff
Size:              20476 kB
Rss:                3068 kB
Anonymous:             0 kB
VmFlags: rd mr mw me sd
017ff000-03d6b000 r-xp 013ff000 fe:00 123 /usr/bin/skiff
Size:              38320 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
06c15000-06c16000 r--p 06814000 fe:00 123 /usr/bin/skiff
Size:                  4 kB
Anonymous:             4 kB
VmFlags: rd mr mw me ac sd
06c16000-06c5f000 rw-p 06815000 fe:00 123 /usr/bin/skiff
Size:                292 kB
Anonymous:           116 kB
VmFlags: rd wr mr mw me ac sd
7f0000000000-7f0000001000 r--p 00000000 fe:00 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                  4 kB
Anonymous:             0 kB
7f0000002000-7f0000003000 r--p 00000000 fe:00 789 /opt/my tools/skiff
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Anonymous:           132 kB
`

func TestExecutableMappings(t *testing.T) {
	got, err := executableMappings([]byte(smapsSample), "/usr/bin/skiff")
	if err != nil {
		t.Fatal(err)
	}
	// Text and rodata only: not the relocated RELRO page (anonymous, though
	// read-only now), not the writable data, not other files.
	want := []mapping{{0x400000, 0x17ff000}, {0x17ff000, 0x3d6b000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("mappings = %x, want %x", got, want)
	}
	got, err = executableMappings([]byte(smapsSample), "/opt/my tools/skiff")
	if err != nil || len(got) != 1 || got[0] != (mapping{0x7f0000002000, 0x7f0000003000}) {
		t.Fatalf("path with a space: mappings = %x, %v", got, err)
	}
}

// executableRSS is how much of this test binary's read-only mappings is
// resident, in kB.
func executableRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, in := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 6 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			in = strings.Join(f[5:], " ") == exe && !strings.Contains(f[1], "w")
		case in && len(f) == 3 && f[0] == "Rss:":
			kb, _ := strconv.Atoi(f[1])
			total += kb
		}
	}
	return total
}

func TestTrimDropsResidentPagesAndTheProcessRunsOn(t *testing.T) {
	before := executableRSS(t)
	if before < 1024 {
		t.Skipf("only %d kB of the test binary resident; nothing to measure", before)
	}
	n, err := Trim()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("Trim found no mappings of the executable")
	}
	after := executableRSS(t)
	if after > before/2 {
		t.Errorf("resident executable pages %d kB -> %d kB; want them mostly dropped", before, after)
	}
	// Code and read-only data fault back in: formatting and reflection
	// touch both, and a relocation gone wrong would crash here.
	if s := strconv.Quote(strings.Repeat("é", 3)); s != `"ééé"` {
		t.Errorf("Quote after Trim = %s", s)
	}
	t.Logf("resident executable pages %d kB -> %d kB (%d MiB advised)", before, after, n>>20)
}

func TestInflated(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		previous, rss int64
		want          bool
	}{
		{unknown, 500 * mib, false}, // first sample after a trim: the working set faulting back
		{20 * mib, 27 * mib, false}, // a working set growing slowly
		{20 * mib, 40 * mib, true},  // another process's read-ahead mapped whole folios
		{40 * mib, 20 * mib, false}, // the kernel reclaimed some
		{20 * mib, 28 * mib, false}, // exactly the slack
	} {
		if got := inflated(tc.previous, tc.rss, 8*mib); got != tc.want {
			t.Errorf("inflated(%d MiB -> %d MiB) = %v, want %v", tc.previous/mib, tc.rss/mib, got, tc.want)
		}
	}
}
