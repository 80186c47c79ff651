package randomread

import (
	"os"
	"strings"
	"testing"
)

func TestExecutableRange(t *testing.T) {
	for _, tc := range []struct {
		line       string
		start, end uintptr
		ok         bool
	}{
		{"00400000-017ff000 r--p 00000000 fe:00 123    /usr/bin/skiff", 0x400000, 0x17ff000, true},
		{"7ffd0000-7ffd1000 r-xp 00000000 fe:00 123 /opt/my tools/skiff", 0, 0, false}, // another file
		{"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 ", 0, 0, false},              // anonymous
		{"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]", 0, 0, false},
		{"garbage /usr/bin/skiff", 0, 0, false},
	} {
		start, end, ok := executableRange([]byte(tc.line), "/usr/bin/skiff")
		if start != tc.start || end != tc.end || ok != tc.ok {
			t.Errorf("%q: got %#x-%#x %v, want %#x-%#x %v", tc.line, start, end, ok, tc.start, tc.end, tc.ok)
		}
	}
}

// The test binary imports the package, so its init has run: every mapping of
// the executable must carry the kernel's random-read flag ("rr").
func TestInitAdvisedTheExecutable(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	mine, checked := false, 0
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			mine = len(f) >= 6 && strings.Join(f[5:], " ") == exe
		case mine && len(f) > 0 && f[0] == "VmFlags:":
			checked++
			if !strings.Contains(line, " rr") {
				t.Errorf("a mapping of the executable lacks the random-read flag: %s", line)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no mapping of the executable")
	}
}
