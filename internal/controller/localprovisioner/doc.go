// Package localprovisioner is Skiff's persistent volume controller: a
// dynamic provisioner for the default StorageClass "local-path"
// (provisioner skiff.dev/local-path, WaitForFirstConsumer, reclaim Delete)
// that backs each claim with a hostPath directory on the node the claim's
// first pod runs on, plus a minimal binder for pre-created volumes.
//
// It owns: the "local-path" StorageClass (created at start when missing,
// marked default), PersistentVolumes it provisions (named pvc-<claim uid>,
// annotated pv.kubernetes.io/provisioned-by, with a required node affinity
// on kubernetes.io/hostname and the cleanup finalizer), the binding fields
// of claims and volumes (PVC spec.volumeName, PV spec.claimRef, the
// pv.kubernetes.io/* annotations, both status phases) and a claim's
// storageClassName when it names none and a default class exists
// (upstream's retroactive default class assignment). It must not touch pods
// or nodes, and never deletes data itself: the directory lives on a node,
// so NodeCleaner, run by the agent on that node, removes it and then the
// finalizer that holds the PV object until it has.
//
// Which node: upstream's scheduler writes volume.kubernetes.io/selected-node
// on a WaitForFirstConsumer claim. Skiff's scheduler does not yet, so the
// controller also watches pods and takes spec.nodeName of the first bound
// pod that uses the claim (the pod then already runs there; the PV's node
// affinity pins later pods to it, as long as the scheduler honours PV node
// affinity).
//
// Differences from upstream:
//   - No capacity accounting: the requested size is recorded, not enforced.
//   - Node affinity uses the node name as the kubernetes.io/hostname value.
//   - The binder matches Available volumes by class, access modes,
//     volume mode, label selector, capacity (smallest fit) and, once a
//     WaitForFirstConsumer claim has a node, the volume's node affinity;
//     it does not feed volume topology back into scheduling.
//   - Released volumes with reclaim Delete are deleted only when this
//     provisioner made them; others stay Released. Recycle is unsupported.
//   - No pv-protection/pvc-protection finalizers, no expansion, no events
//     for claims that wait.
package localprovisioner
