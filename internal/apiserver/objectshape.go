package apiserver

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// The status split and generation tracking work on any typed object by
// reflection over its top-level fields: TypeMeta and ObjectMeta are
// metadata, "Status" is the status, everything else is the spec.

func structOf(obj runtime.Object) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return v
}

// copyStatus sets dst's Status field to src's.
func copyStatus(dst, src runtime.Object) {
	d, s := structOf(dst).FieldByName("Status"), structOf(src).FieldByName("Status")
	if d.IsValid() && s.IsValid() && d.CanSet() {
		d.Set(s)
	}
}

// resetStatus sets obj's Status field to its zero value.
func resetStatus(obj runtime.Object) {
	if f := structOf(obj).FieldByName("Status"); f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

// specEqual reports whether a and b agree on everything except metadata
// and status, which is what upstream's generation bump looks at.
func specEqual(a, b runtime.Object) bool {
	va, vb := structOf(a), structOf(b)
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !equality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return false
		}
	}
	return true
}
