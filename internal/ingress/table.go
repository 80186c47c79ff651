package ingress

import (
	"fmt"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

const (
	// legacyClassAnnotation predates spec.ingressClassName and names a
	// class; it is honoured when the field is unset, as upstream does.
	legacyClassAnnotation = "kubernetes.io/ingress.class"
	// defaultClassAnnotation marks the IngressClass that upstream's
	// admission assigns to Ingresses created without a class.
	defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
)

// table is an immutable routing snapshot: requests read it through an
// atomic pointer, and any change builds a new one.
type table struct {
	exact    map[string][]pathRule // host -> rules, sorted
	wildcard map[string][]pathRule // ".foo.com" (from "*.foo.com") -> rules
	anyHost  []pathRule            // rules without a host
	// defaultBackend serves requests no rule matches; nil means 404.
	defaultBackend *backend
	// backends lists, per "namespace/service", every backend naming it,
	// so an EndpointSlice change refreshes just those.
	backends map[string][]*backend
	// secrets holds "namespace/name" of every TLS Secret referenced.
	secrets map[string]struct{}
	certs   *certStore
	// served lists the Ingresses this table serves, for status writes.
	served map[string]*networkingv1.Ingress
}

// route finds the backend for a request. The most specific host wins
// (exact, then wildcard, then rules without a host); within one host the
// sorted rules give the spec's path precedence. A host whose paths do
// not match falls through to less specific hosts and then to the
// default backend, since the spec sends to the default backend whatever
// matches no rule.
func (t *table) route(host, path string) (*backend, bool) {
	if rules, ok := t.exact[host]; ok {
		if b, ok := firstMatch(rules, path); ok {
			return b, true
		}
	}
	if key, ok := wildcardKey(host); ok {
		if rules, ok := t.wildcard[key]; ok {
			if b, ok := firstMatch(rules, path); ok {
				return b, true
			}
		}
	}
	if b, ok := firstMatch(t.anyHost, path); ok {
		return b, true
	}
	if t.defaultBackend != nil {
		return t.defaultBackend, true
	}
	return nil, false
}

// classSet is what the IngressClasses say about which Ingresses are ours.
type classSet struct {
	names map[string]bool
	// isDefault: one of our classes is the cluster default, so Ingresses
	// without any class are ours.
	isDefault bool
}

func ourClasses(classes []*networkingv1.IngressClass, controller string) classSet {
	cs := classSet{names: map[string]bool{}}
	for _, c := range classes {
		if c.Spec.Controller != controller {
			continue
		}
		cs.names[c.Name] = true
		if c.Annotations[defaultClassAnnotation] == "true" {
			cs.isDefault = true
		}
	}
	return cs
}

func (cs classSet) serves(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil {
		return cs.names[*ing.Spec.IngressClassName]
	}
	if v, ok := ing.Annotations[legacyClassAnnotation]; ok {
		return cs.names[v]
	}
	return cs.isDefault
}

// sortIngresses orders Ingresses oldest first (then by key), so that
// when two claim the same host and path, or both set a default backend,
// the oldest wins and keeps winning, as with ingress-nginx.
func sortIngresses(list []*networkingv1.Ingress) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
}

// tableBuilder accumulates one table; backends are shared by spec so two
// rules naming the same service port balance over one round robin.
type tableBuilder struct {
	t       *table
	byRef   map[string]*backend
	order   int
	tlsRefs []tlsRef
}

type tlsRef struct {
	namespace, secret string
	hosts             []string
}

func newTableBuilder() *tableBuilder {
	return &tableBuilder{
		t: &table{
			exact:    map[string][]pathRule{},
			wildcard: map[string][]pathRule{},
			backends: map[string][]*backend{},
			secrets:  map[string]struct{}{},
			served:   map[string]*networkingv1.Ingress{},
		},
		byRef: map[string]*backend{},
	}
}

// add merges one served Ingress into the table.
func (tb *tableBuilder) add(ing *networkingv1.Ingress) {
	tb.t.served[ing.Namespace+"/"+ing.Name] = ing
	if db := ing.Spec.DefaultBackend; db != nil && tb.t.defaultBackend == nil {
		tb.t.defaultBackend = tb.backendFor(ing.Namespace, db)
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		var rules []pathRule
		for _, p := range rule.HTTP.Paths {
			tb.order++
			rules = append(rules, newPathRule(p, tb.order, tb.backendFor(ing.Namespace, &p.Backend)))
		}
		host := strings.ToLower(rule.Host)
		switch {
		case host == "":
			tb.t.anyHost = append(tb.t.anyHost, rules...)
		case strings.HasPrefix(host, "*."):
			tb.t.wildcard[host[1:]] = append(tb.t.wildcard[host[1:]], rules...)
		default:
			tb.t.exact[host] = append(tb.t.exact[host], rules...)
		}
	}
	for _, t := range ing.Spec.TLS {
		if t.SecretName == "" {
			continue
		}
		tb.t.secrets[ing.Namespace+"/"+t.SecretName] = struct{}{}
		tb.tlsRefs = append(tb.tlsRefs, tlsRef{namespace: ing.Namespace, secret: t.SecretName, hosts: t.Hosts})
	}
}

// backendFor returns the shared backend for an Ingress backend reference.
// Resource backends are not served: they resolve to an error (503).
func (tb *tableBuilder) backendFor(ns string, ib *networkingv1.IngressBackend) *backend {
	b := &backend{namespace: ns}
	switch {
	case ib.Service != nil:
		b.service = ib.Service.Name
		b.portNumber = ib.Service.Port.Number
		b.portName = ib.Service.Port.Name
	case ib.Resource != nil:
		b.eps.Store(&endpointSet{err: fmt.Sprintf("resource backend %s/%s is not supported", ib.Resource.Kind, ib.Resource.Name)})
		return b
	default:
		b.eps.Store(&endpointSet{err: "backend names no service"})
		return b
	}
	ref := fmt.Sprintf("%s/%s:%d:%s", ns, b.service, b.portNumber, b.portName)
	if shared, ok := tb.byRef[ref]; ok {
		return shared
	}
	tb.byRef[ref] = b
	key := ns + "/" + b.service
	tb.t.backends[key] = append(tb.t.backends[key], b)
	return b
}

// finish sorts every rule list; the table is immutable afterwards.
func (tb *tableBuilder) finish() *table {
	for h := range tb.t.exact {
		sortPaths(tb.t.exact[h])
	}
	for h := range tb.t.wildcard {
		sortPaths(tb.t.wildcard[h])
	}
	sortPaths(tb.t.anyHost)
	return tb.t
}
