package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// checkHostPath applies a hostPath volume's type, creating the directory
// or file for the *OrCreate types (upstream's hostPathTypeChecker).
func checkHostPath(path string, t *corev1.HostPathType) error {
	typ := corev1.HostPathUnset
	if t != nil {
		typ = *t
	}
	switch typ {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("hostPath %s: creating directory: %w", path, err)
			}
		}
		typ = corev1.HostPathDirectory
	case corev1.HostPathFileOrCreate:
		// As upstream, the parent directory must already exist.
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("hostPath %s: creating file: %w", path, err)
			}
			if f != nil {
				_ = f.Close()
			}
		}
		typ = corev1.HostPathFile
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("hostPath type check failed: %s is not a %s: %w", path, typ, err)
	}
	if !hostPathMatches(st.Mode(), typ) {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", path, typ)
	}
	return nil
}

func hostPathMatches(mode fs.FileMode, typ corev1.HostPathType) bool {
	switch typ {
	case corev1.HostPathDirectory:
		return mode.IsDir()
	case corev1.HostPathFile:
		return mode.IsRegular()
	case corev1.HostPathSocket:
		return mode&fs.ModeSocket != 0
	case corev1.HostPathCharDev:
		return mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice != 0
	case corev1.HostPathBlockDev:
		return mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice == 0
	}
	return false
}

// setupEmptyDir creates the directory and, for medium Memory, mounts a
// tmpfs on it unless one is there already.
func setupEmptyDir(dir string, s *corev1.EmptyDirVolumeSource) error {
	// 0777 as upstream: any container user must be able to write.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("creating emptyDir: %w", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("chmod emptyDir: %w", err)
	}
	switch s.Medium {
	case corev1.StorageMediumDefault:
		return nil
	case corev1.StorageMediumMemory:
		var size *resource.Quantity
		if s.SizeLimit != nil && !s.SizeLimit.IsZero() {
			size = s.SizeLimit
		}
		return mountTmpfs(dir, size, 0o777)
	}
	return fmt.Errorf("emptyDir medium %q is not supported", s.Medium)
}

// claimPath resolves a PVC to its bound PV's hostPath or local path.
func (m *Manager) claimPath(ns string, src *corev1.PersistentVolumeClaimVolumeSource) (string, error) {
	pvc, err := m.cfg.Sources.GetPersistentVolumeClaim(ns, src.ClaimName)
	if err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s: %w", ns, src.ClaimName, err)
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s is not bound", ns, src.ClaimName)
	}
	pv, err := m.cfg.Sources.GetPersistentVolume(pvc.Spec.VolumeName)
	if err != nil {
		return "", fmt.Errorf("persistentvolume %s: %w", pvc.Spec.VolumeName, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != ns || ref.Name != src.ClaimName {
		return "", fmt.Errorf("persistentvolume %s is not bound to %s/%s", pv.Name, ns, src.ClaimName)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, checkHostPath(pv.Spec.HostPath.Path, pv.Spec.HostPath.Type)
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, checkHostPath(pv.Spec.Local.Path, ptrType(corev1.HostPathDirectory))
	}
	return "", fmt.Errorf("persistentvolume %s: only hostPath and local volumes are supported", pv.Name)
}

func ptrType(t corev1.HostPathType) *corev1.HostPathType { return &t }
