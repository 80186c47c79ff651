package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Paths anyone may read, as upstream's system:public-info-viewer role
// allows.
var publicPaths = map[string]bool{"/healthz": true, "/livez": true, "/readyz": true, "/version": true}

// authenticate admits requests that present a client certificate signed by
// the cluster CA (the TLS layer verifies it) and the public health paths.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if publicPaths[r.URL.Path] || (r.TLS != nil && len(r.TLS.VerifiedChains) > 0) {
			next.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
	})
}
