package discovery

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

func findResource(t *testing.T, lists []*metav1.APIResourceList, gv, name string) metav1.APIResource {
	t.Helper()
	for _, l := range lists {
		if l.GroupVersion != gv {
			continue
		}
		for _, r := range l.APIResources {
			if r.Name == name {
				return r
			}
		}
	}
	t.Fatalf("%s %s not discovered", gv, name)
	return metav1.APIResource{}
}

func hasResource(lists []*metav1.APIResourceList, gv, name string) bool {
	for _, l := range lists {
		for _, r := range l.APIResources {
			if l.GroupVersion == gv && r.Name == name {
				return true
			}
		}
	}
	return false
}

// checkDiscovered asserts what any client must see, whichever discovery
// path it took.
func checkDiscovered(t *testing.T, groups []*metav1.APIGroup, lists []*metav1.APIResourceList) {
	t.Helper()
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if want := append([]string{""}, wantGroupOrder...); !slices.Equal(names, want) {
		t.Errorf("groups = %q, want %q", names, want)
	}
	for _, g := range groups {
		switch g.Name {
		case "autoscaling":
			if g.PreferredVersion.Version != "v2" || len(g.Versions) != 2 || g.Versions[1].Version != "v1" {
				t.Errorf("autoscaling versions = %+v, preferred %+v; want v2 then v1", g.Versions, g.PreferredVersion)
			}
		case "example.com":
			if g.PreferredVersion.GroupVersion != "example.com/v1" {
				t.Errorf("example.com preferred = %+v, want v1 over v1alpha1", g.PreferredVersion)
			}
		}
	}

	type want struct {
		gv, name, group, version, kind string
		namespaced                     bool
		verbs, shortNames, categories  []string
	}
	for _, w := range []want{
		{gv: "v1", name: "pods", kind: "Pod", namespaced: true, verbs: verbsCRUD, shortNames: []string{"po"}, categories: []string{"all"}},
		{gv: "v1", name: "pods/status", kind: "Pod", namespaced: true, verbs: []string{"get", "patch", "update"}},
		{gv: "v1", name: "pods/binding", kind: "Binding", namespaced: true, verbs: []string{"create"}},
		{gv: "v1", name: "pods/eviction", group: "policy", version: "v1", kind: "Eviction", namespaced: true, verbs: []string{"create"}},
		{gv: "v1", name: "pods/log", kind: "Pod", namespaced: true, verbs: []string{"get"}},
		{gv: "v1", name: "pods/exec", kind: "PodExecOptions", namespaced: true, verbs: []string{"create", "get"}},
		{gv: "v1", name: "pods/attach", kind: "PodAttachOptions", namespaced: true, verbs: []string{"create", "get"}},
		{gv: "v1", name: "pods/portforward", kind: "PodPortForwardOptions", namespaced: true, verbs: []string{"create", "get"}},
		{gv: "v1", name: "pods/proxy", kind: "PodProxyOptions", namespaced: true, verbs: []string{"create", "delete", "get", "patch", "update"}},
		{gv: "v1", name: "services/proxy", kind: "ServiceProxyOptions", namespaced: true, verbs: []string{"create", "delete", "get", "patch", "update"}},
		{gv: "v1", name: "nodes/proxy", kind: "NodeProxyOptions", verbs: []string{"create", "delete", "get", "patch", "update"}},
		{gv: "v1", name: "nodes", kind: "Node", verbs: verbsCRUD, shortNames: []string{"no"}},
		{gv: "v1", name: "namespaces", kind: "Namespace", verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"}, shortNames: []string{"ns"}},
		{gv: "v1", name: "namespaces/finalize", kind: "Namespace", verbs: []string{"update"}},
		{gv: "v1", name: "serviceaccounts/token", group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", namespaced: true, verbs: []string{"create"}},
		{gv: "v1", name: "replicationcontrollers/scale", group: "autoscaling", version: "v1", kind: "Scale", namespaced: true, verbs: []string{"get", "patch", "update"}},
		{gv: "v1", name: "bindings", kind: "Binding", namespaced: true, verbs: []string{"create"}},
		{gv: "apps/v1", name: "deployments", kind: "Deployment", namespaced: true, verbs: verbsCRUD, shortNames: []string{"deploy"}, categories: []string{"all"}},
		{gv: "apps/v1", name: "deployments/scale", group: "autoscaling", version: "v1", kind: "Scale", namespaced: true, verbs: []string{"get", "patch", "update"}},
		{gv: "apps/v1", name: "deployments/status", kind: "Deployment", namespaced: true, verbs: []string{"get", "patch", "update"}},
		{gv: "authorization.k8s.io/v1", name: "selfsubjectaccessreviews", kind: "SelfSubjectAccessReview", verbs: []string{"create"}},
		{gv: "example.com/v1alpha1", name: "widgets", kind: "Widget", namespaced: true, verbs: verbsCRUD, shortNames: []string{"wd"}},
	} {
		got := findResource(t, lists, w.gv, w.name)
		if got.Group != w.group || got.Version != w.version || got.Kind != w.kind || got.Namespaced != w.namespaced ||
			!slices.Equal(got.Verbs, w.verbs) || !slices.Equal(got.ShortNames, w.shortNames) || !slices.Equal(got.Categories, w.categories) {
			t.Errorf("%s %s = %+v\nwant %+v", w.gv, w.name, got, w)
		}
	}
	for _, absent := range [][2]string{{"v1", "configmaps/status"}, {"v1", "configmaps/log"}, {"apps/v1", "deployments/log"}, {"batch/v1", "jobs/scale"}} {
		if hasResource(lists, absent[0], absent[1]) {
			t.Errorf("%s %s discovered, but it is not served", absent[0], absent[1])
		}
	}
}

func TestClientGoAggregatedDiscovery(t *testing.T) {
	srv, rec := newServer(t, testResources())
	dc := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})

	groups, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.take()
	// The aggregated path needs /api and /apis only; the legacy path would
	// fetch every group version as well.
	if len(reqs) != 2 || !strings.HasPrefix(reqs[0], "/api ") || !strings.HasPrefix(reqs[1], "/apis ") {
		t.Fatalf("requests = %q, want /api and /apis only", reqs)
	}
	checkDiscovered(t, groups, lists)
}

// normalize keeps what both discovery paths carry: the aggregated form has
// no storageVersionHash and gives subresources their parent's singular name.
func normalize(lists []*metav1.APIResourceList) map[string][]metav1.APIResource {
	out := map[string][]metav1.APIResource{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			r.StorageVersionHash = ""
			if strings.Contains(r.Name, "/") {
				r.SingularName = ""
			}
			out[l.GroupVersion] = append(out[l.GroupVersion], r)
		}
	}
	return out
}

func TestClientGoLegacyDiscovery(t *testing.T) {
	srv, rec := newServer(t, testResources())
	aggClient := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
	_, aggLists, err := aggClient.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	rec.take()

	// A client that never asks for the aggregated form.
	legacy := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
	legacy.UseLegacyDiscovery = true
	// A client whose Accept header loses the aggregated type on the way
	// (as through an old proxy): it must notice from Content-Type and fall
	// back to fetching each group version.
	stripped := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{
		Host: srv.URL,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.Header.Set("Accept", "application/json")
				return rt.RoundTrip(r)
			})
		},
	})
	for name, dc := range map[string]*discovery.DiscoveryClient{"legacy": legacy, "stripped": stripped} {
		t.Run(name, func(t *testing.T) {
			groups, lists, err := dc.ServerGroupsAndResources()
			if err != nil {
				t.Fatal(err)
			}
			reqs := rec.take()
			// /api, /apis, /api/v1 and one request per named group version.
			if len(reqs) != 3+len(wantGroupOrder)+2 {
				t.Errorf("requests = %q, want one per group version", reqs)
			}
			for _, r := range reqs {
				if strings.Contains(r, "apidiscovery") && name == "legacy" {
					t.Errorf("legacy client asked for aggregated discovery: %q", r)
				}
			}
			checkDiscovered(t, groups, lists)
			if got, want := normalize(lists), normalize(aggLists); !reflect.DeepEqual(got, want) {
				t.Errorf("legacy discovery differs from aggregated:\n%v\n%v", got, want)
			}
			pods := findResource(t, lists, "v1", "pods")
			if pods.SingularName != "pod" || pods.StorageVersionHash != "xPOwRZ+Yhw8=" {
				t.Errorf("pods = %+v, want singular pod and upstream's storageVersionHash", pods)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRESTMapper(t *testing.T) {
	srv, rec := newServer(t, testResources())
	cached := memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL}))
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	expander := restmapper.NewShortcutExpander(mapper, cached, nil)

	gvr, err := expander.ResourceFor(schema.GroupVersionResource{Resource: "deploy"})
	if want := (schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}); err != nil || gvr != want {
		t.Errorf("ResourceFor(deploy) = %v, %v; want %v", gvr, err, want)
	}
	m, err := mapper.RESTMapping(schema.GroupKind{Group: "apps", Kind: "Deployment"})
	if err != nil || m.Resource.Resource != "deployments" || m.Resource.Group != "apps" || m.Scope.Name() != meta.RESTScopeNameNamespace {
		t.Errorf("RESTMapping(Deployment) = %+v, %v", m, err)
	}
	m, err = mapper.RESTMapping(schema.GroupKind{Kind: "Namespace"})
	if err != nil || m.Resource.Resource != "namespaces" || m.Scope.Name() != meta.RESTScopeNameRoot {
		t.Errorf("RESTMapping(Namespace) = %+v, %v", m, err)
	}
	gvk, err := expander.KindFor(schema.GroupVersionResource{Resource: "hpa"})
	if want := (schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}); err != nil || gvk != want {
		t.Errorf("KindFor(hpa) = %v, %v; want the preferred %v", gvk, err, want)
	}
	gvr, err = expander.ResourceFor(schema.GroupVersionResource{Resource: "wd"})
	if want := (schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}); err != nil || gvr != want {
		t.Errorf("ResourceFor(wd) = %v, %v; want %v", gvr, err, want)
	}
	// "events" is served by core and events.k8s.io: group order decides.
	gvr, err = mapper.ResourceFor(schema.GroupVersionResource{Resource: "events"})
	if want := (schema.GroupVersionResource{Version: "v1", Resource: "events"}); err != nil || gvr != want {
		t.Errorf("ResourceFor(events) = %v, %v; want %v", gvr, err, want)
	}
	if reqs := rec.take(); len(reqs) != 2 {
		t.Errorf("RESTMapper made %d requests (%q), want the 2 of aggregated discovery", len(reqs), reqs)
	}
}

func TestClientNotFound(t *testing.T) {
	srv, _ := newServer(t, testResources())
	dc := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
	_, err := dc.ServerResourcesForGroupVersion("nope/v1")
	if !apierrors.IsNotFound(err) {
		t.Errorf("ServerResourcesForGroupVersion(nope/v1) = %v, want NotFound", err)
	}
	list, err := dc.ServerResourcesForGroupVersion("apps/v1")
	if err != nil || len(list.APIResources) == 0 {
		t.Errorf("ServerResourcesForGroupVersion(apps/v1) = %v, %v", list, err)
	}
}
