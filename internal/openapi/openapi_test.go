package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func BenchmarkNew(b *testing.B) {
	s, res := testScheme(b), testResources()
	for b.Loop() {
		if _, err := New(res, s); err != nil {
			b.Fatal(err)
		}
	}
}

func get(t *testing.T, h http.Handler, path, accept string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var refRE = regexp.MustCompile(`"\$ref":"([^"]+)"`)

// checkRefs fails if a $ref of doc names no definition of it.
func checkRefs(t *testing.T, name string, doc []byte, prefix string, defs map[string]bool) {
	t.Helper()
	for _, m := range refRE.FindAllSubmatch(doc, -1) {
		ref := string(m[1])
		if !strings.HasPrefix(ref, prefix) || !defs[strings.TrimPrefix(ref, prefix)] {
			t.Errorf("%s: dangling $ref %s", name, ref)
			return
		}
	}
}

func TestDocumentsParse(t *testing.T) {
	h := testHandler(t)

	var swagger spec.Swagger
	if err := json.Unmarshal(h.v2.json, &swagger); err != nil {
		t.Fatalf("v2 does not parse as a swagger document: %v", err)
	}
	defs := map[string]bool{}
	for n := range swagger.Definitions {
		defs[n] = true
	}
	checkRefs(t, "v2", h.v2.json, "#/definitions/", defs)
	if len(swagger.Paths.Paths) < 100 {
		t.Errorf("v2 has only %d paths", len(swagger.Paths.Paths))
	}

	for key, d := range h.v3 {
		var doc spec3.OpenAPI
		if err := json.Unmarshal(d.json, &doc); err != nil {
			t.Fatalf("%s does not parse as OpenAPI v3: %v", key, err)
		}
		defs := map[string]bool{}
		for n := range doc.Components.Schemas {
			defs[n] = true
		}
		checkRefs(t, key, d.json, "#/components/schemas/", defs)
		if _, err := openapi_v3.ParseDocument(d.json); err != nil {
			t.Errorf("%s: gnostic: %v", key, err)
		}
	}
}

func TestV2Protobuf(t *testing.T) {
	h := testHandler(t)
	rec := get(t, h, "/openapi/v2", mimeV2ProtoDeprecated)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != mimeV2Proto {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	doc := &openapi_v2.Document{}
	if err := proto.Unmarshal(rec.Body.Bytes(), doc); err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*openapi_v2.Schema{}
	for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
		schemas[d.GetName()] = d.GetValue()
	}
	dep := schemas["io.k8s.api.apps.v1.Deployment"]
	if dep == nil {
		t.Fatal("no io.k8s.api.apps.v1.Deployment definition")
	}
	ext := extensionYAML(dep.GetVendorExtension(), extGVK)
	if !strings.Contains(ext, "group: apps") || !strings.Contains(ext, "kind: Deployment") || !strings.Contains(ext, "version: v1") {
		t.Errorf("Deployment x-kubernetes-group-version-kind = %q", ext)
	}
	var containers *openapi_v2.Schema
	for _, p := range schemas["io.k8s.api.core.v1.PodSpec"].GetProperties().GetAdditionalProperties() {
		if p.GetName() == "containers" {
			containers = p.GetValue()
		}
	}
	if got := extensionYAML(containers.GetVendorExtension(), extPatchMergeKey); strings.TrimSpace(got) != "name" {
		t.Errorf("PodSpec.containers patch merge key = %q", got)
	}
	if got := extensionYAML(containers.GetVendorExtension(), extPatchStrategy); strings.TrimSpace(got) != "merge" {
		t.Errorf("PodSpec.containers patch strategy = %q", got)
	}
}

func extensionYAML(exts []*openapi_v2.NamedAny, name string) string {
	for _, e := range exts {
		if e.GetName() == name {
			return e.GetValue().GetYaml()
		}
	}
	return ""
}

func TestV3DeploymentPatchDeclaresFieldValidation(t *testing.T) {
	h := testHandler(t)
	var doc spec3.OpenAPI
	if err := json.Unmarshal(h.v3["apis/apps/v1"].json, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
	if p == nil || p.Patch == nil {
		t.Fatal("no PATCH for deployments")
	}
	found := false
	for _, param := range p.Patch.Parameters {
		if param.Name == "fieldValidation" && param.In == "query" {
			found = true
		}
	}
	if !found {
		t.Error("PATCH deployments does not declare fieldValidation")
	}
	for _, mt := range patchTypes {
		if _, ok := p.Patch.RequestBody.Content[mt]; !ok {
			t.Errorf("PATCH deployments does not accept %s", mt)
		}
	}
	if doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"] == nil ||
		doc.Paths.Paths["/apis/apps/v1/deployments"] == nil {
		t.Error("missing scale or list-all path")
	}
	if doc.Components.Schemas["io.k8s.api.core.v1.Pod"] != nil {
		t.Error("apps/v1 carries io.k8s.api.core.v1.Pod, which none of its paths reach")
	}
	if doc.Components.Schemas["io.k8s.api.autoscaling.v1.Scale"] == nil {
		t.Error("apps/v1 lacks io.k8s.api.autoscaling.v1.Scale")
	}
}

func TestHTTP(t *testing.T) {
	h := testHandler(t)

	if rec := get(t, h, "/openapi/v2", ""); rec.Code != 200 || rec.Header().Get("Content-Type") != mimeJSON {
		t.Errorf("v2 default: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := get(t, h, "/openapi/v2", "text/html"); rec.Code != http.StatusNotAcceptable {
		t.Errorf("v2 text/html: %d", rec.Code)
	}
	rec := get(t, h, "/openapi/v2", mimeJSON+";q=0.5, "+mimeV2Proto)
	if rec.Header().Get("Content-Type") != mimeV2Proto {
		t.Errorf("q-ranked Accept: got %q", rec.Header().Get("Content-Type"))
	}
	etag := rec.Header().Get("Etag")
	if rec := get(t, h, "/openapi/v2", mimeV2Proto, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", rec.Code)
	}

	rec = get(t, h, "/openapi/v3", "")
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &index); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"api/v1", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1", "apis/events.k8s.io/v1"} {
		if !strings.HasPrefix(index.Paths[key].ServerRelativeURL, "/openapi/v3/"+key+"?hash=") {
			t.Errorf("index entry %s = %q", key, index.Paths[key].ServerRelativeURL)
		}
	}

	u := index.Paths["apis/apps/v1"].ServerRelativeURL
	rec = get(t, h, u, mimeJSON)
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, immutable" {
		t.Errorf("%s: %d, Cache-Control %q", u, rec.Code, rec.Header().Get("Cache-Control"))
	}
	if rec := get(t, h, "/openapi/v3/apis/apps/v1", mimeJSON); rec.Code != 200 || rec.Header().Get("Cache-Control") != "" {
		t.Errorf("without hash: %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if rec := get(t, h, "/openapi/v3/apis/apps/v1?hash=stale", mimeJSON); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != u {
		t.Errorf("stale hash: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = get(t, h, u, mimeV3ProtoDeprecated)
	if rec.Header().Get("Content-Type") != mimeV3Proto {
		t.Errorf("v3 protobuf: %q", rec.Header().Get("Content-Type"))
	} else if err := proto.Unmarshal(rec.Body.Bytes(), &openapi_v3.Document{}); err != nil {
		t.Errorf("v3 protobuf: %v", err)
	}
	if rec := get(t, h, "/openapi/v3/apis/nope/v1", ""); rec.Code != http.StatusNotFound {
		t.Errorf("unknown group version: %d", rec.Code)
	}

	req := httptest.NewRequest(http.MethodHead, "/openapi/v2", nil)
	hr := httptest.NewRecorder()
	h.ServeHTTP(hr, req)
	if body, _ := io.ReadAll(hr.Body); hr.Code != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d with %d bytes", hr.Code, len(body))
	}
	req = httptest.NewRequest(http.MethodPost, "/openapi/v2", nil)
	hr = httptest.NewRecorder()
	h.ServeHTTP(hr, req)
	if hr.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", hr.Code)
	}
}

func TestNegotiate(t *testing.T) {
	offers := []string{mimeJSON, mimeV2Proto, mimeV2ProtoDeprecated}
	for accept, want := range map[string]string{
		"":                                 mimeJSON,
		"*/*":                              mimeJSON,
		"application/*":                    mimeJSON,
		mimeV2ProtoDeprecated:              mimeV2ProtoDeprecated,
		"text/html, */*;q=0.1":             mimeJSON,
		"application/json;q=0":             "",
		"text/plain":                       "",
		"application/yaml, " + mimeV2Proto: mimeV2Proto,
	} {
		if got := negotiate(accept, offers); got != want {
			t.Errorf("negotiate(%q) = %q, want %q", accept, got, want)
		}
	}
}

func TestSchemaDetails(t *testing.T) {
	h := testHandler(t)
	var defs map[string]map[string]any
	var doc struct {
		Definitions json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(h.v2.json, &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc.Definitions, &defs); err != nil {
		t.Fatal(err)
	}
	compact := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	prop := func(def, field string) string {
		return compact(defs[def]["properties"].(map[string]any)[field])
	}
	for _, c := range []struct{ got, want string }{
		{compact(defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]), `{"type":"string"}`},
		{compact(defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]), `{"format":"int-or-string","type":"string"}`},
		{compact(defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]), `{"format":"date-time","type":"string"}`},
		{compact(defs["io.k8s.apimachinery.pkg.runtime.RawExtension"]), `{"type":"object"}`},
		{prop("io.k8s.api.core.v1.Secret", "data"), `{"additionalProperties":{"format":"byte","type":"string"},"type":"object"}`},
		{prop("io.k8s.api.core.v1.Container", "resources"), `{"$ref":"#/definitions/io.k8s.api.core.v1.ResourceRequirements"}`},
		{prop("io.k8s.api.core.v1.ResourceRequirements", "limits"), `{"additionalProperties":{"$ref":"#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},"type":"object"}`},
		{prop("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers"), `{"items":{"type":"string"},"type":"array","x-kubernetes-patch-strategy":"merge"}`},
		{compact(defs["io.k8s.api.core.v1.Container"]["required"]), `["name"]`},
		{compact(defs["io.k8s.api.core.v1.Pod"][extGVK]), `[{"group":"","kind":"Pod","version":"v1"}]`},
		{compact(defs["io.k8s.api.core.v1.PodList"][extGVK]), `[{"group":"","kind":"PodList","version":"v1"}]`},
	} {
		if c.got != c.want {
			t.Errorf("got %s\nwant %s", c.got, c.want)
		}
	}
	// Inlined fields (TypeMeta, VolumeSource) appear on the outer type.
	for _, f := range []string{"apiVersion", "kind", "metadata", "spec", "status"} {
		if prop("io.k8s.api.apps.v1.Deployment", f) == "null" {
			t.Errorf("Deployment lacks %s", f)
		}
	}
	if prop("io.k8s.api.core.v1.Volume", "emptyDir") == "null" {
		t.Error("Volume lacks the inlined emptyDir")
	}
}

// TestConcurrentFirstRequests exercises the lazy protobuf conversion
// from many requests at once (run with -race).
func TestConcurrentFirstRequests(t *testing.T) {
	h, err := New(testResources()[:5], testScheme(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	for i := 0; i < 8; i++ {
		go func() {
			req := httptest.NewRequest(http.MethodGet, "/openapi/v2", nil)
			req.Header.Set("Accept", mimeV2ProtoDeprecated)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			done <- rec.Body.Bytes()
		}()
	}
	first := <-done
	for i := 1; i < 8; i++ {
		if got := <-done; string(got) != string(first) || len(got) == 0 {
			t.Fatal("concurrent requests got different protobuf bodies")
		}
	}
}
