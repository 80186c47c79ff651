package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Epoch is the timestamp of every file, history entry and config in a built
// image. A fixed time is what makes a rebuild byte-identical (same digest),
// so re-importing an unchanged image on every agent start is a no-op.
var Epoch = time.Unix(0, 0).UTC()

// File is one entry of the image's single layer.
type File struct {
	// Path is absolute inside the image, e.g. "/bin/testserver".
	Path string
	// Mode holds the permission bits, plus fs.ModeDir for a directory or
	// fs.ModeSymlink for a symbolic link; zero permissions mean 0644
	// (files) or 0755 (directories). Setuid, setgid and sticky may be given
	// as fs.ModeSetuid etc. or as a literal such as 0o1777.
	Mode fs.FileMode
	// Content is the body of a regular file.
	Content []byte
	// Link is the target of a symbolic link.
	Link string
}

// Spec describes an image: its files and the OCI config a runtime reads.
type Spec struct {
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	// ExposedPorts are "PORT/PROTO" strings, e.g. "8080/tcp".
	ExposedPorts []string
	User         string
	Labels       map[string]string
}

// Build writes ref (e.g. "skiff.local/testserver:1") built from spec to w
// as a docker-archive tarball, the format `ctr images import` and
// `docker load` accept. The output is a pure function of ref and spec.
func Build(ref string, spec Spec, w io.Writer) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	img, err := buildImage(spec)
	if err != nil {
		return fmt.Errorf("building %s: %w", ref, err)
	}
	if err := tarball.Write(tag, img, w); err != nil {
		return fmt.Errorf("writing %s: %w", ref, err)
	}
	return nil
}

func buildImage(spec Spec) (v1.Image, error) {
	layerTar, err := layerTarball(spec.Files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: "skiff image build"},
	})
	if err != nil {
		return nil, fmt.Errorf("appending layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: Epoch}
	cfg.OS = "linux"
	cfg.Architecture = runtime.GOARCH
	cfg.Config = runConfig(spec)
	return mutate.ConfigFile(img, cfg)
}

func runConfig(spec Spec) v1.Config {
	c := v1.Config{
		Entrypoint: spec.Entrypoint,
		Cmd:        spec.Cmd,
		Env:        spec.Env,
		WorkingDir: spec.WorkingDir,
		User:       spec.User,
		Labels:     spec.Labels,
	}
	if len(spec.ExposedPorts) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp" // Docker's default protocol
			}
			c.ExposedPorts[p] = struct{}{}
		}
	}
	return c
}

// layerTarball renders files as an uncompressed tar. Entries are sorted and
// every missing parent directory is added (0755), so the order of
// spec.Files never changes the digest and extraction never has to invent
// directories with runtime-chosen modes.
func layerTarball(files []File) ([]byte, error) {
	entries := map[string]File{}
	for _, f := range files {
		p, err := cleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("%s: listed twice", f.Path)
		}
		f.Path = p
		entries[p] = f
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if prev, ok := entries[dir]; ok && !prev.Mode.IsDir() {
				return nil, fmt.Errorf("%s: parent %s is not a directory", f.Path, dir)
			} else if !ok {
				entries[dir] = File{Path: dir, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	names := make([]string, 0, len(entries))
	for p := range entries {
		names = append(names, p)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		if err := writeEntry(tw, entries[p]); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cleanPath turns "/usr/bin/x" into "usr/bin/x", the form layer tars use.
func cleanPath(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%q: image paths must be absolute", p)
	}
	c := strings.TrimPrefix(path.Clean(p), "/")
	if c == "" {
		return "", fmt.Errorf("%q: the root directory cannot be an entry", p)
	}
	return c, nil
}

func writeEntry(tw *tar.Writer, f File) error {
	// setuid/setgid/sticky survive into the tar as their POSIX bits, given
	// either as fs.ModeSetuid etc. or as a literal like 0o1777 (bits
	// 9-11, which fs.FileMode leaves unused).
	perm := int64(f.Mode.Perm()) | int64(f.Mode&0o7000)
	if f.Mode&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if f.Mode&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if f.Mode&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	h := &tar.Header{Name: f.Path, Mode: perm, ModTime: Epoch}
	switch {
	case f.Mode.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, f.Path+"/"
		if f.Mode.Perm() == 0 {
			h.Mode |= 0o755
		}
	case f.Mode&fs.ModeSymlink != 0:
		if f.Link == "" {
			return fmt.Errorf("symbolic link without a target")
		}
		h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
	case f.Mode.IsRegular():
		h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Content))
		if f.Mode.Perm() == 0 {
			h.Mode |= 0o644
		}
	default:
		return fmt.Errorf("unsupported file mode %v", f.Mode)
	}
	// Format is left to archive/tar: with whole-second times and no
	// atime/ctime it writes USTAR, a pure function of the header.
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if h.Typeflag == tar.TypeReg {
		_, err := tw.Write(f.Content)
		return err
	}
	return nil
}
