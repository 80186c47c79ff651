package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func testSpec() Spec {
	return Spec{
		Files: []File{
			{Path: "/bin/app", Mode: 0o755, Content: []byte("#!/bin/sh\necho hi\n")},
			{Path: "/etc/app/config", Content: []byte("a=1\n")},
			{Path: "/bin/sh", Mode: fs.ModeSymlink, Link: "app"},
			{Path: "/data", Mode: fs.ModeDir | 0o1777},
		},
		Entrypoint:   []string{"/bin/app"},
		Cmd:          []string{"--port", "8080"},
		Env:          []string{"PATH=/bin", "MODE=test"},
		WorkingDir:   "/data",
		ExposedPorts: []string{"8080/tcp", "9000"},
	}
}

func buildBytes(t *testing.T, ref string, spec Spec) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Build(ref, spec, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readImage loads an archive with go-containerregistry's own reader, the
// same manifest.json-driven format `ctr images import` reads.
func readImage(t *testing.T, archive []byte, ref string) v1.Image {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.Image(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(archive)), nil
	}, &tag)
	if err != nil {
		t.Fatalf("archive not readable: %v", err)
	}
	return img
}

type entry struct {
	typ  byte
	mode int64
	body string
	link string
}

func layerEntries(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want exactly 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(Epoch) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want epoch and root", h.Name, h.ModTime, h.Uid, h.Gid)
		}
		body, _ := io.ReadAll(tr)
		got[h.Name] = entry{h.Typeflag, h.Mode, string(body), h.Linkname}
	}
}

func TestBuildContents(t *testing.T) {
	const ref = "skiff.local/app:1"
	img := readImage(t, buildBytes(t, ref, testSpec()), ref)
	want := map[string]entry{
		"bin/":           {tar.TypeDir, 0o755, "", ""},
		"bin/app":        {tar.TypeReg, 0o755, "#!/bin/sh\necho hi\n", ""},
		"bin/sh":         {tar.TypeSymlink, 0o777, "", "app"},
		"data/":          {tar.TypeDir, 0o1777, "", ""},
		"etc/":           {tar.TypeDir, 0o755, "", ""},
		"etc/app/":       {tar.TypeDir, 0o755, "", ""},
		"etc/app/config": {tar.TypeReg, 0o644, "a=1\n", ""},
	}
	if got := layerEntries(t, img); !reflect.DeepEqual(got, want) {
		t.Errorf("layer entries:\n got %v\nwant %v", got, want)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if !reflect.DeepEqual(c.Entrypoint, []string{"/bin/app"}) || !reflect.DeepEqual(c.Cmd, []string{"--port", "8080"}) {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if !reflect.DeepEqual(c.Env, []string{"PATH=/bin", "MODE=test"}) || c.WorkingDir != "/data" {
		t.Errorf("env %q workdir %q", c.Env, c.WorkingDir)
	}
	if _, ok := c.ExposedPorts["9000/tcp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v, want 8080/tcp and 9000/tcp", c.ExposedPorts)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" || !cfg.Created.Time.Equal(Epoch) {
		t.Errorf("os %q arch %q created %v", cfg.OS, cfg.Architecture, cfg.Created)
	}
}

// TestBuildDeterministic: the same spec gives the same bytes (and digest)
// whatever the order of Files; a changed file changes the digest.
func TestBuildDeterministic(t *testing.T) {
	const ref = "skiff.local/app:1"
	a := buildBytes(t, ref, testSpec())
	shuffled := testSpec()
	f := shuffled.Files
	f[0], f[1], f[2], f[3] = f[3], f[2], f[0], f[1]
	b := buildBytes(t, ref, shuffled)
	if !bytes.Equal(a, b) {
		t.Fatal("rebuilding the same spec produced different archives")
	}
	changed := testSpec()
	changed.Files[1].Content = []byte("a=2\n")
	da, _ := readImage(t, a, ref).Digest()
	dc, _ := readImage(t, buildBytes(t, ref, changed), ref).Digest()
	if da == dc {
		t.Errorf("different content, same digest %v", da)
	}
}

func TestBuildRejectsBadSpecs(t *testing.T) {
	for name, files := range map[string][]File{
		"relative path":  {{Path: "bin/app"}},
		"duplicate":      {{Path: "/a"}, {Path: "/a/"}},
		"file as parent": {{Path: "/a"}, {Path: "/a/b"}},
		"link no target": {{Path: "/a", Mode: fs.ModeSymlink}},
		"root":           {{Path: "/", Mode: fs.ModeDir}},
		"device":         {{Path: "/dev/null", Mode: fs.ModeDevice}},
	} {
		if err := Build("skiff.local/x:1", Spec{Files: files}, io.Discard); err == nil {
			t.Errorf("%s: Build succeeded", name)
		}
	}
	if err := Build("UPPER/case:1", Spec{}, io.Discard); err == nil {
		t.Error("invalid reference accepted")
	}
}

func TestPauseImage(t *testing.T) {
	var buf bytes.Buffer
	if err := Pause(PauseRef, &buf); err != nil {
		if _, berr := PauseBinary("amd64"); berr == nil {
			t.Skipf("pause unsupported here: %v", err)
		}
		t.Fatal(err)
	}
	img := readImage(t, buf.Bytes(), PauseRef)
	e := layerEntries(t, img)["pause"]
	if e.typ != tar.TypeReg || e.mode != 0o755 || len(e.body) == 0 {
		t.Errorf("/pause entry %+v", e)
	}
	cfg, _ := img.ConfigFile()
	if !reflect.DeepEqual(cfg.Config.Entrypoint, []string{"/pause"}) {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
}
