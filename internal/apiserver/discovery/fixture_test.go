package discovery

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/internal/registry"
)

// testResources is a slice of what Skiff serves: enough groups to check
// ordering, a storage version shared by two groups, a virtual resource and
// a CRD-like group with two versions.
func testResources() []registry.Resource {
	scale := &registry.Scale{}
	core := func(res, kind string, namespaced bool) registry.Resource {
		return registry.Resource{GVR: schema.GroupVersionResource{Version: "v1", Resource: res}, Kind: kind, Namespaced: namespaced}
	}
	gvr := func(g, v, r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
	}
	pods := core("pods", "Pod", true)
	pods.Singular, pods.ShortNames, pods.Categories, pods.HasStatus = "pod", []string{"po"}, []string{"all"}, true
	svcs := core("services", "Service", true)
	svcs.Singular, svcs.ShortNames, svcs.Categories, svcs.HasStatus = "service", []string{"svc"}, []string{"all"}, true
	ns := core("namespaces", "Namespace", false)
	ns.Singular, ns.ShortNames, ns.HasStatus = "namespace", []string{"ns"}, true
	nodes := core("nodes", "Node", false)
	nodes.Singular, nodes.ShortNames, nodes.HasStatus = "node", []string{"no"}, true
	sa := core("serviceaccounts", "ServiceAccount", true)
	sa.Singular, sa.ShortNames = "serviceaccount", []string{"sa"}
	cm := core("configmaps", "ConfigMap", true)
	cm.Singular, cm.ShortNames = "configmap", []string{"cm"}
	events := core("events", "Event", true)
	events.Singular, events.ShortNames = "event", []string{"ev"}
	rc := core("replicationcontrollers", "ReplicationController", true)
	rc.Singular, rc.ShortNames, rc.Categories, rc.HasStatus, rc.Scale = "replicationcontroller", []string{"rc"}, []string{"all"}, true, scale
	bindings := core("bindings", "Binding", true)
	bindings.Singular = "binding"

	return []registry.Resource{
		// Deliberately out of order: the handler sorts.
		{GVR: gvr("example.com", "v1alpha1", "widgets"), Kind: "Widget", Singular: "widget", Namespaced: true, ShortNames: []string{"wd"}},
		{GVR: gvr("apps", "v1", "deployments"), Kind: "Deployment", Singular: "deployment", Namespaced: true,
			ShortNames: []string{"deploy"}, Categories: []string{"all"}, HasStatus: true, Scale: scale},
		{GVR: gvr("apps", "v1", "replicasets"), Kind: "ReplicaSet", Singular: "replicaset", Namespaced: true,
			ShortNames: []string{"rs"}, Categories: []string{"all"}, HasStatus: true, Scale: scale},
		pods, svcs, ns, nodes, sa, cm, events, rc, bindings,
		{GVR: gvr("events.k8s.io", "v1", "events"), Kind: "Event", Singular: "event", Namespaced: true,
			ShortNames: []string{"ev"}, StorageGVR: gvr("", "v1", "events")},
		{GVR: gvr("autoscaling", "v1", "horizontalpodautoscalers"), Kind: "HorizontalPodAutoscaler", Singular: "horizontalpodautoscaler",
			Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"}, HasStatus: true},
		{GVR: gvr("autoscaling", "v2", "horizontalpodautoscalers"), Kind: "HorizontalPodAutoscaler", Singular: "horizontalpodautoscaler",
			Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"}, HasStatus: true},
		{GVR: gvr("authorization.k8s.io", "v1", "selfsubjectaccessreviews"), Kind: "SelfSubjectAccessReview", Singular: "selfsubjectaccessreview"},
		{GVR: gvr("batch", "v1", "jobs"), Kind: "Job", Singular: "job", Namespaced: true, Categories: []string{"all"}, HasStatus: true},
		{GVR: gvr("example.com", "v1", "widgets"), Kind: "Widget", Singular: "widget", Namespaced: true, ShortNames: []string{"wd"}},
		{GVR: gvr("apiextensions.k8s.io", "v1", "customresourcedefinitions"), Kind: "CustomResourceDefinition",
			Singular: "customresourcedefinition", ShortNames: []string{"crd", "crds"}, HasStatus: true},
		{GVR: gvr("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations"), Kind: "ValidatingWebhookConfiguration",
			Singular: "validatingwebhookconfiguration"},
		// A duplicate is served once.
		{GVR: gvr("apps", "v1", "deployments"), Kind: "Deployment"},
	}
}

// wantGroupOrder is upstream's order of the fixture's named groups.
var wantGroupOrder = []string{
	"apps", "events.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
	"admissionregistration.k8s.io", "apiextensions.k8s.io", "example.com",
}

// recorder counts the requests reaching the handler.
type recorder struct {
	mu       sync.Mutex
	requests []string // "path accept"
	next     http.Handler
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.requests = append(rec.requests, r.URL.Path+" "+r.Header.Get("Accept"))
	rec.mu.Unlock()
	rec.next.ServeHTTP(w, r)
}

func (rec *recorder) take() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.requests
	rec.requests = nil
	return out
}

func newServer(t *testing.T, resources []registry.Resource) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{next: New(resources)}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv, rec
}
