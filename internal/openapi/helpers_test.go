package openapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/registry"
)

// testScheme mirrors the built-in scheme (internal/registry/builtin).
func testScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, authenticationv1.AddToScheme, authorizationv1.AddToScheme,
		autoscalingv1.AddToScheme, batchv1.AddToScheme, coordinationv1.AddToScheme, discoveryv1.AddToScheme,
		eventsv1.AddToScheme, networkingv1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme,
		schedulingv1.AddToScheme, storagev1.AddToScheme, metav1.AddMetaToScheme,
	} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// testResources is a hand-written list shaped like the server's (about
// 45 resources); the real list is assembled in internal/registry/builtin.
func testResources() []registry.Resource {
	type res struct {
		gv, resource, kind string
		namespaced         bool
		status, scale      bool
	}
	list := []res{
		{"v1", "pods", "Pod", true, true, false},
		{"v1", "services", "Service", true, true, false},
		{"v1", "endpoints", "Endpoints", true, false, false},
		{"v1", "configmaps", "ConfigMap", true, false, false},
		{"v1", "secrets", "Secret", true, false, false},
		{"v1", "serviceaccounts", "ServiceAccount", true, false, false},
		{"v1", "events", "Event", true, false, false},
		{"v1", "replicationcontrollers", "ReplicationController", true, true, true},
		{"v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, true, false},
		{"v1", "podtemplates", "PodTemplate", true, false, false},
		{"v1", "limitranges", "LimitRange", true, false, false},
		{"v1", "resourcequotas", "ResourceQuota", true, true, false},
		{"v1", "bindings", "Binding", true, false, false},
		{"v1", "namespaces", "Namespace", false, true, false},
		{"v1", "nodes", "Node", false, true, false},
		{"v1", "persistentvolumes", "PersistentVolume", false, true, false},
		{"apps/v1", "deployments", "Deployment", true, true, true},
		{"apps/v1", "replicasets", "ReplicaSet", true, true, true},
		{"apps/v1", "statefulsets", "StatefulSet", true, true, true},
		{"apps/v1", "daemonsets", "DaemonSet", true, true, false},
		{"apps/v1", "controllerrevisions", "ControllerRevision", true, false, false},
		{"batch/v1", "jobs", "Job", true, true, false},
		{"batch/v1", "cronjobs", "CronJob", true, true, false},
		{"autoscaling/v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, true, false},
		{"policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", true, true, false},
		{"networking.k8s.io/v1", "ingresses", "Ingress", true, true, false},
		{"networking.k8s.io/v1", "ingressclasses", "IngressClass", false, false, false},
		{"networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", true, false, false},
		{"discovery.k8s.io/v1", "endpointslices", "EndpointSlice", true, false, false},
		{"events.k8s.io/v1", "events", "Event", true, false, false},
		{"coordination.k8s.io/v1", "leases", "Lease", true, false, false},
		{"rbac.authorization.k8s.io/v1", "roles", "Role", true, false, false},
		{"rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", true, false, false},
		{"rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", false, false, false},
		{"rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", false, false, false},
		{"scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", false, false, false},
		{"storage.k8s.io/v1", "storageclasses", "StorageClass", false, false, false},
		{"storage.k8s.io/v1", "csidrivers", "CSIDriver", false, false, false},
		{"storage.k8s.io/v1", "csinodes", "CSINode", false, false, false},
		{"storage.k8s.io/v1", "volumeattachments", "VolumeAttachment", false, true, false},
		{"authentication.k8s.io/v1", "tokenreviews", "TokenReview", false, false, false},
		{"authentication.k8s.io/v1", "selfsubjectreviews", "SelfSubjectReview", false, false, false},
		{"authorization.k8s.io/v1", "subjectaccessreviews", "SubjectAccessReview", false, false, false},
		{"authorization.k8s.io/v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, false, false},
		{"authorization.k8s.io/v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", true, false, false},
		{"authorization.k8s.io/v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", false, false, false},
	}
	out := make([]registry.Resource, 0, len(list))
	for _, r := range list {
		gv, err := schema.ParseGroupVersion(r.gv)
		if err != nil {
			panic(err)
		}
		res := registry.Resource{
			GVR: gv.WithResource(r.resource), Kind: r.kind, Namespaced: r.namespaced, HasStatus: r.status,
		}
		if r.scale {
			res.Scale = &registry.Scale{}
		}
		if r.gv == "events.k8s.io/v1" {
			res.StorageGVR = corev1.SchemeGroupVersion.WithResource("events")
		}
		out = append(out, res)
	}
	return out
}

var (
	sharedOnce    sync.Once
	sharedHandler *Handler
	sharedErr     error
)

// testHandler builds the handler of testResources once per test binary.
func testHandler(t testing.TB) *Handler {
	t.Helper()
	sharedOnce.Do(func() { sharedHandler, sharedErr = New(testResources(), testScheme(t)) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedHandler
}

// testServer serves the handler plus a minimal discovery (/api, /apis
// and the per-group-version resource lists) built from testResources.
func testServer(t testing.TB) (*httptest.Server, *rest.Config) {
	t.Helper()
	h := testHandler(t)
	byGV := map[schema.GroupVersion][]metav1.APIResource{}
	var order []schema.GroupVersion
	for _, r := range testResources() {
		gv := r.GVR.GroupVersion()
		if _, ok := byGV[gv]; !ok {
			order = append(order, gv)
		}
		byGV[gv] = append(byGV[gv], metav1.APIResource{
			Name: r.GVR.Resource, Kind: r.Kind, Namespaced: r.Namespaced,
			Verbs: metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/openapi/", h)
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
	})
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) {
		list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, gv := range order {
			if gv.Group == "" {
				continue
			}
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
		}
		writeJSON(w, list)
	})
	resourceList := func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/apis/"), "/api/")
		gv, err := schema.ParseGroupVersion(p)
		if err != nil || byGV[gv] == nil {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: gv.String(), APIResources: byGV[gv]})
	}
	mux.HandleFunc("/api/", resourceList)
	mux.HandleFunc("/apis/", resourceList)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &rest.Config{Host: srv.URL}
}
