package discovery

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apidiscoveryv2beta1 "k8s.io/api/apidiscovery/v2beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/skiff-sh/skiff/internal/registry"
)

// group is one API group with its versions in preference order.
type group struct {
	name     string
	versions []string
	lists    map[string]*metav1.APIResourceList
}

// buildGroups turns the served resources into resource lists, one per
// group version, grouped and ordered as upstream orders them. The core
// group (name "") is returned separately.
func buildGroups(resources []registry.Resource) (core *group, named []*group) {
	byName := map[string]*group{}
	seen := map[schema.GroupVersionResource]bool{}
	for i := range resources {
		r := &resources[i]
		gvr := r.GVR
		if gvr.Version == "" || gvr.Resource == "" || strings.Contains(gvr.Resource, "/") || seen[gvr] {
			continue
		}
		seen[gvr] = true
		g := byName[gvr.Group]
		if g == nil {
			g = &group{name: gvr.Group, lists: map[string]*metav1.APIResourceList{}}
			byName[gvr.Group] = g
		}
		list := g.lists[gvr.Version]
		if list == nil {
			list = &metav1.APIResourceList{GroupVersion: gvr.GroupVersion().String()}
			g.lists[gvr.Version] = list
			g.versions = append(g.versions, gvr.Version)
		}
		list.APIResources = append(list.APIResources, apiResources(r)...)
	}
	for _, g := range byName {
		// Upstream lists a group version's resources sorted by path, so a
		// resource's subresources follow it.
		for _, list := range g.lists {
			sort.Slice(list.APIResources, func(i, j int) bool {
				return list.APIResources[i].Name < list.APIResources[j].Name
			})
		}
		sort.SliceStable(g.versions, func(i, j int) bool {
			return version.CompareKubeAwareVersionStrings(g.versions[i], g.versions[j]) > 0
		})
		if g.name == "" {
			core = g
			continue
		}
		named = append(named, g)
	}
	sort.Slice(named, func(i, j int) bool {
		pi, pj := priority(named[i].name), priority(named[j].name)
		if pi != pj {
			return pi > pj
		}
		return named[i].name < named[j].name
	})
	return core, named
}

func priority(group string) int {
	if p, ok := groupPriorities[group]; ok {
		return p
	}
	return crdGroupPriority
}

// apiResources returns the legacy discovery entries of one resource: the
// resource itself followed by its subresources.
func apiResources(r *registry.Resource) []metav1.APIResource {
	gr := r.GVR.GroupResource()
	verbs := verbsCRUD
	ov, hasOverride := overrides[gr]
	if hasOverride {
		verbs = ov.verbs
	}
	main := metav1.APIResource{
		Name:         r.GVR.Resource,
		SingularName: r.Singular,
		Namespaced:   r.Namespaced,
		Kind:         r.Kind,
		Verbs:        verbs,
		ShortNames:   r.ShortNames,
		Categories:   r.Categories,
	}
	if main.SingularName == "" {
		main.SingularName = strings.ToLower(r.Kind)
	}
	if !ov.virtual {
		s := r.Storage()
		main.StorageVersionHash = storageVersionHash(s.Group, s.Version, r.Kind)
	}
	out := []metav1.APIResource{main}

	var subs []subresource
	if r.HasStatus {
		subs = append(subs, statusSubresource)
	}
	if r.Scale != nil {
		subs = append(subs, scaleSubresource)
	}
	subs = append(subs, extraSubresources[gr]...)
	for _, s := range subs {
		kind := s.kind
		if kind == "" {
			kind = r.Kind
		}
		out = append(out, metav1.APIResource{
			Name:       r.GVR.Resource + "/" + s.name,
			Namespaced: r.Namespaced,
			Group:      s.group,
			Version:    s.version,
			Kind:       kind,
			Verbs:      s.verbs,
		})
	}
	return out
}

// storageVersionHash is upstream's hash of the group/version/kind objects
// are stored as: clients (the storage version migrator, the garbage
// collector's informers) compare it to notice storage changes.
func storageVersionHash(group, version, kind string) string {
	sum := sha256.Sum256([]byte(group + "/" + version + "/" + kind))
	return base64.StdEncoding.EncodeToString(sum[:8])
}

// apiGroup is the legacy /apis/{group} document (and the group's entry in
// /apis).
func (g *group) apiGroup() metav1.APIGroup {
	out := metav1.APIGroup{Name: g.name}
	for _, v := range g.versions {
		out.Versions = append(out.Versions, metav1.GroupVersionForDiscovery{
			GroupVersion: schema.GroupVersion{Group: g.name, Version: v}.String(),
			Version:      v,
		})
	}
	if len(out.Versions) > 0 {
		out.PreferredVersion = out.Versions[0]
	}
	return out
}

// aggregated is the group's apidiscovery.k8s.io/v2 entry.
func (g *group) aggregated() (apidiscoveryv2.APIGroupDiscovery, error) {
	out := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
	for _, v := range g.versions {
		res, err := toAggregated(g.lists[v].APIResources)
		if err != nil {
			return out, err
		}
		out.Versions = append(out.Versions, apidiscoveryv2.APIVersionDiscovery{
			Version:   v,
			Resources: res,
			Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
		})
	}
	return out, nil
}

// toAggregated converts a legacy resource list to the aggregated form the
// way upstream's ConvertGroupVersionIntoToDiscovery does: responseKind
// carries the APIResource's group, version and kind as they are (group and
// version empty when the kind is in the list's own group version), and
// subresources hang off their parent.
func toAggregated(list []metav1.APIResource) ([]apidiscoveryv2.APIResourceDiscovery, error) {
	var out []apidiscoveryv2.APIResourceDiscovery
	parents := map[string]int{}
	scope := func(namespaced bool) apidiscoveryv2.ResourceScope {
		if namespaced {
			return apidiscoveryv2.ScopeNamespace
		}
		return apidiscoveryv2.ScopeCluster
	}
	for _, r := range list {
		if strings.Contains(r.Name, "/") {
			continue
		}
		out = append(out, apidiscoveryv2.APIResourceDiscovery{
			Resource:         r.Name,
			ResponseKind:     &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
			Scope:            scope(r.Namespaced),
			SingularResource: r.SingularName,
			Verbs:            r.Verbs,
			ShortNames:       r.ShortNames,
			Categories:       r.Categories,
		})
		parents[r.Name] = len(out) - 1
	}
	for _, r := range list {
		parent, sub, ok := strings.Cut(r.Name, "/")
		if !ok {
			continue
		}
		i, ok := parents[parent]
		if !ok {
			return nil, fmt.Errorf("subresource %s without its resource", r.Name)
		}
		out[i].Subresources = append(out[i].Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  sub,
			ResponseKind: &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
			Verbs:        r.Verbs,
		})
	}
	return out, nil
}

// toV2beta1 converts an aggregated document to apidiscovery.k8s.io/v2beta1,
// which has the same shape as v2.
func toV2beta1(in *apidiscoveryv2.APIGroupDiscoveryList) *apidiscoveryv2beta1.APIGroupDiscoveryList {
	out := &apidiscoveryv2beta1.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{APIVersion: apidiscoveryv2beta1.SchemeGroupVersion.String(), Kind: aggKind},
		ListMeta: in.ListMeta,
	}
	for _, g := range in.Items {
		og := apidiscoveryv2beta1.APIGroupDiscovery{ObjectMeta: g.ObjectMeta}
		for _, v := range g.Versions {
			ov := apidiscoveryv2beta1.APIVersionDiscovery{
				Version:   v.Version,
				Freshness: apidiscoveryv2beta1.DiscoveryFreshness(v.Freshness),
			}
			for _, r := range v.Resources {
				or := apidiscoveryv2beta1.APIResourceDiscovery{
					Resource:         r.Resource,
					ResponseKind:     r.ResponseKind,
					Scope:            apidiscoveryv2beta1.ResourceScope(r.Scope),
					SingularResource: r.SingularResource,
					Verbs:            r.Verbs,
					ShortNames:       r.ShortNames,
					Categories:       r.Categories,
				}
				for _, s := range r.Subresources {
					or.Subresources = append(or.Subresources, apidiscoveryv2beta1.APISubresourceDiscovery(s))
				}
				ov.Resources = append(ov.Resources, or)
			}
			og.Versions = append(og.Versions, ov)
		}
		out.Items = append(out.Items, og)
	}
	return out
}

// aggregatedList is the v2 document of the given groups.
func aggregatedList(groups []*group) (*apidiscoveryv2.APIGroupDiscoveryList, error) {
	out := &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{APIVersion: apidiscoveryv2.SchemeGroupVersion.String(), Kind: aggKind},
		Items:    []apidiscoveryv2.APIGroupDiscovery{},
	}
	for _, g := range groups {
		ag, err := g.aggregated()
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, ag)
	}
	return out, nil
}
