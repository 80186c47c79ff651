// Package discovery serves the Kubernetes discovery documents for the
// resources Skiff serves.
//
// It owns these read-only endpoints, and nothing below them:
//
//	GET /api                     metav1.APIVersions, or the aggregated
//	                             APIGroupDiscoveryList of the core group
//	GET /apis                    metav1.APIGroupList, or the aggregated
//	                             APIGroupDiscoveryList of every named group
//	GET /api/v1                  metav1.APIResourceList of the core group
//	GET /apis/{group}            metav1.APIGroup
//	GET /apis/{group}/{version}  metav1.APIResourceList
//
// Every document is built from the []registry.Resource handed to New, plus
// two fixed tables kept in this package: the subresources the API server
// serves outside the generic status/scale code path (pods/log, pods/exec,
// pods/eviction, serviceaccounts/token, ...) and the verbs of resources that
// are not stored objects (selfsubjectaccessreviews, bindings, ...). Groups
// and versions are ordered as upstream's aggregator orders them, since
// clients take the first version of a group as its preferred version and
// resolve ambiguous short names by group order.
//
// Content negotiation follows upstream kube-apiserver 1.37: JSON, YAML or
// protobuf for the legacy documents; the aggregated form
// (apidiscovery.k8s.io v2, and v2beta1 for older clients) when the Accept
// header asks for it with ";g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
// answered with the same parameters echoed in Content-Type, an ETag and 304
// on a matching If-None-Match. All bodies are encoded once in New; serving is
// a map lookup and a write.
//
// Routing of resource paths (/api/v1/pods, /apis/apps/v1/namespaces/...) is
// not this package's job: the caller sends only discovery paths here, and
// anything else under /api or /apis it does send gets a 404 Status.
package discovery
