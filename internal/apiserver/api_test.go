package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/server/servertest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: data}
}

func TestConfigMapCRUDAndConflicts(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	cms := s.Client.CoreV1().ConfigMaps("default")

	created, err := cms.Create(ctx, configMap("a", map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Fatalf("system fields not set: %+v", created.ObjectMeta)
	}
	if _, err := cms.Create(ctx, configMap("a", nil), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: want AlreadyExists, got %v", err)
	}

	got, err := cms.Get(ctx, "a", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("get = %+v, %v", got, err)
	}

	got.Data["k"] = "v2"
	updated, err := cms.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.ResourceVersion == got.ResourceVersion {
		t.Fatal("update did not change resourceVersion")
	}
	// got still carries the old resourceVersion: a stale write.
	got.Data["k"] = "stale"
	if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: want Conflict, got %v", err)
	}

	// Each patch type.
	patches := []struct {
		pt   types.PatchType
		body string
		want string
	}{
		{types.MergePatchType, `{"data":{"k":"merge"}}`, "merge"},
		{types.StrategicMergePatchType, `{"data":{"k":"smp"}}`, "smp"},
		{types.JSONPatchType, `[{"op":"replace","path":"/data/k","value":"json"}]`, "json"},
	}
	for _, p := range patches {
		out, err := cms.Patch(ctx, "a", p.pt, []byte(p.body), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("%s patch: %v", p.pt, err)
		}
		if out.Data["k"] != p.want {
			t.Fatalf("%s patch: data = %v", p.pt, out.Data)
		}
	}
	if _, err := cms.Patch(ctx, "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("patch of missing object: want NotFound, got %v", err)
	}

	if err := cms.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: want NotFound, got %v", err)
	}
}

func TestGenerateNameDryRunAndValidation(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	cms := s.Client.CoreV1().ConfigMaps("default")

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}
	out, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Name, "gen-") || len(out.Name) != len("gen-")+5 {
		t.Fatalf("generated name %q", out.Name)
	}

	dry, err := cms.Create(ctx, configMap("dry", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || dry.Name != "dry" {
		t.Fatalf("dry run create: %v", err)
	}
	if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run object was stored: %v", err)
	}

	_, err = cms.Create(ctx, configMap("Bad_Name", nil), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("invalid name: want Invalid, got %v", err)
	}
	st := err.(apierrors.APIStatus).Status()
	if st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != "metadata.name" {
		t.Fatalf("invalid name: causes %+v", st.Details)
	}

	elsewhere := configMap("x", nil)
	elsewhere.Namespace = "nope"
	if _, err := s.Client.CoreV1().ConfigMaps("nope").Create(ctx, elsewhere, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("create in missing namespace: want NotFound, got %v", err)
	}
}

func TestStrictFieldValidation(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s"},"data":{"a":"b"},"bogus":1}`)
	res := s.Client.CoreV1().RESTClient().Post().Namespace("default").Resource("configmaps").
		Param("fieldValidation", "Strict").Body(body).SetHeader("Content-Type", "application/json").Do(ctx)
	err := res.Error()
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `unknown field "bogus"`) {
		t.Fatalf("strict: want BadRequest naming the field, got %v", err)
	}
	res = s.Client.CoreV1().RESTClient().Post().Namespace("default").Resource("configmaps").
		Param("fieldValidation", "Warn").Body(body).SetHeader("Content-Type", "application/json").Do(ctx)
	if err := res.Error(); err != nil {
		t.Fatalf("warn: %v", err)
	}
	warned := false
	for _, w := range res.Warnings() {
		if strings.Contains(w.Text, `unknown field "bogus"`) {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("warn: no warning about the unknown field: %+v", res.Warnings())
	}
}

func TestListPaginationAndSelectors(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	cms := s.Client.CoreV1().ConfigMaps("default")
	for i := 0; i < 25; i++ {
		cm := configMap(fmt.Sprintf("cm-%02d", i), nil)
		cm.Labels = map[string]string{"parity": []string{"even", "odd"}[i%2]}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	opts := metav1.ListOptions{Limit: 10}
	pages := 0
	for {
		list, err := cms.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, cm := range list.Items {
			names = append(names, cm.Name)
		}
		// Writes between pages must not show up: pages are one snapshot.
		if _, err := cms.Create(ctx, configMap(fmt.Sprintf("late-%d", pages), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if pages != 3 || len(names) != 25 || names[0] != "cm-00" || names[24] != "cm-24" {
		t.Fatalf("pages=%d names=%v", pages, names)
	}
	odd, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "parity=odd"})
	if err != nil || len(odd.Items) != 12 {
		t.Fatalf("label selector: %d items, %v", len(odd.Items), err)
	}
	one, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=cm-07"})
	if err != nil || len(one.Items) != 1 || one.Items[0].Name != "cm-07" {
		t.Fatalf("field selector: %+v, %v", one, err)
	}
	if _, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("unsupported field selector: want BadRequest, got %v", err)
	}
}

func TestPodFieldSelectorsBindingAndGracefulDelete(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	pods := s.Client.CoreV1().Pods("default")
	for _, name := range []string{"p1", "p2"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p1"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p1"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n2"}}, metav1.CreateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("second bind: want Conflict, got %v", err)
	}
	onNode, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	if err != nil || len(onNode.Items) != 1 || onNode.Items[0].Name != "p1" {
		t.Fatalf("spec.nodeName selector: %+v %v", onNode, err)
	}
	pending, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Pending"})
	if err != nil || len(pending.Items) != 2 {
		t.Fatalf("status.phase selector: %d %v", len(pending.Items), err)
	}
	scheduled := false
	for _, c := range onNode.Items[0].Status.Conditions {
		scheduled = scheduled || (c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue)
	}
	if !scheduled {
		t.Fatal("binding did not set PodScheduled")
	}

	// A bound pod is deleted gracefully; an unbound one at once.
	if err := pods.Delete(ctx, "p1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p1, err := pods.Get(ctx, "p1", metav1.GetOptions{})
	if err != nil || p1.DeletionTimestamp == nil || p1.DeletionGracePeriodSeconds == nil || *p1.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("graceful delete: %+v %v", p1, err)
	}
	if err := pods.Delete(ctx, "p1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "p1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after grace 0 delete: %v", err)
	}
	if err := pods.Delete(ctx, "p2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "p2", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unbound pod not deleted at once: %v", err)
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
}

func TestStatusSplitGenerationAndScale(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	deps := s.Client.AppsV1().Deployments("default")
	d, err := deps.Create(ctx, deployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Fatalf("create: generation %d, strategy %q", d.Generation, d.Spec.Strategy.Type)
	}
	// Status written through the main resource is ignored...
	d.Status.Replicas = 7
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	if err != nil || d.Status.Replicas != 0 || d.Generation != 1 {
		t.Fatalf("status via main resource: %+v %v", d.Status, err)
	}
	// ...and through /status it sticks, without touching spec.
	d.Status.Replicas = 7
	d.Spec.Replicas = ptr.To[int32](9)
	d, err = deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil || d.Status.Replicas != 7 || *d.Spec.Replicas != 2 {
		t.Fatalf("status update: %+v %v", d, err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "img:2"
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	if err != nil || d.Generation != 2 {
		t.Fatalf("spec change: generation %d %v", d.Generation, err)
	}
	sc, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=web" {
		t.Fatalf("get scale: %+v %v", sc, err)
	}
	sc.Spec.Replicas = 5
	if _, err := deps.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d, _ = deps.Get(ctx, "web", metav1.GetOptions{})
	if *d.Spec.Replicas != 5 || d.Generation != 3 {
		t.Fatalf("after scale: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
	}
	bad := deployment("bad", 1)
	bad.Spec.Selector.MatchLabels = map[string]string{"app": "other"}
	if _, err := deps.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("selector mismatch: want Invalid, got %v", err)
	}
}

func TestFinalizersAndPropagation(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	cms := s.Client.CoreV1().ConfigMaps("default")
	cm := configMap("f", nil)
	cm.Finalizers = []string{"example.com/hold"}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "f", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx, "f", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("object with finalizers: %+v %v", got, err)
	}
	if len(got.Finalizers) != 2 || got.Finalizers[1] != metav1.FinalizerDeleteDependents {
		t.Fatalf("foreground policy not recorded: %v", got.Finalizers)
	}
	got.Finalizers = nil
	if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "f", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("removing the last finalizer did not delete: %v", err)
	}

	orphan := configMap("o", nil)
	if _, err := cms.Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "o", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		t.Fatal(err)
	}
	got, err = cms.Get(ctx, "o", metav1.GetOptions{})
	if err != nil || len(got.Finalizers) != 1 || got.Finalizers[0] != metav1.FinalizerOrphanDependents {
		t.Fatalf("orphan policy not recorded: %+v %v", got, err)
	}
}

func TestNamespaceTermination(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	nss := s.Client.CoreV1().Namespaces()
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, err := nss.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("system namespace %s: %v", name, err)
		}
	}
	if err := nss.Delete(ctx, "default", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("deleting default: want Forbidden, got %v", err)
	}
	if _, err := nss.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "t"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nss.Delete(ctx, "t", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := nss.Get(ctx, "t", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("deleted namespace: %+v %v", ns, err)
	}
	_, err = s.Client.CoreV1().ConfigMaps("t").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "being terminated") {
		t.Fatalf("create in terminating namespace: %v", err)
	}
	ns.Spec.Finalizers = nil
	if _, err := nss.Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nss.Delete(ctx, "t", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Get(ctx, "t", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("finalized namespace not deleted: %v", err)
	}
}

func TestWatchOrderAndResume(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	cms := s.Client.CoreV1().ConfigMaps("default")
	start, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: start.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var want []string
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("w%d", i%5)
		if i < 5 {
			_, err = cms.Create(ctx, configMap(name, nil), metav1.CreateOptions{})
			want = append(want, "ADDED/"+name)
		} else if i < 15 {
			_, err = cms.Patch(ctx, name, types.MergePatchType, []byte(fmt.Sprintf(`{"data":{"i":"%d"}}`, i)), metav1.PatchOptions{})
			want = append(want, "MODIFIED/"+name)
		} else {
			err = cms.Delete(ctx, name, metav1.DeleteOptions{})
			want = append(want, "DELETED/"+name)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var lastRV string
	for len(got) < len(want) {
		select {
		case ev := <-w.ResultChan():
			cm := ev.Object.(*corev1.ConfigMap)
			got = append(got, string(ev.Type)+"/"+cm.Name)
			if lastRV != "" && cm.ResourceVersion <= lastRV && len(cm.ResourceVersion) <= len(lastRV) {
				t.Fatalf("resourceVersion went backwards: %s after %s", cm.ResourceVersion, lastRV)
			}
			lastRV = cm.ResourceVersion
		case <-ctx.Done():
			t.Fatalf("timed out; got %v", got)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
}

func TestTablesAndProtobuf(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	if _, err := s.Client.AppsV1().Deployments("default").Create(ctx, deployment("tbl", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	raw, err := s.Client.AppsV1().RESTClient().Get().Namespace("default").Resource("deployments").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, c.Name)
		}
	}
	if strings.Join(cols, ",") != "Name,Ready,Up-to-date,Available,Age" || len(table.Rows) != 1 || table.Rows[0].Cells[0] != "tbl" {
		t.Fatalf("table: columns %v rows %+v", cols, table.Rows)
	}

	cfg := *s.Config
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	pc := kubernetes.NewForConfigOrDie(&cfg)
	if _, err := pc.CoreV1().ConfigMaps("default").Create(ctx, configMap("pb", map[string]string{"a": "b"}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("protobuf create: %v", err)
	}
	list, err := pc.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		t.Fatalf("protobuf list: %v", err)
	}
	w, err := pc.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := pc.CoreV1().ConfigMaps("default").Delete(ctx, "pb", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Deleted {
			t.Fatalf("protobuf watch: %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("protobuf watch: no event")
	}
}
