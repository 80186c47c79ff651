package critest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/internal/image"
)

// BuildTestImages builds the test images (test/images/build) into a temp
// dir and returns it: pause.tar, busybox.tar and testserver.tar.
func BuildTestImages(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("go", "run", "github.com/skiff-sh/skiff/test/images/build", dir).CombinedOutput(); err != nil {
		t.Fatalf("building the test images: %v\n%s", err, out)
	}
	return dir
}

// ImportTestImages builds the test images and imports the named archives
// ("pause.tar", "busybox.tar", "testserver.tar") into the containerd
// serving socket.
func ImportTestImages(t testing.TB, socket string, archives ...string) {
	t.Helper()
	dir := BuildTestImages(t)
	ctr := image.Ctr{Address: socket}
	for _, name := range archives {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		err = ctr.Import(context.Background(), f)
		f.Close()
		if err != nil {
			t.Fatalf("importing %s: %v", name, err)
		}
	}
}
