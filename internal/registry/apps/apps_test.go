package apps

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// wantErr describes one expected validation error; detail is matched as a
// substring so the tests do not depend on how values are printed.
type wantErr struct {
	typ    field.ErrorType
	field  string
	detail string
}

func checkErrs(t *testing.T, got field.ErrorList, want []wantErr) {
	t.Helper()
	if len(want) == 0 {
		if len(got) != 0 {
			t.Fatalf("unexpected errors: %v", got)
		}
		return
	}
	for _, w := range want {
		found := false
		for _, e := range got {
			if e.Type == w.typ && e.Field == w.field && strings.Contains(e.Detail, w.detail) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("missing %s error on %s containing %q; got %v", w.typ, w.field, w.detail, got)
		}
	}
}

func resource(t *testing.T, kind string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Kind == kind {
			return r
		}
	}
	t.Fatalf("no resource for kind %s", kind)
	return registry.Resource{}
}

func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			DNSPolicy:     corev1.DNSClusterFirst,
			Containers: []corev1.Container{{
				Name: "web", Image: "nginx:1.27",
				ImagePullPolicy:          corev1.PullIfNotPresent,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
		},
	}
}

var appLabels = map[string]string{"app": "web"}

func newDeployment() *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: podTemplate(appLabels),
		},
	}
	DefaultDeployment(d)
	return d
}

func TestResourcesDiscovery(t *testing.T) {
	want := map[string]struct {
		resource   string
		short      []string
		categories []string
		status     bool
		scale      bool
	}{
		"Deployment":         {"deployments", []string{"deploy"}, []string{"all"}, true, true},
		"ReplicaSet":         {"replicasets", []string{"rs"}, []string{"all"}, true, true},
		"StatefulSet":        {"statefulsets", []string{"sts"}, []string{"all"}, true, true},
		"DaemonSet":          {"daemonsets", []string{"ds"}, []string{"all"}, true, false},
		"ControllerRevision": {"controllerrevisions", nil, nil, false, false},
	}
	for _, r := range Resources() {
		w, ok := want[r.Kind]
		if !ok {
			t.Errorf("unexpected kind %s", r.Kind)
			continue
		}
		if r.GVR.Group != "apps" || r.GVR.Version != "v1" || r.GVR.Resource != w.resource || !r.Namespaced {
			t.Errorf("%s: GVR %v namespaced %v", r.Kind, r.GVR, r.Namespaced)
		}
		if !equality.Semantic.DeepEqual(r.ShortNames, w.short) || !equality.Semantic.DeepEqual(r.Categories, w.categories) {
			t.Errorf("%s: short names %v categories %v", r.Kind, r.ShortNames, r.Categories)
		}
		if r.HasStatus != w.status || (r.Scale != nil) != w.scale {
			t.Errorf("%s: status %v scale %v", r.Kind, r.HasStatus, r.Scale != nil)
		}
		if r.Singular != strings.ToLower(r.Kind) {
			t.Errorf("%s: singular %q", r.Kind, r.Singular)
		}
	}
}

func TestDefaults(t *testing.T) {
	d := &appsv1.Deployment{}
	DefaultDeployment(d)
	pct := intstr.FromString("25%")
	wantD := appsv1.DeploymentSpec{
		Replicas: ptrTo[int32](1),
		Strategy: appsv1.DeploymentStrategy{
			Type:          appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &pct, MaxSurge: &pct},
		},
		RevisionHistoryLimit:    ptrTo[int32](10),
		ProgressDeadlineSeconds: ptrTo[int32](600),
	}
	d.Spec.Template = corev1.PodTemplateSpec{} // pod defaults are core's, not under test
	if !equality.Semantic.DeepEqual(d.Spec, wantD) {
		t.Errorf("deployment defaults: got %+v", d.Spec)
	}

	recreate := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	DefaultDeployment(recreate)
	if recreate.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate must not get a rollingUpdate block")
	}

	rs := &appsv1.ReplicaSet{}
	DefaultReplicaSet(rs)
	if *rs.Spec.Replicas != 1 {
		t.Errorf("replicaset replicas = %d", *rs.Spec.Replicas)
	}

	ds := &appsv1.DaemonSet{}
	DefaultDaemonSet(ds)
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil ||
		*ru.MaxUnavailable != intstr.FromInt32(1) || *ru.MaxSurge != intstr.FromInt32(0) || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("daemonset defaults: got %+v", ds.Spec)
	}
}

func TestStatefulSetDefaults(t *testing.T) {
	s := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
	}}
	DefaultStatefulSet(s)
	spec := s.Spec
	if spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement || *spec.Replicas != 1 || *spec.RevisionHistoryLimit != 10 {
		t.Errorf("got %+v", spec)
	}
	if spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || *spec.UpdateStrategy.RollingUpdate.Partition != 0 {
		t.Errorf("update strategy %+v", spec.UpdateStrategy)
	}
	p := spec.PersistentVolumeClaimRetentionPolicy
	if p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("retention %+v", p)
	}
	claim := spec.VolumeClaimTemplates[0]
	if *claim.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || claim.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim template %+v", claim)
	}

	// An explicit RollingUpdate type without a block stays without one.
	explicit := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}}}
	DefaultStatefulSet(explicit)
	if explicit.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Errorf("rollingUpdate was added to an explicit type")
	}
}

func TestDeploymentValidate(t *testing.T) {
	v := resource(t, "Deployment").Strategy.Validate
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []wantErr
	}{
		{"valid", func(*appsv1.Deployment) {}, nil},
		{"selector mismatch", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} },
			[]wantErr{{field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"}}},
		{"missing selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			[]wantErr{{field.ErrorTypeRequired, "spec.selector", ""}}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			[]wantErr{{field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for deployment"}}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](-1) },
			[]wantErr{{field.ErrorTypeInvalid, "spec.replicas", "must be greater than or equal to 0"}}},
		{"both zero", func(d *appsv1.Deployment) {
			zero := intstr.FromInt32(0)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: ptrTo(intstr.FromString("0%"))}
		}, []wantErr{{field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"}}},
		{"over 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("120%"))
		},
			[]wantErr{{field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"}}},
		{"bad percent", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromString("x%")) },
			[]wantErr{{field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxSurge", "a valid percent string"}}},
		{"restart never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			[]wantErr{{field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", `supported values: "Always"`}}},
		{"deadline not above minReady", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			[]wantErr{{field.ErrorTypeInvalid, "spec.progressDeadlineSeconds", "must be greater than minReadySeconds"}}},
		{"recreate with rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			[]wantErr{{field.ErrorTypeForbidden, "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"}}},
		{"bad name", func(d *appsv1.Deployment) { d.Name = "Web_1" },
			[]wantErr{{field.ErrorTypeInvalid, "metadata.name", "RFC 1123 subdomain"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment()
			tt.mutate(d)
			checkErrs(t, v(d), tt.want)
		})
	}
}

func TestSelectorMismatchMessage(t *testing.T) {
	d := newDeployment()
	d.Spec.Template.Labels = map[string]string{"app": "other"}
	errs := resource(t, "Deployment").Strategy.Validate(d)
	const want = "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"
	if len(errs) == 0 || errs[0].Error() != want {
		t.Fatalf("got %v, want %q", errs, want)
	}
}

func TestImmutableSelector(t *testing.T) {
	newSel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}
	tmpl := podTemplate(map[string]string{"app": "web", "tier": "x"})
	tests := []struct {
		kind     string
		old, obj runtime.Object
	}{
		{"Deployment", newDeployment(), func() runtime.Object {
			d := newDeployment()
			d.Spec.Selector, d.Spec.Template = newSel, tmpl
			return d
		}()},
		{"ReplicaSet", newReplicaSet(), func() runtime.Object {
			rs := newReplicaSet()
			rs.Spec.Selector, rs.Spec.Template = newSel, tmpl
			return rs
		}()},
		{"DaemonSet", newDaemonSet(), func() runtime.Object {
			ds := newDaemonSet()
			ds.Spec.Selector, ds.Spec.Template = newSel, tmpl
			return ds
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			s := resource(t, tt.kind).Strategy
			checkErrs(t, s.ValidateUpdate(tt.old, tt.old), nil)
			checkErrs(t, s.ValidateUpdate(tt.obj, tt.old), []wantErr{{field.ErrorTypeInvalid, "spec.selector", "field is immutable"}})
		})
	}
}

func newReplicaSet() *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "default", ResourceVersion: "1"},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: podTemplate(appLabels)},
	}
	DefaultReplicaSet(rs)
	return rs
}

func newDaemonSet() *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", ResourceVersion: "1"},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: podTemplate(appLabels)},
	}
	DefaultDaemonSet(ds)
	return ds
}

func TestReplicaSetFieldsAndRow(t *testing.T) {
	rs := newReplicaSet()
	rs.Status.Replicas, rs.Status.ReadyReplicas = 3, 2
	rs.Spec.Replicas = ptrTo[int32](3)
	rs.CreationTimestamp = metav1.NewTime(time.Now().Add(-5 * 24 * time.Hour))
	s := resource(t, "ReplicaSet").Strategy
	if got := s.Fields(rs)["status.replicas"]; got != "3" {
		t.Errorf("status.replicas = %q", got)
	}
	row, err := s.Row(rs)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"web-abc", int64(3), int64(3), int64(2), "5d", "web", "nginx:1.27", "app=web"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
	if len(row) != len(s.Columns) {
		t.Errorf("%d cells for %d columns", len(row), len(s.Columns))
	}
}

func TestDaemonSetValidate(t *testing.T) {
	v := resource(t, "DaemonSet").Strategy.Validate
	tests := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		want   []wantErr
	}{
		{"valid", func(*appsv1.DaemonSet) {}, nil},
		{"nil selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil },
			[]wantErr{{field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"}}},
		{"surge and unavailable", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromInt32(1)) },
			[]wantErr{{field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.maxSurge", "may not be set when maxUnavailable is non-zero"}}},
		{"neither", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("0%"))
		},
			[]wantErr{{field.ErrorTypeRequired, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"}}},
		{"active deadline", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.ActiveDeadlineSeconds = ptrTo[int64](5) },
			[]wantErr{{field.ErrorTypeForbidden, "spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in DaemonSet is not Supported"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDaemonSet()
			tt.mutate(ds)
			checkErrs(t, v(ds), tt.want)
		})
	}
}

func TestDaemonSetTemplateGeneration(t *testing.T) {
	s := resource(t, "DaemonSet").Strategy
	ds := newDaemonSet()
	ds.Status.NumberReady = 4
	s.PrepareForCreate(ds)
	if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" || ds.Status.NumberReady != 0 {
		t.Fatalf("create: generation %q status %+v", got, ds.Status)
	}

	same := ds.DeepCopy()
	same.Annotations[appsv1.DeprecatedTemplateGeneration] = "7" // clients may not set it
	s.PrepareForUpdate(same, ds)
	if got := same.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
		t.Errorf("unchanged template: generation %q", got)
	}

	changed := ds.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	s.PrepareForUpdate(changed, ds)
	if got := changed.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "2" {
		t.Errorf("changed template: generation %q", got)
	}
}

func TestScale(t *testing.T) {
	d := newDeployment()
	d.Spec.Selector = &metav1.LabelSelector{
		MatchLabels:      appLabels,
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}},
	}
	d.Status.Replicas = 2
	sc := resource(t, "Deployment").Scale
	sc.SetReplicas(d, 5)
	spec, status, sel := sc.Replicas(d)
	if spec != 5 || status != 2 || sel != "app=web,tier in (a,b)" {
		t.Errorf("got %d %d %q", spec, status, sel)
	}
}

func TestDeploymentRow(t *testing.T) {
	d := newDeployment()
	d.Spec.Replicas = ptrTo[int32](3)
	d.Status = appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}
	row, err := resource(t, "Deployment").Strategy.Row(d)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"web", "2/3", int64(3), int64(2), "<unknown>", "web", "nginx:1.27", "app=web"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
}

func TestControllerRevisionRow(t *testing.T) {
	r := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-5d4f", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Controller: ptrTo(true),
		}}},
		Revision: 3,
	}
	row, err := resource(t, "ControllerRevision").Strategy.Row(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"agent-5d4f", "daemonset.apps/agent", int64(3), "<unknown>"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
	checkErrs(t, resource(t, "ControllerRevision").Strategy.Validate(&appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "default"},
	}), []wantErr{{field.ErrorTypeRequired, "data", "data is mandatory"}})
}
