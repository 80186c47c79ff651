package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestChecks(t *testing.T) {
	have := map[string]bool{"/usr/lib/cni/bridge": true, "/usr/lib/cni/host-local": true, "/usr/lib/cni/loopback": true}
	h := hostProbe{
		euid: 1000,
		lookPath: func(name string) (string, error) {
			if name == "runc" {
				return "", exec.ErrNotFound
			}
			return "/usr/bin/" + name, nil
		},
		exists: func(p string) bool { return have[p] },
	}
	var out bytes.Buffer
	if printChecks(&out, runChecks(h)) {
		t.Error("checks passed without root, runc and portmap")
	}
	for _, want := range []string{
		"MISSING root", "MISSING runc", "apt-get install runc",
		"MISSING CNI plugins", "missing portmap", "WARN    cgroup v2", "ok      containerd",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	h.euid = 0
	h.lookPath = func(name string) (string, error) { return "/usr/sbin/" + name, nil }
	have["/usr/lib/cni/portmap"] = true
	out.Reset()
	if !printChecks(&out, runChecks(h)) {
		t.Errorf("checks failed on a complete host:\n%s", out.String())
	}
}
