package servicepods

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// ServiceHandler keeps c current from a Service informer and queues each
// changed Service's "namespace/name" key with enqueue.
func (c *SelectorCache) ServiceHandler(enqueue func(key string)) cache.ResourceEventHandlerFuncs {
	onService := func(obj any) {
		if svc, ok := obj.(*corev1.Service); ok {
			c.Update(svc)
			enqueue(svc.Namespace + "/" + svc.Name)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    onService,
		UpdateFunc: func(_, cur any) { onService(cur) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if svc, ok := obj.(*corev1.Service); ok {
				c.Delete(svc.Namespace, svc.Name)
				enqueue(svc.Namespace + "/" + svc.Name)
			}
		},
	}
}

// PodHandler queues, for each pod event of a pod informer, the keys of the
// Services the change concerns: those selecting the pod, and on an update
// those that selected it before or whose endpoints it changes.
func (c *SelectorCache) PodHandler(enqueue func(key string)) cache.ResourceEventHandlerFuncs {
	onPod := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if pod, ok := obj.(*corev1.Pod); ok {
			for _, key := range c.ServicesFor(pod) {
				enqueue(key)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: onPod,
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Pod)
			n, ok2 := cur.(*corev1.Pod)
			if !ok1 || !ok2 {
				return
			}
			for _, key := range c.ServicesToUpdate(o, n) {
				enqueue(key)
			}
		},
		DeleteFunc: onPod,
	}
}
