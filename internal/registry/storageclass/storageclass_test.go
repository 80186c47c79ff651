package storageclass

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newClass() *storagev1.StorageClass {
	sc := &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "local-path", ResourceVersion: "1"},
		Provisioner: "skiff.dev/local-path",
		Parameters:  map[string]string{"path": "/var/lib/skiff/volumes"},
	}
	DefaultStorageClass(sc)
	return sc
}

func hasErr(errs field.ErrorList, typ field.ErrorType, fld, detail string) bool {
	for _, e := range errs {
		if e.Type == typ && e.Field == fld && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

func TestDefaultsAndValidate(t *testing.T) {
	s := Resources()[0].Strategy
	sc := newClass()
	if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Fatalf("defaults = %+v", sc)
	}
	if errs := s.Validate(sc); len(errs) != 0 {
		t.Fatalf("unexpected errors %v", errs)
	}
	noProv := newClass()
	noProv.Provisioner = ""
	if errs := s.Validate(noProv); !hasErr(errs, field.ErrorTypeRequired, "provisioner", "") {
		t.Errorf("errors = %v", errs)
	}
	recycle := newClass()
	recycle.ReclaimPolicy = ptrTo(corev1.PersistentVolumeReclaimRecycle)
	if errs := s.Validate(recycle); !hasErr(errs, field.ErrorTypeNotSupported, "reclaimPolicy", `"Delete", "Retain"`) {
		t.Errorf("errors = %v", errs)
	}
}

func TestUpdate(t *testing.T) {
	s := Resources()[0].Strategy
	old := newClass()
	ok := old.DeepCopy()
	ok.Annotations = map[string]string{IsDefaultAnnotation: "true"}
	ok.AllowVolumeExpansion = ptrTo(true)
	if errs := s.ValidateUpdate(ok, old); len(errs) != 0 {
		t.Errorf("unexpected errors %v", errs)
	}
	bad := old.DeepCopy()
	bad.Parameters["path"] = "/elsewhere"
	bad.Provisioner = "other.dev/x"
	bad.VolumeBindingMode = ptrTo(storagev1.VolumeBindingWaitForFirstConsumer)
	errs := s.ValidateUpdate(bad, old)
	if !hasErr(errs, field.ErrorTypeForbidden, "parameters", "updates to parameters are forbidden.") ||
		!hasErr(errs, field.ErrorTypeForbidden, "provisioner", "updates to provisioner are forbidden.") ||
		!hasErr(errs, field.ErrorTypeInvalid, "volumeBindingMode", "field is immutable") {
		t.Errorf("errors = %v", errs)
	}
}

func TestRow(t *testing.T) {
	sc := newClass()
	sc.Annotations = map[string]string{IsDefaultAnnotation: "true"}
	row, err := Resources()[0].Strategy.Row(sc)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"local-path (default)", "skiff.dev/local-path", "Delete", "Immediate", false, "<unknown>"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
}

func ptrTo[T any](v T) *T { return &v }
