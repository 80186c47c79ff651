package routes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultProcSys is where the kernel's sysctls live.
const DefaultProcSys = "/proc/sys"

// Sysctls are the kernel settings pod networking needs on a node.
type Sysctls struct {
	// ProcSys is the sysctl tree; empty means DefaultProcSys. Tests point
	// it at a directory of their own.
	ProcSys string
	// IPv6 also turns on IPv6 forwarding (a dual-stack cluster CIDR).
	IPv6 bool
}

// SysctlReport says what Apply found, for the agent's log and `skiff
// check`.
type SysctlReport struct {
	// BridgeNetfilter is false when the br_netfilter module is not
	// loaded: bridged pod-to-pod traffic then bypasses the service rules,
	// so a pod reaching a service whose endpoint sits on the same node's
	// bridge is not translated. Skiff does not load kernel modules itself.
	BridgeNetfilter bool
}

// Apply sets:
//
//   - net.ipv4.ip_forward=1 (and net.ipv6.conf.all.forwarding=1 with
//     IPv6), without which the node does not route between its pods'
//     bridge and anywhere else;
//   - net.bridge.bridge-nf-call-iptables=1 (and ip6tables), when
//     br_netfilter is loaded, so that bridged traffic between pods passes
//     netfilter and service DNAT applies to it, as upstream requires.
//
// Values already right are not rewritten. These are per network
// namespace, so Apply affects the namespace of the calling thread.
func (s Sysctls) Apply() (SysctlReport, error) {
	root := s.ProcSys
	if root == "" {
		root = DefaultProcSys
	}
	set := []string{"net/ipv4/ip_forward"}
	if s.IPv6 {
		set = append(set, "net/ipv6/conf/all/forwarding")
	}
	for _, key := range set {
		if err := writeSysctl(root, key); err != nil {
			return SysctlReport{}, err
		}
	}
	var rep SysctlReport
	bridge := []string{"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"}
	if _, err := os.Stat(filepath.Join(root, bridge[0])); err == nil {
		rep.BridgeNetfilter = true
		for _, key := range bridge {
			if err := writeSysctl(root, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return rep, err
			}
		}
	}
	return rep, nil
}

// writeSysctl sets key (a path under root) to 1 unless it already is.
func writeSysctl(root, key string) error {
	path := filepath.Join(root, key)
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading sysctl %s: %w", dotted(key), err)
	}
	if strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("setting sysctl %s=1: %w", dotted(key), err)
	}
	return nil
}

func dotted(key string) string { return strings.ReplaceAll(key, "/", ".") }
