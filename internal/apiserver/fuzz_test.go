package apiserver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/internal/registry/builtin"
	"github.com/skiff-sh/skiff/internal/storage/bolt"
)

// newFuzzServer is a Server on a fresh store, served without TLS or
// authentication so the fuzzer reaches request decoding directly.
func newFuzzServer(t testing.TB) http.Handler {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "fuzz.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	scheme, err := builtin.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Store: store, Scheme: scheme,
		Resources: builtin.Resources(builtin.Config{ServiceCIDR: netip.MustParsePrefix("10.43.0.0/16")}),
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s.recoverPanics(s.mux)
}

// FuzzRequestDecoding sends arbitrary bodies with each content type to the
// create, update and patch paths. Whatever a client sends, the answer is a
// 2xx or a 4xx Status, never a 5xx or a panic.
func FuzzRequestDecoding(f *testing.F) {
	seeds := []string{
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
		`[{"op":"replace","path":"/data/k","value":"x"}]`,
		`{"data":{"k":null}}`,
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n",
		`{"metadata":{"name":"a","resourceVersion":"abc"}}`,
		"k8s\x00\x0a\x02v1",
		`{"spec":{"containers":[{"$patch":"delete"}]}}`,
	}
	for _, s := range seeds {
		for i := 0; i < 6; i++ {
			f.Add([]byte(s), uint8(i))
		}
	}
	h := newFuzzServer(f)
	// Updates and patches need an object to work on.
	req := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/configmaps", bytes.NewReader([]byte(seeds[0])))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		f.Fatalf("seeding configmap: %d %s", rec.Code, rec.Body.String())
	}
	f.Fuzz(func(t *testing.T, body []byte, sel uint8) {
		type target struct{ method, path, ctype string }
		targets := []target{
			{http.MethodPost, "/api/v1/namespaces/default/configmaps", "application/json"},
			{http.MethodPost, "/api/v1/namespaces/default/pods", "application/yaml"},
			{http.MethodPost, "/apis/apps/v1/namespaces/default/deployments", "application/vnd.kubernetes.protobuf"},
			{http.MethodPut, "/api/v1/namespaces/default/configmaps/a", "application/json"},
			{http.MethodPatch, "/api/v1/namespaces/default/configmaps/a", "application/strategic-merge-patch+json"},
			{http.MethodPatch, "/api/v1/namespaces/default/configmaps/a", "application/json-patch+json"},
		}
		tg := targets[int(sel)%len(targets)]
		req := httptest.NewRequest(tg.method, tg.path+"?fieldValidation=Strict", bytes.NewReader(body))
		req.Header.Set("Content-Type", tg.ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (%s) answered %d: %s", tg.method, tg.path, tg.ctype, rec.Code, rec.Body.String())
		}
	})
}
