package apps

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newStatefulSet() *appsv1.StatefulSet {
	tmpl := podTemplate(appLabels)
	tmpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", ResourceVersion: "1"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: appLabels},
			Template:    tmpl,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")}},
				},
			}},
		},
	}
	DefaultStatefulSet(s)
	return s
}

func TestStatefulSetValidate(t *testing.T) {
	v := resource(t, "StatefulSet").Strategy.Validate
	tests := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []wantErr
	}{
		{"valid", func(*appsv1.StatefulSet) {}, nil},
		{"name must be a DNS label", func(s *appsv1.StatefulSet) { s.Name = "db.example" },
			[]wantErr{{field.ErrorTypeInvalid, "metadata.name", "must not contain dots"}}},
		{"empty selector", func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} },
			[]wantErr{{field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for statefulset"}}},
		{"mismatch", func(s *appsv1.StatefulSet) { s.Spec.Template.Labels = nil },
			[]wantErr{{field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"}}},
		{"bad pod management", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" },
			[]wantErr{{field.ErrorTypeInvalid, "spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'"}}},
		{"ondelete with rollingUpdate", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType },
			[]wantErr{{field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'"}}},
		{"negative partition", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptrTo[int32](-1) },
			[]wantErr{{field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.partition", "must be greater than or equal to 0"}}},
		{"zero maxUnavailable", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromInt32(0))
		},
			[]wantErr{{field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0"}}},
		{"bad retention", func(s *appsv1.StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			[]wantErr{{field.ErrorTypeNotSupported, "spec.persistentVolumeClaimRetentionPolicy.whenScaled", `"Retain"`}}},
		{"negative ordinal start", func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} },
			[]wantErr{{field.ErrorTypeInvalid, "spec.ordinals.start", "must be greater than or equal to 0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStatefulSet()
			tt.mutate(s)
			checkErrs(t, v(s), tt.want)
		})
	}
}

func TestStatefulSetClaimVolumesForValidation(t *testing.T) {
	s := newStatefulSet()
	tmpl := templateWithClaimVolumes(&s.Spec)
	if len(tmpl.Spec.Volumes) != 1 || tmpl.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data" {
		t.Fatalf("volumes = %+v", tmpl.Spec.Volumes)
	}
	if len(s.Spec.Template.Spec.Volumes) != 0 {
		t.Fatalf("the stored template was modified")
	}
}

func TestStatefulSetUpdate(t *testing.T) {
	vu := resource(t, "StatefulSet").Strategy.ValidateUpdate
	tests := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []wantErr
	}{
		{"replicas", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptrTo[int32](5) }, nil},
		{"template", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "postgres:17" }, nil},
		{"update strategy", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}, nil},
		{"retention", func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
		}, nil},
		{"minReadySeconds", func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 }, nil},
		{"ordinals", func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 3} }, nil},
		{"revisionHistoryLimit", func(s *appsv1.StatefulSet) { s.Spec.RevisionHistoryLimit = ptrTo[int32](2) }, nil},
		{"claim size", func(s *appsv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = apiresource.MustParse("2Gi")
		}, []wantErr{{field.ErrorTypeForbidden, "spec", statefulSetForbiddenUpdate}}},
		{"service name", func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "other" },
			[]wantErr{{field.ErrorTypeForbidden, "spec", statefulSetForbiddenUpdate}}},
		{"selector", func(s *appsv1.StatefulSet) {
			s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
			s.Spec.Template.Labels = map[string]string{"app": "web", "x": "y"}
		}, []wantErr{{field.ErrorTypeForbidden, "spec", statefulSetForbiddenUpdate}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newStatefulSet()
			s := old.DeepCopy()
			tt.mutate(s)
			errs := vu(s, old)
			checkErrs(t, errs, tt.want)
			if len(tt.want) > 0 {
				const want = "spec: Forbidden: " + statefulSetForbiddenUpdate
				if errs[len(errs)-1].Error() != want {
					t.Errorf("message = %q", errs[len(errs)-1].Error())
				}
			}
		})
	}
}

func TestStatefulSetStatusUpdate(t *testing.T) {
	vs := resource(t, "StatefulSet").Strategy.ValidateStatusUpdate
	old := newStatefulSet()
	old.Status.CollisionCount = ptrTo[int32](2)
	s := old.DeepCopy()
	s.Status.Replicas, s.Status.ReadyReplicas = 1, 2
	s.Status.CollisionCount = ptrTo[int32](1)
	checkErrs(t, vs(s, old), []wantErr{
		{field.ErrorTypeInvalid, "status.readyReplicas", "cannot be greater than status.replicas"},
		{field.ErrorTypeInvalid, "status.collisionCount", "cannot be decremented"},
	})
}

func TestStatefulSetRow(t *testing.T) {
	s := newStatefulSet()
	s.Spec.Replicas = ptrTo[int32](3)
	s.Status.ReadyReplicas = 1
	row, err := resource(t, "StatefulSet").Strategy.Row(s)
	if err != nil {
		t.Fatal(err)
	}
	if row[0] != "db" || row[1] != "1/3" || row[3] != "web" || row[4] != "nginx:1.27" {
		t.Errorf("row = %#v", row)
	}
}
