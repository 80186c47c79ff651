package openapi

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// This file describes the REST operations of each resource once, in a
// form independent of the OpenAPI version; v2.go and v3.go render it.

// Media types, as upstream lists them.
var (
	produces      = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	producesWatch = append(append([]string(nil), produces...),
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
	// patchTypes are the patch bodies the server accepts on built-in kinds.
	// kubectl apply computes a strategic merge patch only when the v3 PATCH
	// operation lists application/strategic-merge-patch+json.
	patchTypes = []string{
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
		"application/apply-patch+yaml",
	}
)

// param is a path or query parameter.
type param struct {
	name, in, typ, desc string
}

var params = map[string]param{}

func init() {
	for _, p := range []param{
		{"name", "path", "string", "name of the object"},
		{"namespace", "path", "string", "object name and auth scope, such as for teams and projects"},
		{"pretty", "query", "string", "If 'true', then the output is pretty printed."},
		{"allowWatchBookmarks", "query", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."},
		{"continue", "query", "string", "The continue option should be set when retrieving more results from the server, with the value of the previous list's metadata.continue."},
		{"fieldSelector", "query", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."},
		{"labelSelector", "query", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."},
		{"limit", "query", "integer", "limit is a maximum number of responses to return for a list call."},
		{"resourceVersion", "query", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."},
		{"resourceVersionMatch", "query", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."},
		{"sendInitialEvents", "query", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`: the watch starts with synthetic events for the current state of all objects, followed by a BOOKMARK."},
		{"timeoutSeconds", "query", "integer", "Timeout for the list/watch call."},
		{"watch", "query", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."},
		{"dryRun", "query", "string", "When present, indicates that modifications should not be persisted. The only valid value is: All."},
		{"fieldManager", "query", "string", "fieldManager is a name associated with the actor or entity that is making these changes."},
		{"fieldValidation", "query", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (the default) and Strict."},
		{"force", "query", "boolean", "Force is going to \"force\" Apply requests: re-acquire conflicting fields owned by other people. Must be unset for non-apply patch requests."},
		{"gracePeriodSeconds", "query", "integer", "The duration in seconds before the object should be deleted. Zero means delete immediately."},
		{"ignoreStoreReadErrorWithClusterBreakingPotential", "query", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error."},
		{"orphanDependents", "query", "boolean", "Deprecated: please use the PropagationPolicy. Should the dependent objects be orphaned."},
		{"propagationPolicy", "query", "string", "Whether and how garbage collection will be performed: Orphan, Background or Foreground."},
	} {
		params[p.name] = p
	}
}

// Query parameters per action, as upstream documents them.
var (
	listQuery = []string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
		"resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"}
	writeQuery             = []string{"dryRun", "fieldManager", "fieldValidation"}
	patchQuery             = []string{"dryRun", "fieldManager", "fieldValidation", "force"}
	deleteQuery            = []string{"dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "orphanDependents", "propagationPolicy"}
	deleteCollectionQuery  = []string{"continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "labelSelector", "limit", "orphanDependents", "propagationPolicy", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds"}
	subresourceCreateQuery = []string{"dryRun", "fieldManager", "fieldValidation"}
)

// Bodies the operations exchange besides the resource's own kinds.
const (
	bodyPatch         = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	bodyStatus        = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
	bodyDeleteOptions = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
)

// operation is one HTTP method on one path.
type operation struct {
	method string // get, put, post, patch, delete
	action string // x-kubernetes-action
	id     string
	desc   string
	gvk    schema.GroupVersionKind
	// body is the definition of the request body, "" for none.
	body         string
	bodyRequired bool
	patch        bool // the body is a patch in one of patchTypes
	// responses maps status codes to definition names.
	responses map[int]string
	query     []string
	watch     bool // list: also streams watch events
}

type pathItem struct {
	path   string
	params []string // path-level parameters
	ops    []operation
}

// resourceInfo is a served resource with the definitions of its kinds.
type resourceInfo struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	kindDef    string
	listDef    string // "" when the resource cannot be listed (create-only)
	hasStatus  bool
	scaleDef   string // "" without a scale subresource
	bindingDef string // pods/binding
	evictDef   string // pods/eviction
}

// gvPrefix is the URL prefix of a group version without the leading
// slash: api/v1 or apis/GROUP/VERSION. It names the v3 document too.
func gvPrefix(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// gvIDs returns the operationId infix and the tag upstream uses for a
// group version: ("CoreV1", "core_v1"), ("RbacAuthorizationV1",
// "rbacAuthorization_v1").
func gvIDs(gv schema.GroupVersion) (id, tag string) {
	g := "core"
	if gv.Group != "" {
		g = strings.TrimSuffix(gv.Group, ".k8s.io")
	}
	var b strings.Builder
	for _, part := range strings.FieldsFunc(g, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	camel := b.String()
	return camel + strings.ToUpper(gv.Version[:1]) + gv.Version[1:],
		strings.ToLower(camel[:1]) + camel[1:] + "_" + gv.Version
}

// resourcePaths lists the paths and operations of one resource.
func resourcePaths(ri resourceInfo) []pathItem {
	gv := ri.gvr.GroupVersion()
	gvk := gv.WithKind(ri.kind)
	gvID, _ := gvIDs(gv)
	base := "/" + gvPrefix(gv)
	scope, nsParams := "", []string{}
	if ri.namespaced {
		base += "/namespaces/{namespace}"
		scope, nsParams = "Namespaced", []string{"namespace"}
	}
	collection := base + "/" + ri.gvr.Resource
	item := collection + "/{name}"
	kindOK := map[int]string{200: ri.kindDef}
	created := map[int]string{200: ri.kindDef, 201: ri.kindDef, 202: ri.kindDef}
	updated := map[int]string{200: ri.kindDef, 201: ri.kindDef}
	id := func(verb, suffix string) string { return verb + gvID + scope + ri.kind + suffix }

	var out []pathItem
	coll := pathItem{path: collection, params: append(append([]string(nil), nsParams...), "pretty")}
	coll.ops = append(coll.ops, operation{
		method: "post", action: "post", id: id("create", ""), desc: "create a " + ri.kind, gvk: gvk,
		body: ri.kindDef, bodyRequired: true, responses: created, query: writeQuery,
	})
	if ri.listDef == "" {
		// Create-only (reviews, bindings): nothing else to offer.
		return append(out, coll)
	}
	coll.ops = append(coll.ops,
		operation{
			method: "get", action: "list", id: id("list", ""), desc: "list or watch objects of kind " + ri.kind, gvk: gvk,
			responses: map[int]string{200: ri.listDef}, query: listQuery, watch: true,
		},
		operation{
			method: "delete", action: "deletecollection", id: "delete" + gvID + "Collection" + scope + ri.kind,
			desc: "delete collection of " + ri.kind, gvk: gvk, body: bodyDeleteOptions,
			responses: map[int]string{200: bodyStatus}, query: deleteCollectionQuery,
		})
	out = append(out, coll)

	out = append(out, pathItem{
		path: item, params: append([]string{"name"}, append(nsParams, "pretty")...),
		ops: []operation{
			{method: "get", action: "get", id: id("read", ""), desc: "read the specified " + ri.kind, gvk: gvk, responses: kindOK},
			{method: "put", action: "put", id: id("replace", ""), desc: "replace the specified " + ri.kind, gvk: gvk,
				body: ri.kindDef, bodyRequired: true, responses: updated, query: writeQuery},
			{method: "patch", action: "patch", id: id("patch", ""), desc: "partially update the specified " + ri.kind, gvk: gvk,
				body: bodyPatch, bodyRequired: true, patch: true, responses: updated, query: patchQuery},
			{method: "delete", action: "delete", id: id("delete", ""), desc: "delete a " + ri.kind, gvk: gvk,
				body: bodyDeleteOptions, responses: map[int]string{200: bodyStatus, 202: bodyStatus}, query: deleteQuery},
		},
	})

	if ri.namespaced {
		out = append(out, pathItem{
			path: "/" + gvPrefix(gv) + "/" + ri.gvr.Resource, params: []string{"pretty"},
			ops: []operation{{
				method: "get", action: "list", id: "list" + gvID + ri.kind + "ForAllNamespaces",
				desc: "list or watch objects of kind " + ri.kind, gvk: gvk,
				responses: map[int]string{200: ri.listDef}, query: listQuery, watch: true,
			}},
		})
	}

	sub := func(name, def string, subGVK schema.GroupVersionKind) pathItem {
		title := strings.ToUpper(name[:1]) + name[1:]
		ok := map[int]string{200: def}
		upd := map[int]string{200: def, 201: def}
		return pathItem{
			path: item + "/" + name, params: append([]string{"name"}, append(nsParams, "pretty")...),
			ops: []operation{
				{method: "get", action: "get", id: id("read", title), desc: fmt.Sprintf("read %s of the specified %s", name, ri.kind),
					gvk: subGVK, responses: ok},
				{method: "put", action: "put", id: id("replace", title), desc: fmt.Sprintf("replace %s of the specified %s", name, ri.kind),
					gvk: subGVK, body: def, bodyRequired: true, responses: upd, query: writeQuery},
				{method: "patch", action: "patch", id: id("patch", title), desc: fmt.Sprintf("partially update %s of the specified %s", name, ri.kind),
					gvk: subGVK, body: bodyPatch, bodyRequired: true, patch: true, responses: upd, query: patchQuery},
			},
		}
	}
	if ri.hasStatus {
		out = append(out, sub("status", ri.kindDef, gvk))
	}
	if ri.scaleDef != "" {
		out = append(out, sub("scale", ri.scaleDef, schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}))
	}
	create := func(name, def string, createGVK schema.GroupVersionKind) pathItem {
		title := strings.ToUpper(name[:1]) + name[1:]
		return pathItem{
			path: item + "/" + name, params: append([]string{"name"}, append(nsParams, "pretty")...),
			ops: []operation{{
				method: "post", action: "post", id: id("create", title), desc: fmt.Sprintf("create %s of a %s", name, ri.kind),
				gvk: createGVK, body: def, bodyRequired: true, responses: map[int]string{200: def, 201: def, 202: def},
				query: subresourceCreateQuery,
			}},
		}
	}
	if ri.bindingDef != "" {
		out = append(out, create("binding", ri.bindingDef, schema.GroupVersionKind{Version: "v1", Kind: "Binding"}))
	}
	if ri.evictDef != "" {
		out = append(out, create("eviction", ri.evictDef, schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}))
	}
	return out
}
