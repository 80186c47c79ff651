package discovery

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apidiscoveryv2beta1 "k8s.io/api/apidiscovery/v2beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/internal/registry"
)

const (
	acceptAggregatedProtobuf = "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
	acceptV2beta1            = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
)

// get fetches path from the handler with the given request headers
// (alternating names and values).
func get(t *testing.T, h http.Handler, method, path string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://skiff.test:6443"+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeJSON(t *testing.T, w *httptest.ResponseRecorder, into any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), into); err != nil {
		t.Fatalf("decoding %q: %v", w.Body.String(), err)
	}
}

func TestAggregatedResponses(t *testing.T) {
	h := New(testResources())

	w := get(t, h, "GET", "/apis", "Accept", discovery.AcceptV2+","+discovery.AcceptV1)
	if w.Code != 200 || w.Header().Get("Content-Type") != discovery.AcceptV2 {
		t.Fatalf("GET /apis = %d %q, want 200 with Content-Type %q", w.Code, w.Header().Get("Content-Type"), discovery.AcceptV2)
	}
	etag := w.Header().Get("ETag")
	if len(etag) < 10 || !strings.HasPrefix(etag, `"`) || w.Header().Get("Vary") != "Accept" {
		t.Errorf("ETag %q, Vary %q; want a quoted hash and Vary: Accept", etag, w.Header().Get("Vary"))
	}
	var list apidiscoveryv2.APIGroupDiscoveryList
	decodeJSON(t, w, &list)
	if list.Kind != "APIGroupDiscoveryList" || list.APIVersion != "apidiscovery.k8s.io/v2" {
		t.Errorf("TypeMeta = %+v", list.TypeMeta)
	}
	var names []string
	for _, g := range list.Items {
		names = append(names, g.Name)
	}
	if !slices.Equal(names, wantGroupOrder) {
		t.Errorf("groups = %q, want %q", names, wantGroupOrder)
	}
	apps := list.Items[0].Versions[0]
	if apps.Version != "v1" || apps.Freshness != apidiscoveryv2.DiscoveryFreshnessCurrent || len(apps.Resources) != 2 {
		t.Fatalf("apps/v1 = %+v", apps)
	}
	deploy := apps.Resources[0]
	wantDeploy := apidiscoveryv2.APIResourceDiscovery{
		Resource:         "deployments",
		ResponseKind:     &metav1.GroupVersionKind{Kind: "Deployment"},
		Scope:            apidiscoveryv2.ScopeNamespace,
		SingularResource: "deployment",
		Verbs:            verbsCRUD,
		ShortNames:       []string{"deploy"},
		Categories:       []string{"all"},
		Subresources: []apidiscoveryv2.APISubresourceDiscovery{
			{Subresource: "scale", ResponseKind: &metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, Verbs: []string{"get", "patch", "update"}},
			{Subresource: "status", ResponseKind: &metav1.GroupVersionKind{Kind: "Deployment"}, Verbs: []string{"get", "patch", "update"}},
		},
	}
	if got, want := fmt.Sprintf("%+v", deploy), fmt.Sprintf("%+v", wantDeploy); got != want {
		t.Errorf("deployments =\n%s\nwant\n%s", got, want)
	}
	if crd := list.Items[6].Versions[0].Resources[0]; crd.Scope != apidiscoveryv2.ScopeCluster || crd.Resource != "customresourcedefinitions" {
		t.Errorf("apiextensions resource = %+v", crd)
	}

	// Cache validation.
	w = get(t, h, "GET", "/apis", "Accept", discovery.AcceptV2, "If-None-Match", etag)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
		t.Errorf("matching If-None-Match = %d, %d bytes, ETag %q; want 304 and no body", w.Code, w.Body.Len(), w.Header().Get("ETag"))
	}
	if w = get(t, h, "GET", "/apis", "Accept", discovery.AcceptV2, "If-None-Match", `"stale"`); w.Code != 200 || w.Body.Len() == 0 {
		t.Errorf("stale If-None-Match = %d, want 200 with the document", w.Code)
	}
	// The ETag is a hash of the document: another server with other
	// resources has another ETag, the same resources the same one.
	if other := get(t, New(testResources()[:3]), "GET", "/apis", "Accept", discovery.AcceptV2); other.Header().Get("ETag") == etag {
		t.Error("different documents share an ETag")
	}
	if same := get(t, New(testResources()), "GET", "/apis", "Accept", discovery.AcceptV2); same.Header().Get("ETag") != etag {
		t.Error("the same document got another ETag")
	}

	// /api: the core group, unnamed, with its own ETag.
	w = get(t, h, "GET", "/api", "Accept", discovery.AcceptV2NoPeer+","+discovery.AcceptV2+","+discovery.AcceptV1)
	if w.Code != 200 || w.Header().Get("Content-Type") != discovery.AcceptV2 || w.Header().Get("ETag") == etag {
		t.Fatalf("GET /api = %d %q, ETag %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("ETag"))
	}
	var core apidiscoveryv2.APIGroupDiscoveryList
	decodeJSON(t, w, &core)
	if len(core.Items) != 1 || core.Items[0].Name != "" || len(core.Items[0].Versions) != 1 || core.Items[0].Versions[0].Version != "v1" {
		t.Fatalf("/api aggregated = %+v", core)
	}

	// v2beta1 for older clients: same content, its own Content-Type.
	w = get(t, h, "GET", "/apis", "Accept", acceptV2beta1+",application/json")
	if w.Code != 200 || w.Header().Get("Content-Type") != acceptV2beta1 {
		t.Fatalf("v2beta1 = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var beta apidiscoveryv2beta1.APIGroupDiscoveryList
	decodeJSON(t, w, &beta)
	if beta.APIVersion != "apidiscovery.k8s.io/v2beta1" || len(beta.Items) != len(list.Items) ||
		beta.Items[0].Versions[0].Resources[0].Subresources[0].ResponseKind.Kind != "Scale" {
		t.Errorf("v2beta1 document = %+v", beta)
	}

	// Protobuf, with the parameters echoed on the protobuf media type.
	w = get(t, h, "GET", "/apis", "Accept", acceptAggregatedProtobuf+","+discovery.AcceptV2)
	if w.Code != 200 || w.Header().Get("Content-Type") != acceptAggregatedProtobuf {
		t.Fatalf("protobuf aggregated = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var pb apidiscoveryv2.APIGroupDiscoveryList
	if _, _, err := protoSerializer.Decode(w.Body.Bytes(), nil, &pb); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", pb.Items) != fmt.Sprintf("%+v", list.Items) {
		t.Errorf("protobuf document differs from JSON:\n%+v\n%+v", pb.Items, list.Items)
	}

	// The aggregated type is offered only at the roots, and only when asked.
	if w = get(t, h, "GET", "/apis/apps/v1", "Accept", discovery.AcceptV2); w.Code != http.StatusNotAcceptable {
		t.Errorf("aggregated Accept on a group version = %d, want 406", w.Code)
	}
	for _, accept := range []string{"", "application/json", "*/*", "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json"} {
		w = get(t, h, "GET", "/apis", "Accept", accept)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("ETag") != "" {
			t.Errorf("Accept %q = %d %q ETag %q, want legacy JSON", accept, w.Code, w.Header().Get("Content-Type"), w.Header().Get("ETag"))
		}
	}
}

func TestLegacyResponses(t *testing.T) {
	h := New(testResources())

	w := get(t, h, "GET", "/api")
	want := `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"skiff.test:6443"}]}` + "\n"
	if w.Code != 200 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("GET /api = %d %q\n%s\nwant\n%s", w.Code, w.Header().Get("Content-Type"), w.Body, want)
	}

	// Upstream's apiVersion quirks: none on the core documents, "v1" on the
	// others.
	for path, apiVersion := range map[string]string{"/api/v1": "", "/apis": "v1", "/apis/apps": "v1", "/apis/apps/v1": "v1"} {
		var tm metav1.TypeMeta
		decodeJSON(t, get(t, h, "GET", path), &tm)
		if tm.APIVersion != apiVersion || tm.Kind == "" {
			t.Errorf("%s TypeMeta = %+v, want apiVersion %q", path, tm, apiVersion)
		}
	}

	var corev1 metav1.APIResourceList
	decodeJSON(t, get(t, h, "GET", "/api/v1"), &corev1)
	var names []string
	hashes := map[string]string{}
	for _, r := range corev1.APIResources {
		names = append(names, r.Name)
		hashes[r.Name] = r.StorageVersionHash
	}
	wantNames := []string{"bindings", "configmaps", "events", "namespaces", "namespaces/finalize", "namespaces/status",
		"nodes", "nodes/proxy", "nodes/status", "pods", "pods/attach", "pods/binding", "pods/eviction", "pods/exec",
		"pods/log", "pods/portforward", "pods/proxy", "pods/status", "replicationcontrollers", "replicationcontrollers/scale",
		"replicationcontrollers/status", "serviceaccounts", "serviceaccounts/token", "services", "services/proxy", "services/status"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("/api/v1 resources =\n%q\nwant\n%q", names, wantNames)
	}
	// Upstream's values, so storage-version-aware clients see no change.
	for name, hash := range map[string]string{"pods": "xPOwRZ+Yhw8=", "namespaces": "Q3oi5N2YM8M=", "events": "r2yiGXH7wu8=", "bindings": "", "pods/status": ""} {
		if hashes[name] != hash {
			t.Errorf("%s storageVersionHash = %q, want %q", name, hashes[name], hash)
		}
	}
	var events metav1.APIResourceList
	decodeJSON(t, get(t, h, "GET", "/apis/events.k8s.io/v1"), &events)
	if events.GroupVersion != "events.k8s.io/v1" || events.APIResources[0].StorageVersionHash != hashes["events"] {
		t.Errorf("events.k8s.io events = %+v, want the storage hash of core events", events)
	}

	var autoscaling metav1.APIGroup
	decodeJSON(t, get(t, h, "GET", "/apis/autoscaling/"), &autoscaling)
	if autoscaling.Name != "autoscaling" || autoscaling.PreferredVersion.GroupVersion != "autoscaling/v2" || len(autoscaling.Versions) != 2 {
		t.Errorf("/apis/autoscaling = %+v", autoscaling)
	}

	// Protobuf and YAML.
	// Like upstream's, the core documents carry no apiVersion, so protobuf
	// decoding needs the expected type.
	for path, into := range map[string]runtime.Object{
		"/api": &metav1.APIVersions{}, "/api/v1": &metav1.APIResourceList{}, "/apis": &metav1.APIGroupList{},
		"/apis/apps": &metav1.APIGroup{}, "/apis/apps/v1": &metav1.APIResourceList{},
	} {
		jsonBody := get(t, h, "GET", path).Body.Bytes()
		var fromJSON, fromPB, fromYAML map[string]any
		if err := json.Unmarshal(jsonBody, &fromJSON); err != nil {
			t.Fatal(err)
		}
		w := get(t, h, "GET", path, "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io, application/vnd.kubernetes.protobuf, application/json")
		if w.Header().Get("Content-Type") != mediaProtobuf || !strings.HasPrefix(w.Body.String(), "k8s\x00") {
			t.Fatalf("%s protobuf = %q %q", path, w.Header().Get("Content-Type"), w.Body.String())
		}
		obj, _, err := protoSerializer.Decode(w.Body.Bytes(), nil, into)
		if err != nil {
			t.Fatalf("%s: decoding protobuf: %v", path, err)
		}
		var unk runtime.Unknown
		if err := unk.Unmarshal(w.Body.Bytes()[4:]); err != nil {
			t.Fatal(err)
		}
		if apiVersion, _ := fromJSON["apiVersion"].(string); unk.APIVersion != apiVersion || unk.Kind != fromJSON["kind"] {
			t.Errorf("%s protobuf TypeMeta = %+v, JSON has %v %v", path, unk.TypeMeta, apiVersion, fromJSON["kind"])
		}
		if fromPB = toMap(t, obj); fmt.Sprint(fromPB) != fmt.Sprint(withoutTypeMeta(fromJSON)) {
			t.Errorf("%s protobuf differs from JSON:\n%v\n%v", path, fromPB, fromJSON)
		}
		w = get(t, h, "GET", path, "Accept", "application/yaml")
		if err := yaml.Unmarshal(w.Body.Bytes(), &fromYAML); err != nil || w.Header().Get("Content-Type") != mediaYAML ||
			fmt.Sprint(fromYAML) != fmt.Sprint(fromJSON) {
			t.Errorf("%s YAML = %q %v", path, w.Header().Get("Content-Type"), err)
		}
	}

	if w = get(t, h, "GET", "/apis/apps/v1", "Accept", "application/json;q=0.5, application/vnd.kubernetes.protobuf;q=0.9"); w.Header().Get("Content-Type") != mediaProtobuf {
		t.Errorf("q-values ignored: got %q", w.Header().Get("Content-Type"))
	}
	if w = get(t, h, "HEAD", "/apis/apps/v1"); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD = %d with %d bytes", w.Code, w.Body.Len())
	}
}

// toMap renders a decoded object the way its JSON document reads, without
// its TypeMeta.
func toMap(t *testing.T, obj runtime.Object) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return withoutTypeMeta(m)
}

func withoutTypeMeta(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != "kind" && k != "apiVersion" {
			out[k] = v
		}
	}
	return out
}

func TestErrors(t *testing.T) {
	h := New(testResources())
	for _, path := range []string{"/apis/nope/v1", "/apis/nope", "/api/v2", "/apis/apps/v2", "/apis/apps/v1/deployments", "/api/v1/pods"} {
		w := get(t, h, "GET", path, "Accept", discovery.AcceptV2+","+discovery.AcceptV1)
		var st metav1.Status
		decodeJSON(t, w, &st)
		if w.Code != 404 || w.Header().Get("Content-Type") != "application/json" || st.Kind != "Status" ||
			st.Reason != metav1.StatusReasonNotFound || st.Code != 404 || st.Status != metav1.StatusFailure {
			t.Errorf("GET %s = %d %q %+v, want a 404 NotFound Status", path, w.Code, w.Header().Get("Content-Type"), st)
		}
	}

	w := get(t, h, "GET", "/apis/apps/v1", "Accept", "text/html")
	var st metav1.Status
	decodeJSON(t, w, &st)
	if w.Code != http.StatusNotAcceptable || st.Reason != metav1.StatusReasonNotAcceptable {
		t.Errorf("Accept text/html = %d %+v, want 406 NotAcceptable", w.Code, st)
	}

	w = get(t, h, "POST", "/apis")
	decodeJSON(t, w, &st)
	if w.Code != http.StatusMethodNotAllowed || st.Reason != metav1.StatusReasonMethodNotAllowed {
		t.Errorf("POST /apis = %d %+v, want 405 MethodNotAllowed", w.Code, st)
	}
}

// manyCRDs is a cluster with a lot of custom resources, past the size at
// which responses are compressed.
func manyCRDs(n int) []registry.Resource {
	res := testResources()
	for i := range n {
		group := fmt.Sprintf("group%03d.example.io", i%50)
		for _, v := range []string{"v1", "v1beta1"} {
			res = append(res, registry.Resource{
				GVR:  schema.GroupVersionResource{Group: group, Version: v, Resource: fmt.Sprintf("things%04ds", i)},
				Kind: fmt.Sprintf("Thing%04d", i), Namespaced: true, HasStatus: true, Scale: &registry.Scale{},
				ShortNames: []string{fmt.Sprintf("t%d", i)}, Categories: []string{"all", "things"},
			})
		}
	}
	return res
}

func TestLargeDocumentsAreCompressed(t *testing.T) {
	srv, _ := newServer(t, manyCRDs(1000))
	req, _ := http.NewRequest("GET", srv.URL+"/apis", nil)
	req.Header.Set("Accept", discovery.AcceptV2)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !resp.Uncompressed || len(body) <= gzipThreshold {
		t.Errorf("%d-byte document: compressed %v, want gzip past %d bytes", len(body), resp.Uncompressed, gzipThreshold)
	}

	dc := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	if !hasResource(lists, "group007.example.io/v1", "things0007s/scale") {
		t.Error("a custom resource's scale subresource is missing")
	}
}

// BenchmarkNewManyResources measures building discovery for 200 custom
// resource groups; timing belongs in benchmarks, not in tests that a loaded
// CI machine could fail.
func BenchmarkNewManyResources(b *testing.B) {
	res := manyCRDs(200)
	for b.Loop() {
		New(res)
	}
}

func BenchmarkNew(b *testing.B) {
	res := testResources()
	for b.Loop() {
		New(res)
	}
}
