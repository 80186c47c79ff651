package networking

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

type wantErr struct {
	typ    field.ErrorType
	field  string
	detail string
}

func checkErrs(t *testing.T, got field.ErrorList, want []wantErr) {
	t.Helper()
	if len(want) == 0 && len(got) != 0 {
		t.Fatalf("unexpected errors: %v", got)
	}
	for _, w := range want {
		found := false
		for _, e := range got {
			if e.Type == w.typ && e.Field == w.field && strings.Contains(e.Detail, w.detail) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %s error on %s containing %q; got %v", w.typ, w.field, w.detail, got)
		}
	}
}

func resource(t *testing.T, kind string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Kind == kind {
			return r
		}
	}
	t.Fatalf("no resource %s", kind)
	return registry.Resource{}
}

func ptrTo[T any](v T) *T { return &v }

func newIngress() *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptrTo("skiff"),
			Rules: []networkingv1.IngressRule{{
				Host: "app.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path: "/api", PathType: &prefix,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "api", Port: networkingv1.ServiceBackendPort{Number: 8080},
						}},
					}},
				}},
			}},
		},
	}
}

func TestIngressValidate(t *testing.T) {
	path := "spec.rules[0].http.paths[0]"
	tests := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   []wantErr
	}{
		{"valid", func(*networkingv1.Ingress) {}, nil},
		{"wildcard host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "*.example.com" }, nil},
		{"bad wildcard host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "app.*.com" },
			[]wantErr{{field.ErrorTypeInvalid, "spec.rules[0].host", "wildcard DNS-1123 subdomain"}}},
		{"ip host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" },
			[]wantErr{{field.ErrorTypeInvalid, "spec.rules[0].host", "must be a DNS name, not an IP address"}}},
		{"missing pathType", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil },
			[]wantErr{{field.ErrorTypeRequired, path + ".pathType", "pathType must be specified"}}},
		{"unknown pathType", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = ptrTo(networkingv1.PathType("Regex"))
		},
			[]wantErr{{field.ErrorTypeNotSupported, path + ".pathType", `"Exact", "ImplementationSpecific", "Prefix"`}}},
		{"relative prefix", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "api" },
			[]wantErr{{field.ErrorTypeInvalid, path + ".path", "must be an absolute path"}}},
		{"double slash", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "/a//b" },
			[]wantErr{{field.ErrorTypeInvalid, path + ".path", "must not contain '//'"}}},
		{"dot suffix", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "/a/.." },
			[]wantErr{{field.ErrorTypeInvalid, path + ".path", "cannot end with '/..'"}}},
		{"implementation specific may be empty", func(i *networkingv1.Ingress) {
			p := &i.Spec.Rules[0].HTTP.Paths[0]
			p.PathType, p.Path = ptrTo(networkingv1.PathTypeImplementationSpecific), ""
		}, nil},
		{"port name and number", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "http" },
			[]wantErr{{field.ErrorTypeInvalid, path + ".backend", "cannot set both port name & port number"}}},
		{"no port", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number = 0 },
			[]wantErr{{field.ErrorTypeRequired, path + ".backend", "port name or number is required"}}},
		{"service and resource", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Resource = &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}
		}, []wantErr{{field.ErrorTypeInvalid, path + ".backend", "cannot set both resource and service backends"}}},
		{"no backend", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{} },
			[]wantErr{{field.ErrorTypeInvalid, path + ".backend", "resource or service backend is required"}}},
		{"no rules or default", func(i *networkingv1.Ingress) { i.Spec.Rules = nil },
			[]wantErr{{field.ErrorTypeInvalid, "spec", "either `defaultBackend` or `rules` must be specified"}}},
		{"class annotation and field", func(i *networkingv1.Ingress) { i.Annotations = map[string]string{annotationIngressClass: "nginx"} },
			[]wantErr{{field.ErrorTypeInvalid, "annotations.kubernetes.io/ingress.class", "can not be set when the class field is also set"}}},
		{"bad tls secret", func(i *networkingv1.Ingress) { i.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "Bad_Name"}} },
			[]wantErr{{field.ErrorTypeInvalid, "spec.tls[0].secretName", "RFC 1123 subdomain"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := newIngress()
			tt.mutate(ing)
			checkErrs(t, resource(t, "Ingress").Strategy.Validate(ing), tt.want)
		})
	}
}

func TestIngressUpdateToleratesOldInvalidSecret(t *testing.T) {
	old := newIngress()
	old.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "Bad_Name"}}
	ing := old.DeepCopy()
	ing.Labels = map[string]string{"a": "b"}
	checkErrs(t, resource(t, "Ingress").Strategy.ValidateUpdate(ing, old), nil)
}

func TestIngressRow(t *testing.T) {
	ing := newIngress()
	ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"app.example.com"}}}
	for _, h := range []string{"b.example.com", "", "c.example.com", "d.example.com"} {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: h})
	}
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.2"}, {Hostname: "lb.example.com"}, {IP: "10.0.0.2"}}
	row, err := resource(t, "Ingress").Strategy.Row(ing)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"web", "skiff", "app.example.com,b.example.com,c.example.com + 2 more...", "10.0.0.2,lb.example.com", "80, 443", "<unknown>"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
	if got := formatHosts(nil); got != "*" {
		t.Errorf("no hosts = %q", got)
	}
}

func TestIngressClass(t *testing.T) {
	s := resource(t, "IngressClass")
	if s.Namespaced || s.Strategy.Columns[1].Name != "Controller" {
		t.Fatalf("resource = %+v", s)
	}
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "skiff", ResourceVersion: "1"},
		Spec: networkingv1.IngressClassSpec{
			Controller: "skiff.dev/ingress",
			Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptrTo("skiff.dev"), Kind: "Params", Name: "p"},
		},
	}
	s.Strategy.Default(ic)
	if *ic.Spec.Parameters.Scope != networkingv1.IngressClassParametersReferenceScopeCluster {
		t.Errorf("scope not defaulted")
	}
	checkErrs(t, s.Strategy.Validate(ic), nil)
	row, _ := s.Strategy.Row(ic)
	if row[2] != "Params.skiff.dev/p" {
		t.Errorf("parameters cell = %v", row[2])
	}

	empty := ic.DeepCopy()
	empty.Spec.Controller = ""
	checkErrs(t, s.Strategy.Validate(empty), []wantErr{{field.ErrorTypeRequired, "spec.controller", ""}})

	changed := ic.DeepCopy()
	changed.Spec.Controller = "other.dev/ingress"
	checkErrs(t, s.Strategy.ValidateUpdate(changed, ic), []wantErr{{field.ErrorTypeInvalid, "spec.controller", "field is immutable"}})
}

func TestNetworkPolicy(t *testing.T) {
	s := resource(t, "NetworkPolicy")
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: "default"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: ptrTo(intstr.FromInt32(5432))}}}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
		},
	}
	s.Strategy.Default(np)
	if !equality.Semantic.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) ||
		*np.Spec.Ingress[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("defaults = %+v", np.Spec)
	}
	checkErrs(t, s.Strategy.Validate(np), nil)

	tests := []struct {
		name   string
		mutate func(*networkingv1.NetworkPolicy)
		want   []wantErr
	}{
		{"empty peer", func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{}} },
			[]wantErr{{field.ErrorTypeRequired, "spec.ingress[0].from[0]", "must specify a peer"}}},
		{"ipBlock with selector", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}, PodSelector: &metav1.LabelSelector{}}}
		}, []wantErr{{field.ErrorTypeForbidden, "spec.ingress[0].from[0]", "may not specify both ipBlock and another peer"}}},
		{"except not subset", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress[0].To = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/16", Except: []string{"10.1.0.0/24"}}}}
		}, []wantErr{{field.ErrorTypeInvalid, "spec.egress[0].to[0].ipBlock.except[0]", "must be a strict subset of `cidr`"}}},
		{"endPort below port", func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].Ports[0].EndPort = ptrTo[int32](80) },
			[]wantErr{{field.ErrorTypeInvalid, "spec.ingress[0].ports[0].endPort", "must be greater than or equal to `port`"}}},
		{"named port range", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0] = networkingv1.NetworkPolicyPort{Port: ptrTo(intstr.FromString("pg")), EndPort: ptrTo[int32](6000)}
		}, []wantErr{{field.ErrorTypeInvalid, "spec.ingress[0].ports[0].endPort", "may not be specified when `port` is non-numeric"}}},
		{"bad policy type", func(np *networkingv1.NetworkPolicy) { np.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"} },
			[]wantErr{{field.ErrorTypeNotSupported, "spec.policyTypes[0]", `"Ingress", "Egress"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := np.DeepCopy()
			tt.mutate(c)
			checkErrs(t, s.Strategy.Validate(c), tt.want)
		})
	}
	row, _ := s.Strategy.Row(np)
	if row[1] != "app=db" {
		t.Errorf("pod selector cell = %v", row[1])
	}
}
