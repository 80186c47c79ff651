package volumes

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Sources reads the API objects volumes refer to. Getters return an error
// for which apierrors.IsNotFound holds when the object does not exist.
type Sources interface {
	GetConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	GetSecret(namespace, name string) (*corev1.Secret, error)
	GetPersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error)
	GetPersistentVolume(name string) (*corev1.PersistentVolume, error)
}

// Config configures a Manager.
type Config struct {
	// DataDir is the agent's data directory; volumes live under
	// DataDir/pods/<uid>/volumes.
	DataDir string
	Sources Sources
	// Allocatable is the node's allocatable resources, the default for
	// downward API limits a container does not set.
	Allocatable corev1.ResourceList
	// SecretsOnTmpfs keeps secret and projected volumes in memory, as
	// upstream does, so secrets never reach the node's disk. It needs root
	// (CAP_SYS_ADMIN); leave it off for unprivileged agents.
	SecretsOnTmpfs bool
}

// Mount is one bind mount for a container.
type Mount struct {
	Volume        string // the pod volume's name
	HostPath      string // resolved, subPath included
	ContainerPath string
	ReadOnly      bool
	// Propagation is the container's mountPropagation (None when unset):
	// None → private, HostToContainer → rslave, Bidirectional → rshared.
	Propagation corev1.MountPropagationMode
}

// Manager prepares pod volumes. It is safe for concurrent use.
type Manager struct {
	cfg Config
	mu  sync.Mutex
	// pods holds, per pod, per volume, what Setup prepared; guarded by mu.
	pods map[types.UID]map[string]*prepared
}

// prepared is one set-up volume.
type prepared struct {
	path     string
	readOnly bool   // forced read-only (configMap, secret, ...)
	hash     string // payload hash of the last atomic write, "" if none
}

// New returns a Manager.
func New(cfg Config) *Manager {
	return &Manager{cfg: cfg, pods: map[types.UID]map[string]*prepared{}}
}

// PodDir is where a pod's volumes live.
func (m *Manager) PodDir(uid types.UID) string {
	return filepath.Join(m.cfg.DataDir, "pods", string(uid))
}

// Setup prepares every volume of pod; it is idempotent, so the agent can
// call it before each container start. It fails (and the pod must wait)
// when a non-optional source is missing or a PVC is not bound yet.
func (m *Manager) Setup(pod *corev1.Pod) error {
	// One lock for the whole write: setups and updates are cheap and
	// rare, and this keeps two writers off the same volume directory.
	m.mu.Lock()
	defer m.mu.Unlock()
	// The pod directory holds secrets: owner-only, as the kubelet's.
	if err := os.MkdirAll(m.PodDir(pod.UID), 0o750); err != nil {
		return fmt.Errorf("creating pod directory: %w", err)
	}
	vols := make(map[string]*prepared, len(pod.Spec.Volumes))
	old := m.pods[pod.UID]
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := m.setupVolume(pod, v, old[v.Name])
		if err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		vols[v.Name] = p
	}
	m.pods[pod.UID] = vols
	return nil
}

func (m *Manager) setupVolume(pod *corev1.Pod, v *corev1.Volume, old *prepared) (*prepared, error) {
	dir := func(plugin string) string {
		return filepath.Join(m.PodDir(pod.UID), "volumes", plugin, v.Name)
	}
	switch {
	case v.EmptyDir != nil:
		p := dir("kubernetes.io~empty-dir")
		return &prepared{path: p}, setupEmptyDir(p, v.EmptyDir)
	case v.HostPath != nil:
		return &prepared{path: v.HostPath.Path}, checkHostPath(v.HostPath.Path, v.HostPath.Type)
	case v.PersistentVolumeClaim != nil:
		p, err := m.claimPath(pod.Namespace, v.PersistentVolumeClaim)
		return &prepared{path: p, readOnly: v.PersistentVolumeClaim.ReadOnly}, err
	}
	plugin, ok := atomicPlugin(v)
	if !ok {
		return nil, fmt.Errorf("unsupported volume type")
	}
	p := &prepared{path: dir(plugin), readOnly: true}
	if m.cfg.SecretsOnTmpfs && (v.Secret != nil || v.Projected != nil) {
		if err := os.MkdirAll(p.path, 0o755); err != nil {
			return nil, fmt.Errorf("creating volume directory: %w", err)
		}
		if err := mountTmpfs(p.path, nil, 0o755); err != nil {
			return nil, err
		}
	}
	if old != nil {
		p.hash = old.hash
	}
	err := m.writeIfChanged(pod, v, p)
	if err != nil && p.hash != "" {
		// Written before: as upstream, a source deleted or broken later
		// leaves the last content in place rather than blocking container
		// restarts; Update keeps reporting the error.
		return p, nil
	}
	return p, err
}

// writeIfChanged computes an atomic volume's payload and writes it unless
// it hashes the same as the last write.
func (m *Manager) writeIfChanged(pod *corev1.Pod, v *corev1.Volume, p *prepared) error {
	payload, err := m.payload(pod, v)
	if err != nil {
		return err
	}
	h := payload.hash()
	if h == p.hash {
		return nil
	}
	if err := writeAtomic(p.path, payload); err != nil {
		return err
	}
	p.hash = h
	return nil
}

// Update rewrites the configMap, secret, downwardAPI and projected volumes
// of a pod Setup has prepared whose sources changed. The agent calls it on
// its periodic resync (upstream's is about a minute); when nothing changed
// it reads the sources and hashes, and writes nothing.
func (m *Manager) Update(pod *corev1.Pod) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	vols := m.pods[pod.UID]
	if vols == nil {
		return nil
	}
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p := vols[v.Name]
		if _, ok := atomicPlugin(v); !ok || p == nil {
			continue
		}
		if err := m.writeIfChanged(pod, v, p); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("updating volumes of %s/%s: %v", pod.Namespace, pod.Name, errs)
	}
	return nil
}

// Cleanup unmounts and removes everything under the pod's directory. It
// works from the filesystem, not memory, so it also cleans pods from
// before an agent restart.
func (m *Manager) Cleanup(uid types.UID) error {
	m.mu.Lock()
	delete(m.pods, uid)
	m.mu.Unlock()
	dir := m.PodDir(uid)
	if err := unmountUnder(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing pod directory: %w", err)
	}
	return nil
}

func atomicPlugin(v *corev1.Volume) (string, bool) {
	switch {
	case v.ConfigMap != nil:
		return "kubernetes.io~configmap", true
	case v.Secret != nil:
		return "kubernetes.io~secret", true
	case v.DownwardAPI != nil:
		return "kubernetes.io~downward-api", true
	case v.Projected != nil:
		return "kubernetes.io~projected", true
	}
	return "", false
}
