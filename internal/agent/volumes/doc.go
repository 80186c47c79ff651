// Package volumes prepares a pod's volumes on the node and says, per
// container, what to bind-mount where. It is the agent's side of upstream's
// volume manager and the in-tree plugins emptyDir, hostPath, configMap,
// secret, downwardAPI, projected and persistentVolumeClaim (hostPath- or
// local-backed PVs).
//
// It owns DATA_DIR/pods/<uid>/volumes/<plugin>/<name> (plugin directory
// names follow upstream: kubernetes.io~empty-dir, kubernetes.io~configmap,
// ...) and the tmpfs mounts it makes there. It must not touch anything
// else: hostPath directories are created only when the pod asks for
// DirectoryOrCreate/FileOrCreate, and are never removed. It performs no
// container mounts itself: the runtime bind-mounts the returned Mounts.
//
// configMap, secret, downwardAPI and projected volumes are written with
// upstream's AtomicWriter scheme: files go into a fresh timestamped
// directory "..2006_01_02_15_04_05.NNN", the "..data" symlink is swapped to
// it with a rename (atomic), and each user-visible top-level name is a
// symlink through "..data". A reader therefore sees either the old or the
// new set of files, never a mix. A subPath mount resolves the symlinks at
// mount time, so, as upstream, it does not see later updates.
//
// How the agent uses it: Setup(pod) before starting containers (idempotent,
// cheap when nothing changed; an error means "not yet", e.g. an unbound
// PVC), Mounts(pod, container, env) for each container's CRI mounts (env
// expands subPathExpr), Update(pod) on each periodic resync, and
// Cleanup(uid) once the pod's containers are gone.
//
// Differences from upstream:
//   - emptyDir sizeLimit on disk is advisory: nothing measures usage or
//     evicts the pod. medium: Memory is a tmpfs (needs root) sized by
//     sizeLimit when set, otherwise the kernel default (half of RAM), not
//     node allocatable memory.
//   - Secret and projected volumes are on a tmpfs only with
//     Config.SecretsOnTmpfs (needs root); otherwise on disk under DATA_DIR
//     (the pod directory is 0750).
//   - fsGroup / runAsUser ownership of volume files is not applied.
//   - projected serviceAccountToken, clusterTrustBundle and podCertificate
//     sources are skipped (no token issuance exists yet); the rest of the
//     projected volume is written.
//   - Update skips a volume whose computed payload hashes the same as the
//     last write in this process; after an agent restart the first Update
//     rewrites once.
//   - Other volume types (csi, nfs, iscsi, ephemeral, image, ...) are
//     rejected with an error.
package volumes
