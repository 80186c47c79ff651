package garbagecollector

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// deletableResources lists the preferred version of every resource that
// supports list, watch and delete, minus the ignored ones, with its kind.
// With partial discovery it returns what it could read, the groups that
// failed, and the error.
func (gc *Controller) deletableResources() (map[schema.GroupVersionResource]schema.GroupVersionKind, map[string]bool, error) {
	lists, err := gc.discovery.ServerPreferredResources()
	failed := map[string]bool{}
	var gerr *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &gerr) {
		for gv := range gerr.Groups {
			failed[gv.Group] = true
		}
	}
	return deletableFrom(lists, gc.cfg.IgnoredResources), failed, err
}

// deletableFrom picks, from discovery, the resources the collector
// watches: no subresources, all of list/watch/delete, not ignored.
func deletableFrom(lists []*metav1.APIResourceList, ignored []schema.GroupResource) map[schema.GroupVersionResource]schema.GroupVersionKind {
	out := map[schema.GroupVersionResource]schema.GroupVersionKind{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerbs(r.Verbs, "list", "watch", "delete") ||
				slices.Contains(ignored, schema.GroupResource{Group: gv.Group, Resource: r.Name}) {
				continue
			}
			out[gv.WithResource(r.Name)] = gv.WithKind(r.Kind)
		}
	}
	return out
}

func hasVerbs(have []string, want ...string) bool {
	for _, v := range want {
		if !slices.Contains(have, v) {
			return false
		}
	}
	return true
}

// monitor watches one resource's metadata and feeds the graph.
type monitor struct {
	gvk      schema.GroupVersionKind
	informer cache.SharedIndexInformer
	stop     context.CancelFunc
}

// monitorSet is the collector's informers, one per resource.
type monitorSet struct {
	client  metadata.Interface
	observe func(event)

	mu       sync.Mutex
	monitors map[schema.GroupVersionResource]*monitor
}

func newMonitorSet(client metadata.Interface, observe func(event)) *monitorSet {
	return &monitorSet{client: client, observe: observe, monitors: map[schema.GroupVersionResource]*monitor{}}
}

func (s *monitorSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.monitors)
}

// changed reports whether sync would start or stop any monitor.
func (s *monitorSet) changed(want map[schema.GroupVersionResource]schema.GroupVersionKind, failed map[string]bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for gvr := range want {
		if s.monitors[gvr] == nil {
			return true
		}
	}
	for gvr := range s.monitors {
		if _, ok := want[gvr]; !ok && !failed[gvr.Group] {
			return true
		}
	}
	return false
}

// sync starts monitors for new resources and stops those of resources no
// longer served, except in groups whose discovery failed this time.
func (s *monitorSet) sync(ctx context.Context, want map[schema.GroupVersionResource]schema.GroupVersionKind, failed map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for gvr, m := range s.monitors {
		if _, ok := want[gvr]; !ok && !failed[gvr.Group] {
			m.stop()
			delete(s.monitors, gvr)
			klog.FromContext(ctx).V(2).Info("Stopped garbage collector monitor", "resource", gvr)
		}
	}
	for gvr, gvk := range want {
		if s.monitors[gvr] != nil {
			continue
		}
		m := &monitor{gvk: gvk, informer: metadatainformer.NewFilteredMetadataInformer(s.client, gvr, metav1.NamespaceAll, 0, cache.Indexers{}, withoutBookmarks).Informer()}
		// The graph needs identity, owners, finalizers and the deletion
		// timestamp; managed fields are most of the rest of the metadata.
		if err := m.informer.SetTransform(dropManagedFields); err != nil {
			klog.FromContext(ctx).Error(err, "Setting monitor transform", "resource", gvr)
		}
		if _, err := m.informer.AddEventHandler(s.handler(gvk)); err != nil {
			klog.FromContext(ctx).Error(err, "Adding monitor handler", "resource", gvr)
			continue
		}
		mctx, stop := context.WithCancel(ctx)
		m.stop = stop
		go m.informer.RunWithContext(mctx)
		s.monitors[gvr] = m
	}
}

// waitForSync waits until every monitor has listed its resource.
func (s *monitorSet) waitForSync(ctx context.Context) bool {
	s.mu.Lock()
	synced := make([]cache.InformerSynced, 0, len(s.monitors))
	for _, m := range s.monitors {
		synced = append(synced, m.informer.HasSynced)
	}
	s.mu.Unlock()
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

func (s *monitorSet) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for gvr, m := range s.monitors {
		m.stop()
		delete(s.monitors, gvr)
	}
}

func (s *monitorSet) handler(gvk schema.GroupVersionKind) cache.ResourceEventHandler {
	identity := func(o metav1.Object) objectRef {
		return objectRef{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName(), UID: o.GetUID()}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, err := meta.Accessor(obj); err == nil {
				s.observe(event{identity: identity(o), obj: o})
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			o, err1 := meta.Accessor(obj)
			old, err2 := meta.Accessor(oldObj)
			if err1 == nil && err2 == nil {
				s.observe(event{identity: identity(o), obj: o, old: old})
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if o, err := meta.Accessor(obj); err == nil {
				s.observe(event{deleted: true, identity: identity(o)})
			}
		},
	}
}

// withoutBookmarks turns watch bookmarks off for the monitors' plain
// watches. Skiff's API server sends bookmarks of a PartialObjectMetadata
// watch as the full kind, which the metadata client cannot decode: every
// bookmark would end the watch with an error and a reconnect. Bookmarks
// only save work on reconnects, so the monitors do without them. Remove
// once the API server encodes them as PartialObjectMetadata. A watch-list
// request (sendInitialEvents) needs bookmarks and keeps them.
func withoutBookmarks(o *metav1.ListOptions) {
	if o.SendInitialEvents == nil {
		o.AllowWatchBookmarks = false
	}
}

func dropManagedFields(obj any) (any, error) {
	if o, err := meta.Accessor(obj); err == nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}
