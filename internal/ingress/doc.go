// Package ingress is Skiff's Ingress controller and L7 proxy. Every node
// runs one: it serves networking.k8s.io/v1 Ingresses of the classes whose
// spec.controller is skiff.dev/ingress on the node's ports 80 and 443,
// proxying straight to the ready endpoints listed in EndpointSlices, not
// through the ClusterIP.
//
// What it owns: the IngressClass "skiff" (created, marked as the default
// class, when no class of that name exists; an existing one is never
// changed), status.loadBalancer.ingress of the Ingresses it serves (set
// to Config.NodeIPs, written only when different), and its listeners.
//
// What it must not touch: Ingresses of other classes (status included),
// Services, EndpointSlices and Secrets, which it only reads.
//
// Which Ingresses are served: spec.ingressClassName naming one of our
// classes; else the legacy kubernetes.io/ingress.class annotation naming
// one; else, with neither set, when one of our classes carries
// ingressclass.kubernetes.io/is-default-class: "true" (upstream's
// admission would have written the default class into the field).
//
// Routing: rules of all served Ingresses are merged. A request's host
// (Host header, port stripped, case-folded) is matched exactly first,
// then against "*.suffix" wildcards (one label only, as the spec
// defines), then against rules without a host. Within a host the longest
// path wins, Exact beats Prefix at equal length, and the oldest Ingress
// wins a tie. Prefix matches whole "/"-separated elements and ignores a
// trailing slash. ImplementationSpecific is matched as Prefix. A host
// whose paths do not match falls through to less specific hosts and then
// to the oldest Ingress's defaultBackend; with none, 404. A backend whose
// Service or port does not resolve, or that has no endpoints, gets 503;
// ExternalName Services and resource backends are not proxied (503).
//
// Data path: the routing table is immutable, precomputed on change and
// swapped atomically; a request costs a map lookup and a short scan.
// Ingress, IngressClass and referenced-Secret changes rebuild the table;
// Service and EndpointSlice changes only swap the endpoint lists of the
// backends naming that Service. Endpoints are balanced round robin.
// Ready endpoints serve; when none is ready, serving-but-terminating ones
// do, as kube-proxy falls back.
//
// HTTP/1.x is served by the package's own loop (http1.go): one goroutine
// per client connection reads a request with http.ReadRequest, writes it
// to an idle keep-alive connection of the chosen endpoint and relays the
// response, re-framed for the client, with no goroutine per upstream
// connection and no hand-off between goroutines. This costs about half of
// what net/http's server, ReverseProxy and Transport together did. HTTP/2
// (TLS with ALPN h2) goes through net/http's server and ReverseProxy,
// whose Transport is the same upstream path (upstream.go).
//
// Each endpoint keeps its own idle connections: when it leaves the slice
// (or turns not-ready) they are closed at once, and connections still
// carrying a request are closed when their response ends, so zero-downtime
// rollouts need no preStop sleep on this path. A reused connection the
// backend closed while idle is replaced by a fresh one: at once for a
// replayable request, after a non-blocking check before sending any
// other.
//
// Passive health: a connection failure (refused, reset, dial timeout)
// ejects the endpoint for 5s, doubling per consecutive failure up to 60s,
// and the request is retried on another endpoint (up to 3 attempts) when
// that is safe: the connection was never established, or the method is
// idempotent and has no body. Responses, 5xx included, never eject.
//
// TLS: certificates come from the Secrets named in spec.tls (tls.crt and
// tls.key; Opaque Secrets with those keys are accepted as ingress-nginx
// does), picked by SNI: exact host, then wildcard, then an entry without
// hosts; otherwise a self-signed default certificate. HTTP/2 is offered
// over TLS through ALPN; h2c is not. WebSocket upgrades pass through over
// HTTP/1.1. The backend sees the client's Host header and
// X-Forwarded-For/-Host/-Proto/-Port and X-Real-IP; client-supplied
// X-Forwarded-* headers are dropped, not appended to (ingress-nginx's
// default without use-forwarded-headers).
//
// Where it knowingly differs from ingress-nginx: no annotations
// (rewrites, auth, rate limits, ssl-redirect: HTTP is never redirected to
// HTTPS), no TCP/UDP services, and conflicting default backends resolve
// to the oldest Ingress rather than the controller's own 404 service.
// Informational responses other than 101 (103 Early Hints) are not
// relayed, and CONNECT requests get 405. Every node publishes Config.NodeIPs, so callers with several nodes give
// them one shared list (or let one node write status).
package ingress
