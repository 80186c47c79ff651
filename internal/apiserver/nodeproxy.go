package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/proxy"
)

// serveNodeProxy serves nodes/{name}/proxy/{path}: any request, passed to
// the node agent's {path} with the API server's client certificate, as
// upstream proxies to the kubelet (`kubectl get --raw
// /api/v1/nodes/NODE/proxy/healthz`). Upgrades pass through.
func (s *Server) serveNodeProxy(w http.ResponseWriter, r *http.Request, info requestInfo) error {
	// The path is taken from the raw URL rather than info.Subresource,
	// which has lost a trailing slash the agent may care about.
	prefix := "/api/" + info.GroupVersion.Version + "/nodes/" + info.Name + "/proxy"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		return notFoundPath(r.URL.Path)
	}
	rest := strings.TrimPrefix(r.URL.Path, prefix)
	if rest == "" {
		rest = "/"
	}
	loc, err := s.agentURL(r.Context(), info.Name)
	if err != nil {
		return err
	}
	loc.Path = rest
	h := proxy.NewUpgradeAwareHandler(loc, s.kubeletTransport, false, false, proxyErrorResponder{s})
	// An agent must not send the API server's client elsewhere.
	h.RejectForwardingRedirects = true
	h.ServeHTTP(w, s.quietStreamLogger(withoutCredentials(r)))
	return nil
}
