package resourcequota

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// source lists one resource's objects in a namespace from a cache.
type source struct {
	informer cache.SharedIndexInformer
	list     func(ns string) ([]runtime.Object, error)
}

func asObjects[T runtime.Object](items []T, err error) ([]runtime.Object, error) {
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out, nil
}

// cachedSources are the resources whose usage comes from shared informer
// caches; most of them are cached for other controllers anyway.
func cachedSources(f informers.SharedInformerFactory) map[schema.GroupResource]source {
	all := labels.Everything()
	core, apps, batch := f.Core().V1(), f.Apps().V1(), f.Batch().V1()
	gr := func(group, res string) schema.GroupResource { return schema.GroupResource{Group: group, Resource: res} }
	return map[schema.GroupResource]source{
		gr("", "pods"): {core.Pods().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(core.Pods().Lister().Pods(ns).List(all))
		}},
		gr("", "services"): {core.Services().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(core.Services().Lister().Services(ns).List(all))
		}},
		gr("", "persistentvolumeclaims"): {core.PersistentVolumeClaims().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(core.PersistentVolumeClaims().Lister().PersistentVolumeClaims(ns).List(all))
		}},
		gr("", "configmaps"): {core.ConfigMaps().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(core.ConfigMaps().Lister().ConfigMaps(ns).List(all))
		}},
		gr("", "secrets"): {core.Secrets().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(core.Secrets().Lister().Secrets(ns).List(all))
		}},
		gr("", "replicationcontrollers"): {core.ReplicationControllers().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(core.ReplicationControllers().Lister().ReplicationControllers(ns).List(all))
		}},
		gr("", "resourcequotas"): {core.ResourceQuotas().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(core.ResourceQuotas().Lister().ResourceQuotas(ns).List(all))
		}},
		gr("apps", "deployments"): {apps.Deployments().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(apps.Deployments().Lister().Deployments(ns).List(all))
		}},
		gr("apps", "replicasets"): {apps.ReplicaSets().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(apps.ReplicaSets().Lister().ReplicaSets(ns).List(all))
		}},
		gr("apps", "statefulsets"): {apps.StatefulSets().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(apps.StatefulSets().Lister().StatefulSets(ns).List(all))
		}},
		gr("apps", "daemonsets"): {apps.DaemonSets().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(apps.DaemonSets().Lister().DaemonSets(ns).List(all))
		}},
		gr("batch", "jobs"): {batch.Jobs().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(batch.Jobs().Lister().Jobs(ns).List(all))
		}},
		gr("batch", "cronjobs"): {batch.CronJobs().Informer(), func(ns string) ([]runtime.Object, error) {
			return asObjects(batch.CronJobs().Lister().CronJobs(ns).List(all))
		}},
	}
}

// liveCounter counts objects of resources no cache holds (count/widgets.
// example.com) by listing their metadata from the API server.
type liveCounter struct {
	client kubernetes.Interface
}

// count returns how many objects of gr exist in ns, as placeholders (only
// their number matters to an object-count quota).
func (l liveCounter) count(ctx context.Context, gr schema.GroupResource, ns string) ([]runtime.Object, error) {
	gv, err := l.preferredVersion(gr.Group)
	if err != nil {
		return nil, err
	}
	prefix := []string{"/apis", gv.Group, gv.Version}
	if gv.Group == "" {
		prefix = []string{"/api", gv.Version}
	}
	path := append(prefix, "namespaces", ns, gr.Resource)
	var objs []runtime.Object
	cont := ""
	for {
		req := l.client.Discovery().RESTClient().Get().AbsPath(path...).
			SetHeader("Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json").
			Param("limit", "500")
		if cont != "" {
			req = req.Param("continue", cont)
		}
		raw, err := req.DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s in %s: %w", gr, ns, err)
		}
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("decoding %s list: %w", gr, err)
		}
		for range page.Items {
			objs = append(objs, &corev1.List{})
		}
		if cont = page.Metadata.Continue; cont == "" {
			return objs, nil
		}
	}
}

func (l liveCounter) preferredVersion(group string) (schema.GroupVersion, error) {
	if group == "" {
		return schema.GroupVersion{Version: "v1"}, nil
	}
	groups, err := l.client.Discovery().ServerGroups()
	if err != nil {
		return schema.GroupVersion{}, fmt.Errorf("discovering API groups: %w", err)
	}
	for _, g := range groups.Groups {
		if strings.EqualFold(g.Name, group) {
			return schema.GroupVersion{Group: g.Name, Version: g.PreferredVersion.Version}, nil
		}
	}
	return schema.GroupVersion{}, fmt.Errorf("API group %q is not served", group)
}
