package cri_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/agent/cri/critest"
)

// testRegistry is go-containerregistry's in-memory OCI registry served on
// 127.0.0.1, behind basic auth when it has a user, counting the manifest
// requests it serves (each pull resolves the tag through one).
type testRegistry struct {
	host, user, password string
	manifests            atomic.Int64
}

func startRegistry(t *testing.T, user, password string) *testRegistry {
	t.Helper()
	r := &testRegistry{user: user, password: password}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.user || p != r.password {
				w.Header().Set("WWW-Authenticate", `Basic realm="skiff-test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if strings.Contains(req.URL.Path, "/manifests/") {
			r.manifests.Add(1)
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// push copies the image src from a docker archive to the registry as
// repo (a "name:tag" under the registry's host) and returns its full
// reference.
func (r *testRegistry) push(t *testing.T, archive, src, repo string) string {
	t.Helper()
	srcTag, err := name.NewTag(src)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &srcTag)
	if err != nil {
		t.Fatalf("reading %s from %s: %v", src, archive, err)
	}
	dst := r.host + "/" + repo
	ref, err := name.ParseReference(dst, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: r.user, Password: r.password})); err != nil {
		t.Fatalf("pushing %s: %v", dst, err)
	}
	return dst
}

// testServerArchive builds the test images (test/images/build) and
// returns the test server's archive.
func testServerArchive(t *testing.T) string {
	t.Helper()
	return filepath.Join(critest.BuildTestImages(t), "testserver.tar")
}

// eventLog is a record.EventRecorder that keeps "Reason: message" lines.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) Event(_ runtime.Object, _, reason, message string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, reason+": "+message)
}

func (l *eventLog) Eventf(o runtime.Object, t, reason, format string, args ...any) {
	l.Event(o, t, reason, fmt.Sprintf(format, args...))
}

func (l *eventLog) AnnotatedEventf(o runtime.Object, _ map[string]string, t, reason, format string, args ...any) {
	l.Eventf(o, t, reason, format, args...)
}

// has reports whether an event starts with prefix.
func (l *eventLog) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, "\n")
}
