package apps

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/registry/core"
)

// statefulSetForbiddenUpdate is upstream's message, verbatim; tools such
// as helm surface it to users who edit volumeClaimTemplates.
const statefulSetForbiddenUpdate = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"

func statefulSetResource() registry.Resource {
	return registry.Resource{
		GVR:              appsv1.SchemeGroupVersion.WithResource("statefulsets"),
		Kind:             "StatefulSet",
		Singular:         "statefulset",
		ShortNames:       []string{"sts"},
		Categories:       []string{"all"},
		Namespaced:       true,
		HasStatus:        true,
		TracksGeneration: true,
		Scale: replicasScale(func(obj runtime.Object) (*int32, int32, *metav1.LabelSelector) {
			s := obj.(*appsv1.StatefulSet)
			return s.Spec.Replicas, s.Status.Replicas, s.Spec.Selector
		}, func(obj runtime.Object, n int32) {
			obj.(*appsv1.StatefulSet).Spec.Replicas = &n
		}),
		Strategy: registry.Strategy{
			Default:              func(obj runtime.Object) { DefaultStatefulSet(obj.(*appsv1.StatefulSet)) },
			Validate:             validateStatefulSet,
			ValidateUpdate:       validateStatefulSetUpdate,
			ValidateStatusUpdate: validateStatefulSetStatusUpdate,
			Columns:              statefulSetColumns,
			Row:                  statefulSetRow,
		},
	}
}

// DefaultStatefulSet applies apps/v1 defaulting. Note that an explicit
// type RollingUpdate without a rollingUpdate block stays without one, as
// upstream: only an unset type gets the block (and its partition 0).
func DefaultStatefulSet(s *appsv1.StatefulSet) {
	spec := &s.Spec
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if ru := spec.UpdateStrategy.RollingUpdate; spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil && ru.Partition == nil {
		ru.Partition = ptrTo[int32](0)
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p.WhenDeleted == "" {
		p.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p.WhenScaled == "" {
		p.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.Replicas == nil {
		spec.Replicas = ptrTo[int32](1)
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptrTo[int32](10)
	}
	core.SetDefaultsPodSpec(&spec.Template.Spec)
	for i := range spec.VolumeClaimTemplates {
		defaultClaimTemplate(&spec.VolumeClaimTemplates[i])
	}
}

// defaultClaimTemplate applies core/v1's PersistentVolumeClaim defaults,
// which upstream runs on claim templates as on standalone claims.
func defaultClaimTemplate(pvc *corev1.PersistentVolumeClaim) {
	if pvc.Spec.VolumeMode == nil {
		mode := corev1.PersistentVolumeFilesystem
		pvc.Spec.VolumeMode = &mode
	}
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
}

func validateStatefulSet(obj runtime.Object) field.ErrorList {
	s := obj.(*appsv1.StatefulSet)
	// StatefulSet names become pod hostnames, so they must be DNS labels.
	allErrs := apivalidation.ValidateObjectMeta(&s.ObjectMeta, true, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
	return append(allErrs, validateStatefulSetSpec(&s.Spec, field.NewPath("spec"))...)
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		allErrs = append(allErrs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy, "must be 'OrderedReady' or 'Parallel'"))
	}
	allErrs = append(allErrs, validateStatefulSetUpdateStrategy(&spec.UpdateStrategy, fldPath.Child("updateStrategy"))...)
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		pPath := fldPath.Child("persistentVolumeClaimRetentionPolicy")
		allErrs = append(allErrs, validateRetentionPolicyType(p.WhenDeleted, pPath.Child("whenDeleted"))...)
		allErrs = append(allErrs, validateRetentionPolicyType(p.WhenScaled, pPath.Child("whenScaled"))...)
	}
	allErrs = append(allErrs, nonNegative(int32Value(spec.Replicas), fldPath.Child("replicas"))...)
	allErrs = append(allErrs, nonNegative(spec.MinReadySeconds, fldPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		allErrs = append(allErrs, nonNegative(spec.Ordinals.Start, fldPath.Child("ordinals", "start"))...)
	}
	allErrs = append(allErrs, validateWorkloadSelector(spec.Selector, "statefulset", fldPath.Child("selector"))...)
	tmpl := templateWithClaimVolumes(spec)
	return append(allErrs, validateSelectedTemplate(tmpl, spec.Selector, "StatefulSet", "", fldPath)...)
}

func validateStatefulSetUpdateStrategy(s *appsv1.StatefulSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch s.Type {
	case "":
		allErrs = append(allErrs, field.Required(fldPath, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.RollingUpdate != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("rollingUpdate"), s.RollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if s.RollingUpdate == nil {
			break
		}
		ruPath := fldPath.Child("rollingUpdate")
		allErrs = append(allErrs, nonNegative(int32Value(s.RollingUpdate.Partition), ruPath.Child("partition"))...)
		if mu := s.RollingUpdate.MaxUnavailable; mu != nil {
			muPath := ruPath.Child("maxUnavailable")
			allErrs = append(allErrs, ValidatePositiveIntOrPercent(*mu, muPath)...)
			if intOrPercentValue(*mu) == 0 {
				allErrs = append(allErrs, field.Invalid(muPath, *mu, "cannot be 0"))
			}
			allErrs = append(allErrs, IsNotMoreThan100Percent(*mu, muPath)...)
		}
	default:
		allErrs = append(allErrs, field.Invalid(fldPath, *s, "must be 'RollingUpdate' or 'OnDelete'"))
	}
	return allErrs
}

func validateRetentionPolicyType(t appsv1.PersistentVolumeClaimRetentionPolicyType, fldPath *field.Path) field.ErrorList {
	switch t {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	}
	valid := []string{string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType), string(appsv1.DeletePersistentVolumeClaimRetentionPolicyType)}
	return field.ErrorList{field.NotSupported(fldPath, t, valid)}
}

// templateWithClaimVolumes returns the pod template as the controller will
// create it: every volumeClaimTemplate becomes a volume of the same name,
// so containers may mount claims that the template never declares.
func templateWithClaimVolumes(spec *appsv1.StatefulSetSpec) *corev1.PodTemplateSpec {
	if len(spec.VolumeClaimTemplates) == 0 {
		return &spec.Template
	}
	tmpl := spec.Template.DeepCopy()
	declared := map[string]bool{}
	for _, v := range tmpl.Spec.Volumes {
		declared[v.Name] = true
	}
	for _, claim := range spec.VolumeClaimTemplates {
		// An invalid claim name would surface as an error on a volume the
		// user never wrote; leave it out and let the mount be reported.
		if declared[claim.Name] || len(validation.IsDNS1123Label(claim.Name)) > 0 {
			continue
		}
		tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{
			Name: claim.Name,
			VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			},
		})
	}
	return tmpl
}

func validateStatefulSetUpdate(obj, old runtime.Object) field.ErrorList {
	s, oldS := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	// The name is not revalidated: old objects created under a looser rule
	// must stay updatable (for example to remove a finalizer).
	allErrs := apivalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &oldS.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateStatefulSetSpec(&s.Spec, field.NewPath("spec"))...)
	if !apiequality.Semantic.DeepEqual(immutableStatefulSetSpec(&s.Spec), immutableStatefulSetSpec(&oldS.Spec)) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"), statefulSetForbiddenUpdate))
	}
	return allErrs
}

// immutableStatefulSetSpec blanks the fields an update may change, leaving
// what must be equal between old and new (selector, serviceName,
// volumeClaimTemplates, podManagementPolicy).
func immutableStatefulSetSpec(spec *appsv1.StatefulSetSpec) *appsv1.StatefulSetSpec {
	c := spec.DeepCopy()
	c.Replicas = nil
	c.Ordinals = nil
	c.Template = corev1.PodTemplateSpec{}
	c.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{}
	c.PersistentVolumeClaimRetentionPolicy = nil
	c.MinReadySeconds = 0
	c.RevisionHistoryLimit = nil
	return c
}

func validateStatefulSetStatusUpdate(obj, old runtime.Object) field.ErrorList {
	s, oldS := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	fldPath := field.NewPath("status")
	st := &s.Status
	allErrs := nonNegative(st.Replicas, fldPath.Child("replicas"))
	allErrs = append(allErrs, nonNegative(st.ReadyReplicas, fldPath.Child("readyReplicas"))...)
	allErrs = append(allErrs, nonNegative(st.CurrentReplicas, fldPath.Child("currentReplicas"))...)
	allErrs = append(allErrs, nonNegative(st.UpdatedReplicas, fldPath.Child("updatedReplicas"))...)
	allErrs = append(allErrs, nonNegative(st.AvailableReplicas, fldPath.Child("availableReplicas"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(st.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	if st.CollisionCount != nil {
		allErrs = append(allErrs, nonNegative(*st.CollisionCount, fldPath.Child("collisionCount"))...)
	}
	const msg = "cannot be greater than status.replicas"
	for _, c := range []struct {
		name  string
		value int32
	}{{"readyReplicas", st.ReadyReplicas}, {"currentReplicas", st.CurrentReplicas}, {"updatedReplicas", st.UpdatedReplicas}, {"availableReplicas", st.AvailableReplicas}} {
		if c.value > st.Replicas {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(c.name), c.value, msg))
		}
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	allErrs = append(allErrs, apivalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &oldS.ObjectMeta, field.NewPath("metadata"))...)
	return append(allErrs, validateCollisionCount(st.CollisionCount, oldS.Status.CollisionCount, fldPath.Child("collisionCount"))...)
}

var statefulSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
	ageColumn,
	containersColumn,
	imagesColumn,
}

func statefulSetRow(obj runtime.Object) ([]any, error) {
	s, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return nil, fmt.Errorf("expected *v1.StatefulSet, got %T", obj)
	}
	names, images := containerCells(s.Spec.Template.Spec.Containers)
	return []any{
		s.Name,
		fmt.Sprintf("%d/%d", int64(s.Status.ReadyReplicas), int64(int32Value(s.Spec.Replicas))),
		age(s.CreationTimestamp),
		names, images,
	}, nil
}
