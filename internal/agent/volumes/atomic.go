package volumes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// file is one projected file.
type file struct {
	data []byte
	mode os.FileMode
}

// payload maps relative paths (possibly nested, "a/b") to files.
type payload map[string]file

func (p payload) paths() []string {
	out := make([]string, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (p payload) hash() string {
	h := sha256.New()
	for _, k := range p.paths() {
		f := p[k]
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", k, f.mode, len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// validPath rejects paths that could escape the volume or collide with
// the writer's own "..*" entries, as upstream's validatePath.
func validPath(p string) error {
	if p == "" || filepath.IsAbs(p) || len(p) > 4096 {
		return fmt.Errorf("invalid path %q", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "" {
			return fmt.Errorf("invalid path %q: must not contain '..' or empty segments", p)
		}
	}
	if strings.HasPrefix(p, "..") {
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	return nil
}

// writeAtomic makes dir show exactly payload, switching from the previous
// content in one rename (upstream's AtomicWriter.Write):
//  1. write the files into a new timestamped directory,
//  2. point ..data_tmp at it and rename it over ..data,
//  3. make a symlink name -> ..data/name for each top-level name,
//  4. remove user-visible names no longer in the payload, and the old
//     timestamped directory.
func writeAtomic(dir string, pl payload) error {
	top := map[string]bool{}
	for _, p := range pl.paths() {
		if err := validPath(p); err != nil {
			return err
		}
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating volume directory: %w", err)
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataDirName))
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("creating timestamped directory: %w", err)
	}
	if err := writeFiles(ts, pl); err != nil {
		_ = os.RemoveAll(ts)
		return err
	}
	tmp := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		_ = os.RemoveAll(ts)
		return fmt.Errorf("linking new data: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataDirName)); err != nil {
		_ = os.RemoveAll(ts)
		return fmt.Errorf("swapping data link: %w", err)
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), link); err != nil {
			return fmt.Errorf("linking %s: %w", name, err)
		}
	}
	return removeStale(dir, top, oldTS, filepath.Base(ts))
}

func writeFiles(ts string, pl payload) error {
	if err := os.Chmod(ts, 0o755); err != nil {
		return fmt.Errorf("chmod %s: %w", ts, err)
	}
	for _, p := range pl.paths() {
		f := pl[p]
		full := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("creating directory for %s: %w", p, err)
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		// WriteFile's mode is masked by the umask; the pod asked for this one.
		if err := os.Chmod(full, f.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// removeStale deletes user-visible entries not in top and the previous
// timestamped directory (and any other leftover one, from a crash).
func removeStale(dir string, top map[string]bool, oldTS, curTS string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading volume directory: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == dataDirName || n == curTS || top[n]:
			continue
		case strings.HasPrefix(n, "..") && n != oldTS && !strings.HasPrefix(n, "..20"):
			continue // not ours
		}
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("removing stale %s: %w", n, err)
		}
	}
	return nil
}
