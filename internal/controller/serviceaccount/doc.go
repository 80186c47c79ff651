// Package serviceaccount is upstream's service account controller: every
// namespace that is active has a ServiceAccount named "default", created
// when the namespace appears and recreated whenever it is deleted.
//
// What it owns: the existence of the "default" ServiceAccount. It never
// changes one that exists, and creates nothing in a namespace that is
// terminating (the API server would refuse, and the namespace's content is
// about to be removed).
//
// Where it knowingly differs from upstream: nothing; token Secrets for
// service accounts are not created (upstream stopped doing so in 1.24).
package serviceaccount
