package cri

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/imagegc"
)

var _ imagegc.Runtime = (*Runtime)(nil)

// ImageStatus implements agent.Runtime.
func (r *Runtime) ImageStatus(ctx context.Context, image string) (string, bool, error) {
	st, err := r.images.ImageStatus(quiet(ctx), &runtimeapi.ImageSpec{Image: image}, false)
	if err != nil {
		return "", false, fmt.Errorf("cri: image status %s: %w", image, err)
	}
	if img := st.GetImage(); img != nil && img.Id != "" {
		return img.Id, true, nil
	}
	return "", false, nil
}

// PullImage implements agent.Runtime: it always asks the runtime to pull
// (the agent applies the pull policy), with auth as CRI's AuthConfig.
func (r *Runtime) PullImage(ctx context.Context, image string, auth *agent.ImageAuth, sandbox *agent.SandboxConfig) (string, error) {
	var sbc *runtimeapi.PodSandboxConfig
	if sandbox != nil {
		sbc = r.sandboxConfig(sandbox)
	}
	var ac *runtimeapi.AuthConfig
	if auth != nil {
		ac = &runtimeapi.AuthConfig{
			Username: auth.Username, Password: auth.Password, Auth: auth.Auth,
			ServerAddress: auth.ServerAddress, IdentityToken: auth.IdentityToken, RegistryToken: auth.RegistryToken,
		}
	}
	ref, err := r.images.PullImage(quiet(ctx), &runtimeapi.ImageSpec{Image: image}, ac, sbc)
	if err != nil {
		return "", fmt.Errorf("cri: pulling %s: %w", image, err)
	}
	return ref, nil
}

// ListImages implements imagegc.Runtime.
func (r *Runtime) ListImages(ctx context.Context) ([]imagegc.Image, error) {
	list, err := r.images.ListImages(quiet(ctx), nil)
	if err != nil {
		return nil, fmt.Errorf("cri: listing images: %w", err)
	}
	out := make([]imagegc.Image, 0, len(list))
	for _, img := range list {
		out = append(out, imagegc.Image{ID: img.Id, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Size: img.Size, Pinned: img.Pinned})
	}
	return out, nil
}

// RemoveImage implements imagegc.Runtime.
func (r *Runtime) RemoveImage(ctx context.Context, id string) error {
	if err := r.images.RemoveImage(quiet(ctx), &runtimeapi.ImageSpec{Image: id}); err != nil && !isNotFound(err) {
		return fmt.Errorf("cri: removing image %s: %w", id, err)
	}
	return nil
}

// ImageFsStats implements imagegc.Runtime: CRI reports the image
// filesystem's mount point (containerd's snapshotter directory) but not
// its size, which a statfs of that directory gives, as cAdvisor does for
// the kubelet.
func (r *Runtime) ImageFsStats(ctx context.Context) (imagegc.FsStats, error) {
	info, err := r.images.ImageFsInfo(quiet(ctx))
	if err != nil {
		return imagegc.FsStats{}, fmt.Errorf("cri: image filesystem info: %w", err)
	}
	fss := info.GetImageFilesystems()
	if len(fss) == 0 || fss[0].GetFsId().GetMountpoint() == "" {
		return imagegc.FsStats{}, fmt.Errorf("cri: runtime reports no image filesystem")
	}
	mp := fss[0].GetFsId().GetMountpoint()
	var st unix.Statfs_t
	if err := unix.Statfs(mp, &st); err != nil {
		return imagegc.FsStats{}, fmt.Errorf("cri: statfs %s: %w", mp, err)
	}
	bs := uint64(st.Bsize)
	return imagegc.FsStats{CapacityBytes: st.Blocks * bs, AvailableBytes: st.Bavail * bs}, nil
}

// ImagesInUse implements imagegc.Runtime: the image, by name and by ID,
// of every container on the node, whoever created it, since removing an
// image under any container would break it.
func (r *Runtime) ImagesInUse(ctx context.Context) (map[string]bool, error) {
	list, err := r.rs.ListContainers(quiet(ctx), nil)
	if err != nil {
		return nil, fmt.Errorf("cri: listing containers: %w", err)
	}
	out := map[string]bool{}
	for _, c := range list {
		if c.ImageRef != "" {
			out[c.ImageRef] = true
		}
		if c.ImageId != "" {
			out[c.ImageId] = true
		}
		if name := c.GetImage().GetImage(); name != "" {
			out[name] = true
		}
	}
	return out, nil
}
