package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/internal/network/cni"
)

// checkResult is one line of `skiff check`.
type checkResult struct {
	name string
	ok   bool
	// required problems fail the command; others are warnings.
	required bool
	detail   string
}

// hostProbe is what the checks read of the machine, so tests can fake it.
type hostProbe struct {
	euid     int
	lookPath func(string) (string, error)
	exists   func(string) bool
}

func realHost() hostProbe {
	return hostProbe{
		euid: os.Geteuid(),
		// sbin is often not on a user's PATH, but runc and nft live there.
		lookPath: func(name string) (string, error) {
			if p, err := exec.LookPath(name); err == nil {
				return p, nil
			}
			for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
				if p := filepath.Join(dir, name); fileExists(p) {
					return p, nil
				}
			}
			return "", exec.ErrNotFound
		},
		exists: fileExists,
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// runChecks checks what a node running real pods (--runtime=cri) needs.
func runChecks(h hostProbe) []checkResult {
	install := "install it with scripts/install-deps.sh or apt-get install "
	var out []checkResult
	out = append(out, checkResult{name: "root", required: true, ok: h.euid == 0,
		detail: pick(h.euid == 0, "running as root", "not running as root: containerd, network namespaces and nftables need root")})
	for _, bin := range []struct{ name, pkg, why string }{
		{"containerd", "containerd", "runs the containers"},
		{"runc", "runc", "containerd's OCI runtime"},
		{"ctr", "containerd", "imports Skiff's locally built images"},
		{"ip", "iproute2", "sets up pod networking"},
		{"nft", "nftables", "service and masquerading rules"},
	} {
		p, err := h.lookPath(bin.name)
		out = append(out, checkResult{name: bin.name, required: true, ok: err == nil,
			detail: pick(err == nil, p, fmt.Sprintf("%s not found (%s): %s%s", bin.name, bin.why, install, bin.pkg))})
	}
	dir, missing := "", cni.RequiredPlugins
	for _, d := range []string{"/usr/lib/cni", "/opt/cni/bin"} {
		var m []string
		for _, p := range cni.RequiredPlugins {
			if !h.exists(filepath.Join(d, p)) {
				m = append(m, p)
			}
		}
		if len(m) < len(missing) {
			dir, missing = d, m
		}
	}
	out = append(out, checkResult{name: "CNI plugins", required: true, ok: len(missing) == 0,
		detail: pick(len(missing) == 0, "in "+dir, fmt.Sprintf("missing %s in /usr/lib/cni: %scontainernetworking-plugins", strings.Join(missing, ", "), install))})
	v2 := h.exists("/sys/fs/cgroup/cgroup.controllers")
	out = append(out, checkResult{name: "cgroup v2", ok: v2,
		detail: pick(v2, "unified hierarchy at /sys/fs/cgroup", "this host uses cgroup v1: containers run, but memory accounting and pressure are v2 features (boot with systemd.unified_cgroup_hierarchy=1)")})
	return out
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// printChecks writes one line per check and reports whether every
// required one passed.
func printChecks(w io.Writer, results []checkResult) bool {
	allOK := true
	for _, r := range results {
		mark := "ok     "
		switch {
		case !r.ok && r.required:
			mark, allOK = "MISSING", false
		case !r.ok:
			mark = "WARN   "
		}
		fmt.Fprintf(w, "%s %-12s %s\n", mark, r.name, r.detail)
	}
	return allOK
}

func newCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check that this machine can run real pods (skiff agent --runtime=cri)",
		Long: `Check reports, in plain words, what a node running real containers needs and
lacks: root, containerd, runc, ctr, the CNI plugins, ip (iproute2), nft
(nftables) and cgroup v2. It exits non-zero when something required is
missing; scripts/install-deps.sh installs all of it on Debian.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !printChecks(cmd.OutOrStdout(), runChecks(realHost())) {
				return errors.New("this machine cannot run real pods yet: see MISSING above")
			}
			return nil
		},
	}
}
