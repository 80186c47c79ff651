package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestInfo is what a resource URL names.
type requestInfo struct {
	GroupVersion schema.GroupVersion
	Namespace    string
	Resource     string
	Name         string
	Subresource  string
	Verb         string
	// legacyWatch is set for the deprecated /watch/ path prefix.
	legacyWatch bool
}

// parseRequest splits /api/v1/... and /apis/GROUP/VERSION/... paths. It
// returns ok=false for paths that are not resource requests (discovery).
func parseRequest(r *http.Request) (requestInfo, bool) {
	var info requestInfo
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.GroupVersion = schema.GroupVersion{Version: parts[1]}
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.GroupVersion = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		parts = parts[3:]
	default:
		return info, false
	}
	if parts[0] == "watch" {
		info.legacyWatch = true
		parts = parts[1:]
		if len(parts) == 0 {
			return info, false
		}
	}
	switch {
	case parts[0] == "namespaces" && len(parts) >= 3 && !(len(parts) == 3 && (parts[2] == "status" || parts[2] == "finalize")):
		info.Namespace = parts[1]
		parts = parts[2:]
	case parts[0] == "namespaces" && len(parts) >= 2:
		// The namespace object itself, addressed like a cluster resource.
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = strings.Join(parts[2:], "/")
	}
	info.Verb = verbFor(r, info)
	return info, true
}

func verbFor(r *http.Request, info requestInfo) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if info.legacyWatch || isTrue(r.URL.Query().Get("watch")) {
			return "watch"
		}
		if info.Name == "" {
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if info.Name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return ""
}

func isTrue(s string) bool { return s == "true" || s == "1" }
