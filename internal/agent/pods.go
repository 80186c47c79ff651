package agent

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

const (
	indexByUID  = "uid"
	indexByNode = "node"
)

// PodWatch is one watch on the pods bound to a set of nodes, shared by the
// agents of those nodes in one process: a hundred simulated nodes cost one
// watch and one cache, not a hundred. Events are dispatched to the agent of
// the pod's spec.nodeName as pod UIDs.
type PodWatch struct {
	informer cache.SharedIndexInformer

	mu sync.RWMutex
	// subscribers maps a node name to its agent's enqueue function.
	subscribers map[string]func(types.UID)
}

// NewPodWatch watches the pods bound to nodeName, or, when nodeName is
// empty, every bound pod (for many agents in one process).
func NewPodWatch(client kubernetes.Interface, nodeName string) *PodWatch {
	selector := fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	if nodeName != "" {
		selector = fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return client.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, opts)
		},
	}
	informer := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{
		indexByUID:  func(obj any) ([]string, error) { return []string{string(obj.(*corev1.Pod).UID)}, nil },
		indexByNode: func(obj any) ([]string, error) { return []string{obj.(*corev1.Pod).Spec.NodeName}, nil },
	})
	w := &PodWatch{informer: informer, subscribers: map[string]func(types.UID){}}
	// The handler only turns events into keys for the right agent; the
	// agent reads the pod back from the cache when it syncs.
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.dispatch,
		UpdateFunc: func(_, obj any) { w.dispatch(obj) },
		DeleteFunc: w.dispatch,
	})
	return w
}

// Run runs the watch until ctx ends.
func (w *PodWatch) Run(ctx context.Context) {
	w.informer.RunWithContext(ctx)
}

// HasSynced reports whether the first list has been delivered.
func (w *PodWatch) HasSynced() bool { return w.informer.HasSynced() }

func (w *PodWatch) dispatch(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.RLock()
	enqueue := w.subscribers[pod.Spec.NodeName]
	w.mu.RUnlock()
	if enqueue != nil {
		enqueue(pod.UID)
	}
}

// subscribe routes the events of node's pods to enqueue until the returned
// function is called.
func (w *PodWatch) subscribe(node string, enqueue func(types.UID)) func() {
	w.mu.Lock()
	w.subscribers[node] = enqueue
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.subscribers, node)
		w.mu.Unlock()
	}
}

// get returns the cached pod with uid if it is bound to node. The pod is
// the cache's: callers must not modify it.
func (w *PodWatch) get(node string, uid types.UID) *corev1.Pod {
	objs, err := w.informer.GetIndexer().ByIndex(indexByUID, string(uid))
	if err != nil {
		return nil
	}
	for _, obj := range objs {
		if pod := obj.(*corev1.Pod); pod.Spec.NodeName == node {
			return pod
		}
	}
	return nil
}

// list returns the cached pods bound to node.
func (w *PodWatch) list(node string) []*corev1.Pod {
	objs, err := w.informer.GetIndexer().ByIndex(indexByNode, node)
	if err != nil {
		return nil
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, obj := range objs {
		pods = append(pods, obj.(*corev1.Pod))
	}
	return pods
}
