package discovery

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// groupPriorities orders the groups in /apis the way upstream's aggregator
// does (its GroupPriorityMinimum per built-in APIService, highest first,
// ties broken by name). Groups not listed get crdGroupPriority, the value
// upstream gives to CustomResourceDefinition groups.
var groupPriorities = map[string]int{
	"apiregistration.k8s.io":       18000,
	"apps":                         17800,
	"events.k8s.io":                17750,
	"authentication.k8s.io":        17700,
	"authorization.k8s.io":         17600,
	"autoscaling":                  17500,
	"batch":                        17400,
	"certificates.k8s.io":          17300,
	"networking.k8s.io":            17200,
	"policy":                       17100,
	"rbac.authorization.k8s.io":    17000,
	"storage.k8s.io":               16800,
	"admissionregistration.k8s.io": 16700,
	"apiextensions.k8s.io":         16700,
	"scheduling.k8s.io":            16600,
	"coordination.k8s.io":          16500,
	"node.k8s.io":                  16300,
	"discovery.k8s.io":             16200,
	"resource.k8s.io":              16200,
	"flowcontrol.apiserver.k8s.io": 16100,
	"internal.apiserver.k8s.io":    16000,
	"storagemigration.k8s.io":      15800,
}

const crdGroupPriority = 1000

// Versions inside a group are ordered by upstream's kube-aware version
// comparison (v2 > v1 > v1beta2 > v1beta1 > v1alpha1), which agrees with
// upstream's per-version priorities for every version still served.

var (
	verbsCRUD       = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	verbsStatus     = []string{"get", "patch", "update"}
	verbsCreate     = []string{"create"}
	verbsCreateGet  = []string{"create", "get"}
	verbsProxy      = []string{"create", "delete", "get", "patch", "update"}
	verbsGet        = []string{"get"}
	verbsUpdate     = []string{"update"}
	verbsGetList    = []string{"get", "list"}
	verbsNamespaces = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
)

// override replaces the generic verbs of a resource that upstream serves
// with fewer verbs. Virtual resources have no storage, hence no
// storageVersionHash.
type override struct {
	verbs   []string
	virtual bool
}

var overrides = map[schema.GroupResource]override{
	{Group: "", Resource: "bindings"}:                                      {verbs: verbsCreate, virtual: true},
	{Group: "", Resource: "componentstatuses"}:                             {verbs: verbsGetList, virtual: true},
	{Group: "", Resource: "namespaces"}:                                    {verbs: verbsNamespaces},
	{Group: "authentication.k8s.io", Resource: "tokenreviews"}:             {verbs: verbsCreate, virtual: true},
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:       {verbs: verbsCreate, virtual: true},
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: {verbs: verbsCreate, virtual: true},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}:  {verbs: verbsCreate, virtual: true},
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:   {verbs: verbsCreate, virtual: true},
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}:      {verbs: verbsCreate, virtual: true},
}

// subresource is one entry of a resource's subresource list. Group and
// Version are set only when the kind is not in the resource's own group
// version, as upstream does.
type subresource struct {
	name    string
	group   string
	version string
	kind    string // empty: the parent's kind
	verbs   []string
}

// scaleSubresource is added to every resource with Scale set.
var scaleSubresource = subresource{name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: verbsStatus}

// statusSubresource is added to every resource with HasStatus set.
var statusSubresource = subresource{name: "status", verbs: verbsStatus}

// extraSubresources are the subresources the API server serves with
// dedicated handlers, keyed by their parent resource. They are listed only
// when the parent resource is served.
var extraSubresources = map[schema.GroupResource][]subresource{
	{Resource: "pods"}: {
		{name: "attach", kind: "PodAttachOptions", verbs: verbsCreateGet},
		{name: "binding", kind: "Binding", verbs: verbsCreate},
		{name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: verbsCreate},
		{name: "exec", kind: "PodExecOptions", verbs: verbsCreateGet},
		{name: "log", verbs: verbsGet},
		{name: "portforward", kind: "PodPortForwardOptions", verbs: verbsCreateGet},
		{name: "proxy", kind: "PodProxyOptions", verbs: verbsProxy},
	},
	{Resource: "services"}: {
		{name: "proxy", kind: "ServiceProxyOptions", verbs: verbsProxy},
	},
	{Resource: "nodes"}: {
		{name: "proxy", kind: "NodeProxyOptions", verbs: verbsProxy},
	},
	{Resource: "namespaces"}: {
		{name: "finalize", verbs: verbsUpdate},
	},
	{Resource: "serviceaccounts"}: {
		{name: "token", group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", verbs: verbsCreate},
	},
}
