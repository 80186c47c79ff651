// Package networking holds the registry strategies for networking.k8s.io/v1:
// ingresses, ingressclasses and networkpolicies (defaulting, validation,
// tables).
//
// It owns what an Ingress or NetworkPolicy may say, not what it does: the
// ingress router (internal/l7) and the policy data path interpret these
// objects and must not re-validate them. Nothing here touches storage or
// HTTP.
//
// Where Skiff knowingly differs from upstream:
//   - Hosts and CIDRs are parsed with the standard library (net.ParseIP,
//     net.ParseCIDR) rather than upstream's "sloppy" parsers, so legacy
//     forms such as leading-zero IPv4 octets are not treated as IPs/CIDRs.
//   - The ADDRESS column is never truncated: upstream's server-side tables
//     are always generated wide, so this matches what kubectl receives.
//   - NetworkPolicy v1 has no status subresource (upstream removed it), and
//     IngressClass has none either.
package networking
