// Package imagegc deletes unused container images when the image
// filesystem fills up, as the kubelet's image garbage collector does.
//
// Every Period (default 5 minutes) the Manager takes stock of the images
// the runtime holds, remembering when it first saw each one and when it
// last saw a container use it. When the image filesystem's usage reaches
// HighThresholdPercent (default 85) it removes images that no container
// uses, that are not pinned (the pause image) and that it has known for at
// least MinAge (default 2 minutes), least recently used first, until usage
// would be back at LowThresholdPercent (default 80).
//
// # What it owns
//
// Only the removal of images, through the small Runtime interface
// (implemented by *cri.Runtime). It must not touch containers, sandboxes
// or anything else on the node, and it never removes an image some
// container (running or exited) still refers to.
//
// # Differences from the kubelet
//
//   - Usage and sizes come from the runtime only (CRI image sizes and a
//     statfs of the image filesystem), not from cAdvisor.
//   - No maximum image age (imageMaximumGCAge) and no node events
//     (FreeDiskSpaceFailed): a failure to free enough is logged and
//     returned from GarbageCollect.
//   - Image records live in memory: after an agent restart every image
//     counts as first seen then, so none is older than MinAge at once.
package imagegc
