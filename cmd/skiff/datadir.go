package main

import (
	"os"
	"path/filepath"
)

// dataDirEnv overrides the default data directory, for `skiff server` and
// for finding the admin kubeconfig in `skiff kubectl`.
const dataDirEnv = "SKIFF_DATA_DIR"

// defaultDataDir is $SKIFF_DATA_DIR if set, else /var/lib/skiff for root
// and $HOME/.skiff for anyone else, so an unprivileged server (simulated
// nodes, tests) never needs write access outside the home directory.
func defaultDataDir() string {
	if dir := os.Getenv(dataDirEnv); dir != "" {
		return dir
	}
	if os.Geteuid() == 0 {
		return "/var/lib/skiff"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".skiff")
	}
	return ".skiff"
}
