package resourcequota

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/internal/controller/resourcequota/usage"
)

// replenishHandler recomputes the quotas of a namespace when usage may
// have gone down there: an object was deleted, a pod finished, a Service
// changed type, a claim changed its request. Creates are not events here:
// admission charged them already, and recomputing from a cache that may
// not show the new object yet would hand the charge back and let the
// next create through.
func (c *Controller) replenishHandler(gr schema.GroupResource) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(runtime.Object)
			n, ok2 := cur.(runtime.Object)
			if ok1 && ok2 && usageMayDrop(gr, o, n, c.clock) {
				c.enqueueObjectNamespace(n)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(runtime.Object); ok {
				c.enqueueObjectNamespace(o)
			}
		},
	}
}

func (c *Controller) enqueueObjectNamespace(obj runtime.Object) {
	if acc, err := meta.Accessor(obj); err == nil && acc.GetNamespace() != "" {
		c.enqueueNamespace(acc.GetNamespace())
	}
}

type nower interface{ Now() time.Time }

// usageMayDrop reports the updates upstream's quota monitor replenishes on.
func usageMayDrop(gr schema.GroupResource, old, cur runtime.Object, clk nower) bool {
	switch gr {
	case schema.GroupResource{Resource: "pods"}:
		return stillCharged(old, clk) && !stillCharged(cur, clk)
	case schema.GroupResource{Resource: "services"}:
		o, n := old.(*corev1.Service), cur.(*corev1.Service)
		return o.Spec.Type != n.Spec.Type || len(o.Spec.Ports) != len(n.Spec.Ports)
	case schema.GroupResource{Resource: "persistentvolumeclaims"}:
		o, n := old.(*corev1.PersistentVolumeClaim), cur.(*corev1.PersistentVolumeClaim)
		oq, nq := o.Spec.Resources.Requests[corev1.ResourceStorage], n.Spec.Resources.Requests[corev1.ResourceStorage]
		return oq.Cmp(nq) != 0
	}
	return false
}

// stillCharged reports whether a pod still counts for compute quota.
func stillCharged(obj runtime.Object, clk nower) bool {
	u, err := usage.For(schema.GroupResource{Resource: "pods"}).Usage(obj, clk.Now())
	if err != nil {
		return false
	}
	_, ok := u[corev1.ResourcePods]
	return ok
}
