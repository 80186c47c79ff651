package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

type env struct {
	t      *testing.T
	client kubernetes.Interface
	events chan string
	ns     string
}

// startGC runs a collector against s; objects made before it starts are
// found by its initial lists, later ones by its watches.
func startGC(t *testing.T, s *servertest.Server) chan string {
	t.Helper()
	rec := record.NewFakeRecorder(1000)
	client := kubernetes.NewForConfigOrDie(s.Config)
	cc := controller.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Clock: clock.RealClock{},
		Recorder: func(string) record.EventRecorder { return rec }}
	gc, err := New(cc, Config{RESTConfig: s.Config, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return rec.Events
}

func (e *env) namespace(name string) *env {
	e.t.Helper()
	if _, err := e.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	c := *e
	c.ns = name
	return &c
}

func ref(kind, name string, uid types.UID, block bool) metav1.OwnerReference {
	apiVersion := "v1"
	if kind == "ClusterRole" {
		apiVersion = "rbac.authorization.k8s.io/v1"
	}
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func (e *env) configMap(name string, finalizers []string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	e.t.Helper()
	cm, err := e.client.CoreV1().ConfigMaps(e.ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: name, OwnerReferences: owners, Finalizers: finalizers}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return cm
}

func (e *env) secret(name string, owners ...metav1.OwnerReference) {
	e.t.Helper()
	if _, err := e.client.CoreV1().Secrets(e.ns).Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: name, OwnerReferences: owners}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(name string) (*corev1.ConfigMap, error) {
	return e.client.CoreV1().ConfigMaps(e.ns).Get(context.Background(), name, metav1.GetOptions{})
}

func (e *env) deleteCM(name string, policy metav1.DeletionPropagation) {
	e.t.Helper()
	if err := e.client.CoreV1().ConfigMaps(e.ns).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) dropFinalizers(name string) {
	e.t.Helper()
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := e.client.CoreV1().ConfigMaps(e.ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// eventually polls cond every 20ms for up to 10s.
func (e *env) eventually(what string, cond func() error) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) gone(names ...string) func() error {
	return func() error {
		for _, n := range names {
			if _, err := e.get(n); !apierrors.IsNotFound(err) {
				return fmt.Errorf("configmap %s still there (%v)", n, err)
			}
		}
		return nil
	}
}

// stays checks for a while that cond keeps holding.
func (e *env) stays(what string, d time.Duration, cond func() error) {
	e.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err := cond(); err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
	}
}

func (e *env) exists(names ...string) func() error {
	return func() error {
		for _, n := range names {
			if _, err := e.get(n); err != nil {
				return fmt.Errorf("configmap %s: %v", n, err)
			}
		}
		return nil
	}
}

func TestGarbageCollector(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	base := &env{t: t, client: s.Client}

	// Made before the collector starts: found by its initial lists.
	bg := base.namespace("background")
	owner := bg.configMap("owner", nil)
	bg.configMap("dep-1", nil, ref("ConfigMap", "owner", owner.UID, false))
	bg.configMap("dep-2", nil, ref("ConfigMap", "owner", owner.UID, true))
	bg.secret("dep-3", ref("ConfigMap", "owner", owner.UID, false))
	bg.configMap("unrelated", nil)

	events := startGC(t, s)

	t.Run("background", func(t *testing.T) {
		e := *bg
		e.t = t
		e.stays("dependents of a live owner are kept", 300*time.Millisecond, e.exists("owner", "dep-1", "dep-2"))
		e.deleteCM("owner", metav1.DeletePropagationBackground)
		e.eventually("dependents to be deleted", e.gone("owner", "dep-1", "dep-2"))
		e.eventually("the dependent secret to be deleted", func() error {
			if _, err := e.client.CoreV1().Secrets(e.ns).Get(context.Background(), "dep-3", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("secret dep-3: %v", err)
			}
			return nil
		})
		if _, err := e.get("unrelated"); err != nil {
			t.Fatalf("unrelated configmap: %v", err)
		}
	})

	t.Run("foreground", func(t *testing.T) {
		e := base.namespace("foreground")
		e.t = t
		owner := e.configMap("owner", nil)
		// The blocking child holds its own finalizer, so the test controls
		// when it goes; it has a dependent of its own.
		child := e.configMap("child", []string{"example.com/hold"}, ref("ConfigMap", "owner", owner.UID, true))
		e.configMap("grandchild", nil, ref("ConfigMap", "child", child.UID, true))
		e.configMap("loose", nil, ref("ConfigMap", "owner", owner.UID, false))
		e.deleteCM("owner", metav1.DeletePropagationForeground)

		e.eventually("the subtree to be deleted in the foreground", func() error {
			c, err := e.get("child")
			if err != nil {
				return err
			}
			if c.DeletionTimestamp == nil {
				return fmt.Errorf("child not being deleted")
			}
			return e.gone("grandchild", "loose")()
		})
		e.stays("the owner waits for its blocking child", 300*time.Millisecond, func() error {
			o, err := e.get("owner")
			if err != nil {
				return err
			}
			if o.DeletionTimestamp == nil || !slices.Contains(o.Finalizers, metav1.FinalizerDeleteDependents) {
				return fmt.Errorf("owner = %v, finalizers %v", o.DeletionTimestamp, o.Finalizers)
			}
			return nil
		})
		e.dropFinalizers("child")
		e.eventually("child and then owner to go", e.gone("child", "owner"))
	})

	t.Run("orphan", func(t *testing.T) {
		e := base.namespace("orphan")
		e.t = t
		owner := e.configMap("owner", nil)
		other := e.configMap("other-owner", nil)
		e.configMap("dep-1", nil, ref("ConfigMap", "owner", owner.UID, true))
		e.configMap("dep-2", nil, ref("ConfigMap", "owner", owner.UID, false), ref("ConfigMap", "other-owner", other.UID, false))
		e.deleteCM("owner", metav1.DeletePropagationOrphan)
		e.eventually("the owner to go", e.gone("owner"))
		for name, want := range map[string][]types.UID{"dep-1": nil, "dep-2": {other.UID}} {
			cm, err := e.get(name)
			if err != nil {
				t.Fatalf("orphaned dependent %s: %v", name, err)
			}
			var got []types.UID
			for _, r := range cm.OwnerReferences {
				got = append(got, r.UID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s owners = %v, want %v", name, got, want)
			}
		}
	})

	t.Run("dangling references", func(t *testing.T) {
		e := base.namespace("dangling")
		e.t = t
		live := e.configMap("live", nil)
		e.configMap("never-existed", nil, ref("ConfigMap", "ghost", uuid.NewUUID(), false))
		// Same name as a live object, another uid: a former incarnation.
		e.configMap("uid-mismatch", nil, ref("ConfigMap", "live", uuid.NewUUID(), false))
		e.configMap("half-owned", nil, ref("ConfigMap", "live", live.UID, false), ref("ConfigMap", "ghost2", uuid.NewUUID(), false))
		e.eventually("dependents of absent owners to go", e.gone("never-existed", "uid-mismatch"))
		e.eventually("the dangling reference to be dropped", func() error {
			cm, err := e.get("half-owned")
			if err != nil {
				return err
			}
			if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != live.UID {
				return fmt.Errorf("owners = %+v", cm.OwnerReferences)
			}
			return nil
		})
		if _, err := e.get("live"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("cluster-scoped owner", func(t *testing.T) {
		e := base.namespace("cluster-owner")
		e.t = t
		ctx := context.Background()
		cr, err := e.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gc-owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.configMap("dep", nil, ref("ClusterRole", "gc-owner", cr.UID, true))
		e.stays("a namespaced dependent of a live cluster-scoped owner is kept", 300*time.Millisecond, e.exists("dep"))
		if err := e.client.RbacV1().ClusterRoles().Delete(ctx, "gc-owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.eventually("the dependent to go", e.gone("dep"))
	})

	t.Run("namespaced owner of a cluster-scoped object", func(t *testing.T) {
		e := *base
		e.t = t
		ctx := context.Background()
		bad := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gc-bad-ref",
			OwnerReferences: []metav1.OwnerReference{ref("ConfigMap", "whatever", uuid.NewUUID(), false)}}}
		if _, err := e.client.RbacV1().ClusterRoles().Create(ctx, bad, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for found := false; !found; {
			select {
			case ev := <-events:
				found = strings.Contains(ev, ReasonOwnerRefInvalidNamespace)
			case <-deadline:
				t.Fatal("no OwnerRefInvalidNamespace event")
			}
		}
		e.stays("the invalid reference is ignored, not acted on", 300*time.Millisecond, func() error {
			_, err := e.client.RbacV1().ClusterRoles().Get(ctx, "gc-bad-ref", metav1.GetOptions{})
			return err
		})
	})
}
