package apiserver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// kind is one resource the informer test drives: how to create, change
// and delete an object of it, and how to list it from the server.
type kind struct {
	name     string
	informer func(informers.SharedInformerFactory) cache.SharedIndexInformer
	create   func(ctx context.Context, c kubernetes.Interface, name string) error
	update   func(ctx context.Context, c kubernetes.Interface, name string, i int) error
	delete   func(ctx context.Context, c kubernetes.Interface, name string) error
	list     func(ctx context.Context, c kubernetes.Interface) ([]runtime.Object, error)
}

func mergePatch(i int) []byte {
	return []byte(fmt.Sprintf(`{"metadata":{"labels":{"i":"%d"}}}`, i))
}

func objs[T any](items []T) []runtime.Object {
	out := make([]runtime.Object, len(items))
	for i := range items {
		out[i] = any(&items[i]).(runtime.Object)
	}
	return out
}

var informerKinds = []kind{
	{
		name: "configmaps",
		informer: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Core().V1().ConfigMaps().Informer()
		},
		create: func(ctx context.Context, c kubernetes.Interface, n string) error {
			_, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap(n, nil), metav1.CreateOptions{})
			return err
		},
		update: func(ctx context.Context, c kubernetes.Interface, n string, i int) error {
			_, err := c.CoreV1().ConfigMaps("default").Patch(ctx, n, types.MergePatchType, mergePatch(i), metav1.PatchOptions{})
			return err
		},
		delete: func(ctx context.Context, c kubernetes.Interface, n string) error {
			return c.CoreV1().ConfigMaps("default").Delete(ctx, n, metav1.DeleteOptions{})
		},
		list: func(ctx context.Context, c kubernetes.Interface) ([]runtime.Object, error) {
			l, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return objs(l.Items), nil
		},
	},
	{
		name: "secrets",
		informer: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Core().V1().Secrets().Informer()
		},
		create: func(ctx context.Context, c kubernetes.Interface, n string) error {
			_, err := c.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: n}, StringData: map[string]string{"a": n}}, metav1.CreateOptions{})
			return err
		},
		update: func(ctx context.Context, c kubernetes.Interface, n string, i int) error {
			_, err := c.CoreV1().Secrets("default").Patch(ctx, n, types.MergePatchType, mergePatch(i), metav1.PatchOptions{})
			return err
		},
		delete: func(ctx context.Context, c kubernetes.Interface, n string) error {
			return c.CoreV1().Secrets("default").Delete(ctx, n, metav1.DeleteOptions{})
		},
		list: func(ctx context.Context, c kubernetes.Interface) ([]runtime.Object, error) {
			l, err := c.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return objs(l.Items), nil
		},
	},
	{
		name: "services",
		informer: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Core().V1().Services().Informer()
		},
		create: func(ctx context.Context, c kubernetes.Interface, n string) error {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": n}, Ports: []corev1.ServicePort{{Port: 80}}}}
			_, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
			return err
		},
		update: func(ctx context.Context, c kubernetes.Interface, n string, i int) error {
			_, err := c.CoreV1().Services("default").Patch(ctx, n, types.MergePatchType, mergePatch(i), metav1.PatchOptions{})
			return err
		},
		delete: func(ctx context.Context, c kubernetes.Interface, n string) error {
			return c.CoreV1().Services("default").Delete(ctx, n, metav1.DeleteOptions{})
		},
		list: func(ctx context.Context, c kubernetes.Interface) ([]runtime.Object, error) {
			l, err := c.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return objs(l.Items), nil
		},
	},
	{
		name: "pods",
		informer: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Core().V1().Pods().Informer()
		},
		create: func(ctx context.Context, c kubernetes.Interface, n string) error {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
			_, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
			return err
		},
		update: func(ctx context.Context, c kubernetes.Interface, n string, i int) error {
			_, err := c.CoreV1().Pods("default").Patch(ctx, n, types.MergePatchType, mergePatch(i), metav1.PatchOptions{})
			return err
		},
		delete: func(ctx context.Context, c kubernetes.Interface, n string) error {
			return c.CoreV1().Pods("default").Delete(ctx, n, metav1.DeleteOptions{})
		},
		list: func(ctx context.Context, c kubernetes.Interface) ([]runtime.Object, error) {
			l, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return objs(l.Items), nil
		},
	},
	{
		name: "deployments",
		informer: func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Apps().V1().Deployments().Informer()
		},
		create: func(ctx context.Context, c kubernetes.Interface, n string) error {
			_, err := c.AppsV1().Deployments("default").Create(ctx, deployment(n, 1), metav1.CreateOptions{})
			return err
		},
		update: func(ctx context.Context, c kubernetes.Interface, n string, i int) error {
			_, err := c.AppsV1().Deployments("default").Patch(ctx, n, types.MergePatchType, mergePatch(i), metav1.PatchOptions{})
			return err
		},
		delete: func(ctx context.Context, c kubernetes.Interface, n string) error {
			return c.AppsV1().Deployments("default").Delete(ctx, n, metav1.DeleteOptions{})
		},
		list: func(ctx context.Context, c kubernetes.Interface) ([]runtime.Object, error) {
			l, err := c.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return objs(l.Items), nil
		},
	},
}

// randomOps applies n random creates, updates and deletes spread over the
// informer kinds, tracking which names exist.
func randomOps(t *testing.T, ctx context.Context, c kubernetes.Interface, rng *rand.Rand, live []map[string]bool, n, base int) {
	t.Helper()
	for i := 0; i < n; i++ {
		k := rng.IntN(len(informerKinds))
		kd := informerKinds[k]
		names := make([]string, 0, len(live[k]))
		for name := range live[k] {
			names = append(names, name)
		}
		sort.Strings(names)
		var err error
		switch op := rng.IntN(10); {
		case op < 4 || len(names) == 0:
			name := fmt.Sprintf("%s-%d", kd.name[:3], base+i)
			err = kd.create(ctx, c, name)
			live[k][name] = true
		case op < 8:
			err = kd.update(ctx, c, names[rng.IntN(len(names))], base+i)
		default:
			name := names[rng.IntN(len(names))]
			err = kd.delete(ctx, c, name)
			delete(live[k], name)
		}
		if err != nil {
			t.Fatalf("op %d on %s: %v", base+i, kd.name, err)
		}
	}
}

// assertInSync waits until each informer's store equals the server's list,
// object for object and resourceVersion for resourceVersion.
func assertInSync(t *testing.T, ctx context.Context, c kubernetes.Interface, infs []cache.SharedIndexInformer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for k, kd := range informerKinds {
		for {
			want, err := kd.list(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			diff := compareStore(want, infs[k].GetStore().List())
			if diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s informer out of sync: %s", kd.name, diff)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func compareStore(want []runtime.Object, got []any) string {
	rv := func(o any) (string, string) {
		acc, _ := meta.Accessor(o)
		return acc.GetName(), acc.GetResourceVersion()
	}
	wm := map[string]string{}
	for _, o := range want {
		n, v := rv(o)
		wm[n] = v
	}
	if len(got) != len(wm) {
		return fmt.Sprintf("informer has %d objects, server %d", len(got), len(wm))
	}
	for _, o := range got {
		n, v := rv(o)
		if wm[n] != v {
			return fmt.Sprintf("%s: informer at %s, server at %q", n, v, wm[n])
		}
	}
	return ""
}

func TestInformersStayInSyncAcrossRestart(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	// The informers get their own client so they survive the restart.
	factory := informers.NewSharedInformerFactory(kubernetes.NewForConfigOrDie(s.Config), 0)
	infs := make([]cache.SharedIndexInformer, len(informerKinds))
	for i, kd := range informerKinds {
		infs[i] = kd.informer(factory)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	rng := rand.New(rand.NewPCG(1, 2))
	live := make([]map[string]bool, len(informerKinds))
	for i := range live {
		live[i] = map[string]bool{}
	}
	randomOps(t, ctx, s.Client, rng, live, 2000, 0)
	assertInSync(t, ctx, s.Client, infs)

	s.Stop()
	s2 := servertest.Start(t, servertest.Options{DataDir: s.DataDir, Port: s.Port})
	randomOps(t, ctx, s2.Client, rng, live, 300, 2000)
	assertInSync(t, ctx, s2.Client, infs)
	if _, err := s2.Client.CoreV1().ConfigMaps("default").Get(ctx, "nonexistent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}
