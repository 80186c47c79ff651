package ingress

import (
	"net"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// pathRule is one path of one Ingress rule, normalised for matching.
type pathRule struct {
	// path is the rule's path; for Prefix it has no trailing slash, so
	// "/" becomes "" and matches everything.
	path  string
	exact bool
	// order breaks ties between rules that are otherwise equal: the
	// oldest Ingress wins, as ingress-nginx resolves conflicts.
	order   int
	backend *backend
}

// matches reports whether the request path p satisfies the rule, with
// Prefix compared element-wise on "/" as the Ingress spec defines:
// "/foo" matches "/foo", "/foo/" and "/foo/bar", never "/foobar".
func (r *pathRule) matches(p string) bool {
	if r.exact {
		return p == r.path
	}
	if r.path == "" {
		return true
	}
	if !strings.HasPrefix(p, r.path) {
		return false
	}
	return len(p) == len(r.path) || p[len(r.path)] == '/'
}

// newPathRule normalises an Ingress path. ImplementationSpecific is
// matched as Prefix (documented in doc.go); an empty path means "/".
func newPathRule(p networkingv1.HTTPIngressPath, order int, b *backend) pathRule {
	path := p.Path
	if path == "" {
		path = "/"
	}
	exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
	if !exact {
		path = strings.TrimRight(path, "/")
	}
	return pathRule{path: path, exact: exact, order: order, backend: b}
}

// sortPaths orders rules so the first match is the one the spec picks:
// the longest path, then Exact before Prefix, then the oldest Ingress.
func sortPaths(rules []pathRule) {
	sort.SliceStable(rules, func(i, j int) bool {
		a, b := rules[i], rules[j]
		if len(a.path) != len(b.path) {
			return len(a.path) > len(b.path)
		}
		if a.exact != b.exact {
			return a.exact
		}
		return a.order < b.order
	})
}

// firstMatch returns the backend of the first matching rule of a sorted
// list, and whether one matched.
func firstMatch(rules []pathRule, p string) (*backend, bool) {
	for i := range rules {
		if rules[i].matches(p) {
			return rules[i].backend, true
		}
	}
	return nil, false
}

// requestHost lower-cases the Host header and strips any port, since
// Ingress hosts are DNS names compared case-insensitively and never
// carry a port.
func requestHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	} else {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// wildcardKey returns the suffix a host matches under a wildcard rule:
// "bar.foo.com" gives ".foo.com", which "*.foo.com" is stored under. The
// wildcard covers exactly one label, so "baz.bar.foo.com" gives
// ".bar.foo.com" and does not match "*.foo.com", nor does "foo.com".
func wildcardKey(host string) (string, bool) {
	i := strings.IndexByte(host, '.')
	if i <= 0 || i == len(host)-1 {
		return "", false
	}
	return host[i:], true
}
