package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Names every part of the node agent and the runtime configuration agree
// on.
const (
	// NetworkName is the CNI network's name; host-local keeps its
	// allocations in a directory of this name under IPAMDataDir.
	NetworkName = "skiff"
	// BridgeName is the Linux bridge pods are attached to. Its address is
	// the first of the node's pod CIDR, the pods' gateway.
	BridgeName = "skiff0"
	// ConfFileName sorts first in ConfDir, where containerd's CRI plugin
	// loads the first file it finds (max_conf_num = 1).
	ConfFileName = "10-skiff.conflist"
	// CNIVersion is the spec version the list declares; Debian's plugins
	// (1.1) and containerd's libcni both speak it.
	CNIVersion = "1.0.0"
	// DefaultBinDir is where Debian's containernetworking-plugins puts
	// the plugin binaries.
	DefaultBinDir = "/usr/lib/cni"
)

// RequiredPlugins are the plugin binaries the configuration names, plus
// loopback, which containerd's CRI plugin runs on its own for every pod's
// lo (its WithLoNetwork) rather than from the list.
var RequiredPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// ConfDir is the directory the runtime reads CNI configuration from
// (containerd's plugins."io.containerd.grpc.v1.cri".cni.conf_dir).
func ConfDir(dataDir string) string { return filepath.Join(dataDir, "cni", "conf") }

// BinDir is the directory the runtime runs CNI plugins from
// (containerd's cni.bin_dir).
func BinDir() string { return DefaultBinDir }

// IPAMDataDir is host-local's state: one file per allocated IP under
// IPAMDataDir/NetworkName. Keeping it under the agent's data dir (rather
// than host-local's default /var/lib/cni/networks) lets tests and several
// agents on one machine keep apart.
func IPAMDataDir(dataDir string) string { return filepath.Join(dataDir, "cni", "networks") }

// ConfPath is the configuration file Write produces.
func ConfPath(dataDir string) string { return filepath.Join(ConfDir(dataDir), ConfFileName) }

// ParsePodCIDRs parses the node's pod CIDRs as the agent passes them to
// the runtime: spec.podCIDRs joined with commas, as the kubelet passes
// them to CRI's UpdateRuntimeConfig.
func ParsePodCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("pod CIDR %q: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pod CIDR in %q", s)
	}
	return out, nil
}

// The JSON shapes of the plugins' configuration (their own docs name the
// fields).
type (
	confList struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []any  `json:"plugins"`
	}
	bridgeConf struct {
		Type        string `json:"type"`
		Bridge      string `json:"bridge"`
		IsGateway   bool   `json:"isGateway"`
		IPMasq      bool   `json:"ipMasq"`
		HairpinMode bool   `json:"hairpinMode"`
		MTU         int    `json:"mtu,omitempty"`
		IPAM        ipam   `json:"ipam"`
	}
	ipam struct {
		Type    string        `json:"type"`
		Ranges  [][]ipamRange `json:"ranges"`
		Routes  []ipamRoute   `json:"routes"`
		DataDir string        `json:"dataDir"`
	}
	ipamRange struct {
		Subnet string `json:"subnet"`
	}
	ipamRoute struct {
		Dst string `json:"dst"`
	}
	portmapConf struct {
		Type         string          `json:"type"`
		Capabilities map[string]bool `json:"capabilities"`
		SNAT         bool            `json:"snat"`
	}
)

// Options are the knobs of the configuration beyond the pod CIDRs.
type Options struct {
	// MTU of the bridge and the pods' veths; 0 lets the plugin choose
	// (the kernel default, 1500).
	MTU int
}

// ConfList renders the node's CNI configuration list for its pod CIDRs
// (one per IP family):
//
//   - bridge BridgeName, the pods' default gateway (isGateway), with
//     hairpin mode so a pod reaches itself through a service IP, and
//     ipMasq so pod traffic leaving the node is masqueraded;
//   - host-local IPAM over the pod CIDRs, its state under IPAMDataDir;
//   - portmap with the portMappings capability, through which the runtime
//     passes a pod's hostPorts, and snat so a hostPort is reachable from
//     the node itself.
func ConfList(dataDir string, podCIDRs []netip.Prefix, opts Options) ([]byte, error) {
	if len(podCIDRs) == 0 {
		return nil, fmt.Errorf("CNI configuration needs a pod CIDR")
	}
	im := ipam{Type: "host-local", DataDir: IPAMDataDir(dataDir)}
	for _, p := range podCIDRs {
		im.Ranges = append(im.Ranges, []ipamRange{{Subnet: p.Masked().String()}})
		dst := "0.0.0.0/0"
		if p.Addr().Is6() {
			dst = "::/0"
		}
		im.Routes = append(im.Routes, ipamRoute{Dst: dst})
	}
	list := confList{
		CNIVersion: CNIVersion,
		Name:       NetworkName,
		Plugins: []any{
			bridgeConf{Type: "bridge", Bridge: BridgeName, IsGateway: true, IPMasq: false, HairpinMode: true, MTU: opts.MTU, IPAM: im},
			portmapConf{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}, SNAT: true},
		},
	}
	out, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding CNI configuration: %w", err)
	}
	return append(out, '\n'), nil
}

// Write renders the configuration for podCIDRs (comma-separated, as
// ParsePodCIDRs takes them) into ConfPath(dataDir). It replaces the file
// atomically, because containerd watches the directory and must never
// load half a file, and leaves an identical file alone so that repeated
// calls do not make the runtime reload. It reports whether it wrote.
func Write(dataDir, podCIDRs string, opts Options) (bool, error) {
	cidrs, err := ParsePodCIDRs(podCIDRs)
	if err != nil {
		return false, err
	}
	data, err := ConfList(dataDir, cidrs, opts)
	if err != nil {
		return false, err
	}
	path := ConfPath(dataDir)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := PrepareDirs(dataDir); err != nil {
		return false, err
	}
	// The temporary name does not end in .conflist, so the runtime's
	// loader skips it while it is being written.
	tmp, err := os.CreateTemp(ConfDir(dataDir), ".skiff-cni-*.tmp")
	if err != nil {
		return false, fmt.Errorf("writing CNI configuration: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("writing CNI configuration: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return false, fmt.Errorf("writing CNI configuration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("writing CNI configuration: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("installing CNI configuration: %w", err)
	}
	return true, nil
}

// PrepareDirs creates ConfDir and IPAMDataDir. The runtime should be
// started after it: containerd watches ConfDir for the configuration that
// Write puts there once the node has a pod CIDR, and until then reports
// its network as not ready.
func PrepareDirs(dataDir string) error {
	if err := os.MkdirAll(ConfDir(dataDir), 0o755); err != nil {
		return fmt.Errorf("creating CNI configuration directory: %w", err)
	}
	if err := os.MkdirAll(IPAMDataDir(dataDir), 0o700); err != nil {
		return fmt.Errorf("creating CNI IPAM directory: %w", err)
	}
	return nil
}

// MissingPlugins lists the RequiredPlugins that binDir lacks, for `skiff
// check` and the agent's start-up error.
func MissingPlugins(binDir string) []string {
	var missing []string
	for _, p := range RequiredPlugins {
		if fi, err := os.Stat(filepath.Join(binDir, p)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	return missing
}
