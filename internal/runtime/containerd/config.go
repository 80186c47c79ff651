package containerd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/template"
	"time"
)

// Cgroup drivers, as the kubelet names them.
const (
	CgroupDriverSystemd  = "systemd"
	CgroupDriverCgroupfs = "cgroupfs"
)

// DefaultCNIBinDir is where Debian's containernetworking-plugins package
// installs the plugins (upstream's tarball uses /opt/cni/bin).
const DefaultCNIBinDir = "/usr/lib/cni"

// Config configures the supervised containerd. Zero fields take the
// defaults documented on each.
type Config struct {
	// Dir holds config.toml, root/, state/ and the socket, typically
	// DATA_DIR/containerd. Required.
	Dir string
	// Binary is the containerd executable; default "containerd" on PATH.
	Binary string
	// PauseImage is the sandbox_image: Skiff's locally built pause image.
	// Required, since no registry is reachable to pull upstream's.
	PauseImage string
	// CNIConfDir defaults to Dir/../cni/conf (DATA_DIR/cni/conf);
	// CNIBinDir to DefaultCNIBinDir.
	CNIConfDir string
	CNIBinDir  string
	// CgroupDriver is CgroupDriverSystemd or CgroupDriverCgroupfs; empty
	// detects the host's with DetectCgroupDriver.
	CgroupDriver string
	// StartTimeout bounds the wait for the socket after each start;
	// default 30s.
	StartTimeout time.Duration
	// StopTimeout is how long SIGTERM gets before SIGKILL; default 10s.
	StopTimeout time.Duration
}

// SocketPath is the unix socket containerd serves CRI and its own API on.
func (c Config) SocketPath() string { return filepath.Join(c.Dir, "containerd.sock") }

// Endpoint is SocketPath as a CRI endpoint URL.
func (c Config) Endpoint() string { return "unix://" + c.SocketPath() }

// ConfigPath is where the config.toml is written.
func (c Config) ConfigPath() string { return filepath.Join(c.Dir, "config.toml") }

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("containerd: Config.Dir is required")
	}
	if c.PauseImage == "" {
		return c, errors.New("containerd: Config.PauseImage is required")
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, fmt.Errorf("containerd: dir %s: %w", c.Dir, err)
	}
	c.Dir = abs
	// The kernel limits sun_path to 108 bytes, and containerd adds
	// ".ttrpc" for its second socket.
	if n := len(c.SocketPath()) + len(".ttrpc"); n >= 108 {
		return c, fmt.Errorf("containerd: socket path %s is %d bytes, over the 107 a unix socket allows", c.SocketPath(), n)
	}
	if c.Binary == "" {
		c.Binary = "containerd"
	}
	if c.CNIConfDir == "" {
		c.CNIConfDir = filepath.Join(filepath.Dir(c.Dir), "cni", "conf")
	}
	if c.CNIBinDir == "" {
		c.CNIBinDir = DefaultCNIBinDir
	}
	if c.CgroupDriver == "" {
		c.CgroupDriver = DetectCgroupDriver()
	}
	if c.CgroupDriver != CgroupDriverSystemd && c.CgroupDriver != CgroupDriverCgroupfs {
		return c, fmt.Errorf("containerd: cgroup driver %q is neither %q nor %q", c.CgroupDriver, CgroupDriverSystemd, CgroupDriverCgroupfs)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 10 * time.Second
	}
	return c, nil
}

// DetectCgroupDriver returns CgroupDriverSystemd when systemd is the init
// system (it then owns the cgroup tree, and a second manager writing
// cgroupfs directly would fight it), else CgroupDriverCgroupfs. The test
// is sd_booted()'s: /run/systemd/system exists.
func DetectCgroupDriver() string {
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		return CgroupDriverSystemd
	}
	return CgroupDriverCgroupfs
}

// configTemplate is containerd's version 2 config (containerd 1.6 and
// 1.7 read it; 2.x migrates it on load). Values are quoted with %q-style
// strconv.Quote, which TOML basic strings accept.
//
// It deliberately sets no registry config_path: without one, the CRI
// plugin (1.6 and 1.7) talks plain HTTP to registries on localhost,
// 127.0.0.1 and ::1, whatever the port, and HTTPS to all others, which is
// what the agent's pull tests need (a registry on 127.0.0.1:<random
// port>). With a config_path, containerd 1.6 would default every host to
// HTTPS and has no _default hosts.toml, so each loopback host:port would
// need a directory of its own.
var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{"q": strconv.Quote}).Parse(`# Written by skiff; rewritten on every start.
version = 2
root = {{q .Root}}
state = {{q .State}}
# Snapshotters other than overlayfs only cost start time and log noise.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = {{q .Socket}}

[ttrpc]
  address = {{q .TTRPC}}

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = {{q .Opt}}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {{q .PauseImage}}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_tls_streaming = false
  netns_mounts_under_state_dir = true
  # Clamp containers' oom_score_adj to containerd's own (the sandbox asks
  # for -998): hosts and VMs without CAP_SYS_RESOURCE refuse to lower it,
  # and runc then fails every sandbox with "can't get final child's PID".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {{q .CNIBinDir}}
    conf_dir = {{q .CNIConfDir}}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = {{.Systemd}}
`))

// Render returns the config.toml for c (after defaults).
func (c Config) Render() ([]byte, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = configTemplate.Execute(&b, map[string]any{
		"Root":       filepath.Join(c.Dir, "root"),
		"State":      filepath.Join(c.Dir, "state"),
		"Opt":        filepath.Join(c.Dir, "opt"),
		"Socket":     c.SocketPath(),
		"TTRPC":      c.SocketPath() + ".ttrpc",
		"PauseImage": c.PauseImage,
		"CNIBinDir":  c.CNIBinDir,
		"CNIConfDir": c.CNIConfDir,
		"Systemd":    c.CgroupDriver == CgroupDriverSystemd,
	})
	if err != nil {
		return nil, fmt.Errorf("containerd: rendering config: %w", err)
	}
	return b.Bytes(), nil
}
