package volumes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/internal/agent/envvars"
)

// Mounts returns container c's bind mounts; Setup must have prepared the
// pod. env is the container's resolved environment, used to expand
// subPathExpr. A subPath is created in the volume when missing and
// resolved through symlinks now, so it cannot escape the volume and, for
// configMap-like volumes, pins the current content (as upstream).
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container, env map[string]string) ([]Mount, error) {
	m.mu.Lock()
	vols := m.pods[pod.UID]
	m.mu.Unlock()
	out := make([]Mount, 0, len(c.VolumeMounts))
	for _, vm := range c.VolumeMounts {
		p, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("container %s mounts volume %q, which is not set up", c.Name, vm.Name)
		}
		host := p.path
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = envvars.Expand(vm.SubPathExpr, func(n string) (string, bool) { v, ok := env[n]; return v, ok })
		}
		if sub != "" {
			var err error
			if host, err = resolveSubPath(p.path, sub, !p.readOnly); err != nil {
				return nil, fmt.Errorf("container %s volume %q: %w", c.Name, vm.Name, err)
			}
		}
		prop := corev1.MountPropagationNone
		if vm.MountPropagation != nil {
			prop = *vm.MountPropagation
		}
		out = append(out, Mount{
			Volume:        vm.Name,
			HostPath:      host,
			ContainerPath: vm.MountPath,
			ReadOnly:      vm.ReadOnly || p.readOnly,
			Propagation:   prop,
		})
	}
	return out, nil
}

// resolveSubPath returns the real path of sub inside root, creating it as
// a directory when create is set and it does not exist.
func resolveSubPath(root, sub string, create bool) (string, error) {
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPath %q must be relative", sub)
	}
	for _, seg := range strings.Split(sub, "/") {
		if seg == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolving volume path: %w", err)
	}
	full := filepath.Join(root, sub)
	if _, err := os.Lstat(full); os.IsNotExist(err) && create {
		// Upstream creates missing subPaths with the volume root's mode.
		mode := os.FileMode(0o755)
		if st, err := os.Stat(root); err == nil {
			mode = st.Mode().Perm()
		}
		if err := os.MkdirAll(full, mode); err != nil {
			return "", fmt.Errorf("creating subPath %q: %w", sub, err)
		}
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", fmt.Errorf("resolving subPath %q: %w", sub, err)
	}
	if real != realRoot && !strings.HasPrefix(real, realRoot+"/") {
		return "", fmt.Errorf("subPath %q resolves outside the volume", sub)
	}
	return real, nil
}
