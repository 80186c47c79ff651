package apiserver

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// serveResource runs one verb on one resource or subresource.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	gr := res.groupResource()
	if info.Namespace != "" && !res.Namespaced {
		return notFoundPath(r.URL.Path)
	}
	if res.Namespaced && info.Name != "" && info.Namespace == "" && info.Verb != "list" && info.Verb != "watch" {
		return notFoundPath(r.URL.Path)
	}
	if gr.String() == "nodes" && info.Name != "" && (info.Subresource == "proxy" || strings.HasPrefix(info.Subresource, "proxy/")) {
		return s.serveNodeProxy(w, r, info)
	}
	switch info.Subresource {
	case "":
		switch info.Verb {
		case "get":
			return s.get(w, r, res, info)
		case "list":
			return s.list(w, r, res, info)
		case "watch":
			return s.watch(w, r, res, info)
		case "create":
			return s.create(w, r, res, info)
		case "update":
			return s.update(w, r, res, info, mainResource)
		case "patch":
			return s.patch(w, r, res, info, mainResource)
		case "delete":
			return s.delete(w, r, res, info)
		case "deletecollection":
			return s.deleteCollection(w, r, res, info)
		}
	case "status":
		if !res.HasStatus {
			break
		}
		switch info.Verb {
		case "get":
			return s.get(w, r, res, info)
		case "update":
			return s.update(w, r, res, info, statusSubresource)
		case "patch":
			return s.patch(w, r, res, info, statusSubresource)
		}
		return methodNotAllowed(info.Verb, gr)
	case "scale":
		if res.Scale == nil {
			break
		}
		return s.serveScale(w, r, res, info)
	case "binding":
		if gr.String() != "pods" {
			break
		}
		if info.Verb != "create" {
			return methodNotAllowed(info.Verb, gr)
		}
		return s.bind(w, r, res, info)
	case "eviction":
		if gr.String() != "pods" {
			break
		}
		if info.Verb != "create" {
			return methodNotAllowed(info.Verb, gr)
		}
		return s.evict(w, r, res, info)
	case "log":
		if gr.String() != "pods" {
			break
		}
		return s.podLog(w, r, res, info)
	case "exec", "attach", "portforward":
		if gr.String() != "pods" {
			break
		}
		return s.servePodStream(w, r, res, info)
	case "finalize":
		if gr.String() != "namespaces" {
			break
		}
		if info.Verb != "update" {
			return methodNotAllowed(info.Verb, gr)
		}
		return s.update(w, r, res, info, finalizeSubresource)
	}
	if info.Verb == "" {
		return methodNotAllowed(r.Method, gr)
	}
	return apierrors.NewNotFound(gr, info.Name+"/"+info.Subresource)
}
