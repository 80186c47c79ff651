package ingress

import (
	"context"
	"net/http"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestPathRuleMatchesSpecExamples(t *testing.T) {
	exact, prefix, impl := networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific
	cases := []struct {
		typ  networkingv1.PathType
		path string
		req  string
		want bool
	}{
		{prefix, "/", "/anything", true},
		{exact, "/foo", "/foo", true},
		{exact, "/foo", "/bar", false},
		{exact, "/foo", "/foo/", false},
		{exact, "/foo/", "/foo", false},
		{prefix, "/foo", "/foo", true},
		{prefix, "/foo", "/foo/", true},
		{prefix, "/foo/", "/foo", true},
		{prefix, "/foo/", "/foo/", true},
		{prefix, "/aaa/bb", "/aaa/bbb", false},
		{prefix, "/aaa/bbb", "/aaa/bbb", true},
		{prefix, "/aaa/bbb/", "/aaa/bbb", true},
		{prefix, "/aaa/bbb", "/aaa/bbb/", true},
		{prefix, "/aaa/bbb", "/aaa/bbb/ccc", true},
		{prefix, "/aaa/bbb", "/aaa/bbbxyz", false},
		{impl, "/aaa", "/aaa/x", true},
		{impl, "/aaa", "/aaax", false},
	}
	for _, tc := range cases {
		r := newPathRule(networkingv1.HTTPIngressPath{Path: tc.path, PathType: &tc.typ}, 0, nil)
		if got := r.matches(tc.req); got != tc.want {
			t.Errorf("%s %q vs request %q: got %v, want %v", tc.typ, tc.path, tc.req, got, tc.want)
		}
	}
}

func TestTableRoutePrecedence(t *testing.T) {
	tb := newTableBuilder()
	ing := ingressOf("one",
		rule("foo.com",
			pathOf("/", networkingv1.PathTypePrefix, "root", port80),
			pathOf("/foo", networkingv1.PathTypePrefix, "prefix", port80),
			pathOf("/foo", networkingv1.PathTypeExact, "exact", port80),
			pathOf("/foo/bar", networkingv1.PathTypePrefix, "longer", port80)),
		rule("*.foo.com", pathOf("/", networkingv1.PathTypePrefix, "wild", port80)),
		rule("", pathOf("/any", networkingv1.PathTypePrefix, "anyhost", port80)))
	ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "default", Port: port80}}
	tb.add(ing)
	tab := tb.finish()
	cases := []struct{ host, path, want string }{
		{"foo.com", "/foo", "exact"},
		{"foo.com", "/foo/", "prefix"},
		{"foo.com", "/foo/bar/baz", "longer"},
		{"foo.com", "/other", "root"},
		{"bar.foo.com", "/x", "wild"},
		{"baz.bar.foo.com", "/x", "default"}, // one label only
		{"other.com", "/any/thing", "anyhost"},
		{"other.com", "/nothing", "default"},
	}
	for _, tc := range cases {
		b, ok := tab.route(tc.host, tc.path)
		if !ok || b.service != tc.want {
			got := "<none>"
			if ok {
				got = b.service
			}
			t.Errorf("route(%s, %s) = %s, want %s", tc.host, tc.path, got, tc.want)
		}
	}
}

func TestClassSelection(t *testing.T) {
	ours := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "skiff"}, Spec: networkingv1.IngressClassSpec{Controller: DefaultControllerName}}
	other := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}
	named := func(class string) *networkingv1.Ingress {
		i := ingressOf("x")
		i.Spec.IngressClassName = &class
		return i
	}
	annotated := func(class string) *networkingv1.Ingress {
		i := ingressOf("x")
		i.Annotations = map[string]string{legacyClassAnnotation: class}
		return i
	}
	cs := ourClasses([]*networkingv1.IngressClass{ours, other}, DefaultControllerName)
	if !cs.serves(named("skiff")) || cs.serves(named("nginx")) || !cs.serves(annotated("skiff")) || cs.serves(annotated("nginx")) {
		t.Errorf("class name or legacy annotation not honoured: %+v", cs)
	}
	if cs.serves(ingressOf("x")) {
		t.Errorf("classless Ingress served although skiff is not the default class")
	}
	ours.Annotations = map[string]string{defaultClassAnnotation: "true"}
	if cs := ourClasses([]*networkingv1.IngressClass{ours, other}, DefaultControllerName); !cs.serves(ingressOf("x")) {
		t.Errorf("classless Ingress not served although skiff is the default class")
	}
}

// TestHostsAndPathsThroughProxy routes two hosts and two paths to two
// services (one by port number, one by port name), with a default
// backend from a second Ingress, through the real listener.
func TestHostsAndPathsThroughProxy(t *testing.T) {
	one, two, def := newEchoBackend(t, "one"), newEchoBackend(t, "two"), newEchoBackend(t, "def")
	objects := []runtime.Object{
		service("one", svcPort("web", 80)), service("two", svcPort("http", 8080)), service("def", svcPort("", 80)),
		ingressOf("routes",
			rule("a.example.com",
				pathOf("/api", networkingv1.PathTypePrefix, "one", port80),
				pathOf("/exact", networkingv1.PathTypeExact, "two", portHTTP)),
			rule("b.example.com",
				pathOf("/api", networkingv1.PathTypePrefix, "two", portHTTP),
				pathOf("/exact", networkingv1.PathTypeExact, "one", port80))),
	}
	fallback := ingressOf("fallback")
	fallback.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "def", Port: port80}}
	objects = append(objects, fallback)
	objects = append(objects, objs(endpointSlices("one", "web", sliceEP{one.port(), true}))...)
	objects = append(objects, objs(endpointSlices("two", "http", sliceEP{two.port(), true}))...)
	objects = append(objects, objs(endpointSlices("def", "", sliceEP{def.port(), true}))...)
	e := startEnv(t, objects...)
	url := "http://" + e.ctrl.HTTPAddr()
	c := &http.Client{}
	// The default class is created by Run; its event brings the
	// classless Ingresses in.
	eventually(t, "classless Ingresses served", func() bool {
		code, _ := get(t, c, url+"/api", "a.example.com")
		return code == http.StatusOK
	})
	cases := []struct{ host, path, want string }{
		{"a.example.com", "/api", "one /api"},
		{"a.example.com", "/api/v1", "one /api/v1"},
		{"A.Example.com:80", "/api", "one /api"},
		{"a.example.com", "/exact", "two /exact"},
		{"a.example.com", "/exact/more", "def /exact/more"},
		{"b.example.com", "/api/x", "two /api/x"},
		{"b.example.com", "/exact", "one /exact"},
		{"b.example.com", "/apix", "def /apix"},
		{"c.example.com", "/api", "def /api"},
	}
	for _, tc := range cases {
		code, body := get(t, c, url+tc.path, tc.host)
		if code != http.StatusOK || body != tc.want {
			t.Errorf("%s%s: got %d %q, want 200 %q", tc.host, tc.path, code, body, tc.want)
		}
	}
}

func TestNotFoundWithoutDefaultBackend(t *testing.T) {
	one := newEchoBackend(t, "one")
	objects := []runtime.Object{
		service("one", svcPort("web", 80)),
		ingressOf("routes", rule("a.example.com", pathOf("/api", networkingv1.PathTypePrefix, "one", port80))),
		ingressOf("nobackend", rule("gone.example.com", pathOf("/", networkingv1.PathTypePrefix, "missing", port80))),
	}
	objects = append(objects, objs(endpointSlices("one", "web", sliceEP{one.port(), true}))...)
	e := startEnv(t, objects...)
	url := "http://" + e.ctrl.HTTPAddr()
	c := &http.Client{}
	eventually(t, "Ingress served", func() bool {
		code, _ := get(t, c, url+"/api", "a.example.com")
		return code == http.StatusOK
	})
	if code, _ := get(t, c, url+"/other", "a.example.com"); code != http.StatusNotFound {
		t.Errorf("unmatched path: got %d, want 404", code)
	}
	if code, _ := get(t, c, url+"/api", "z.example.com"); code != http.StatusNotFound {
		t.Errorf("unmatched host: got %d, want 404", code)
	}
	if code, _ := get(t, c, url+"/", "gone.example.com"); code != http.StatusServiceUnavailable {
		t.Errorf("backend Service missing: got %d, want 503", code)
	}
	if one.hits.Load() == 0 {
		t.Errorf("backend saw no request")
	}
}

// TestStatusAndClass checks the default IngressClass is created and that
// status.loadBalancer is written once, not again on unrelated rebuilds.
func TestStatusAndClass(t *testing.T) {
	e := startEnv(t, ingressOf("first", rule("a.example.com")))
	ctx := context.Background()
	eventually(t, "status of first", func() bool {
		ing, err := e.client.NetworkingV1().Ingresses(ns).Get(ctx, "first", metav1.GetOptions{})
		return err == nil && len(ing.Status.LoadBalancer.Ingress) == 1 && ing.Status.LoadBalancer.Ingress[0].IP == "192.0.2.10"
	})
	class, err := e.client.NetworkingV1().IngressClasses().Get(ctx, DefaultClassName, metav1.GetOptions{})
	if err != nil || class.Spec.Controller != DefaultControllerName || class.Annotations[defaultClassAnnotation] != "true" {
		t.Fatalf("IngressClass skiff: %v %+v", err, class)
	}
	if _, err := e.client.NetworkingV1().Ingresses(ns).Create(ctx, ingressOf("second", rule("b.example.com")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "status of second", func() bool {
		ing, err := e.client.NetworkingV1().Ingresses(ns).Get(ctx, "second", metav1.GetOptions{})
		return err == nil && len(ing.Status.LoadBalancer.Ingress) == 1
	})
	writes := map[string]int{}
	for _, a := range e.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "ingresses" && a.GetSubresource() == "status" {
			writes[a.(interface{ GetObject() runtime.Object }).GetObject().(*networkingv1.Ingress).Name]++
		}
	}
	if writes["first"] != 1 || writes["second"] != 1 {
		t.Errorf("status writes: got %v, want one per Ingress", writes)
	}
}
