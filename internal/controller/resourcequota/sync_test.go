package resourcequota

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/internal/controller/resourcequota/usage"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestDesiredStatus(t *testing.T) {
	q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "5", "example.com/unknown", "3")}}
	st, dirty := desiredStatus(q, rl("pods", "2", "count/pods", "9"))
	if !dirty {
		t.Fatal("first sync not dirty")
	}
	if !usage.Equal(st.Hard, q.Spec.Hard) || !usage.Equal(st.Used, rl("pods", "2")) {
		t.Fatalf("status = %+v", st)
	}
	q.Status = st
	if _, dirty := desiredStatus(q, rl("pods", "2")); dirty {
		t.Fatal("unchanged usage is dirty")
	}
	// An earlier observation of a limit nothing computes is kept.
	q.Status.Used = rl("pods", "2", "example.com/unknown", "1")
	st, dirty = desiredStatus(q, rl("pods", "1"))
	if !dirty || !usage.Equal(st.Used, rl("pods", "1", "example.com/unknown", "1")) {
		t.Fatalf("used = %v dirty %v", st.Used, dirty)
	}
	// Raising a limit is written even with usage unchanged.
	q.Status = st
	q.Spec.Hard = rl("pods", "10", "example.com/unknown", "3")
	if st, dirty := desiredStatus(q, rl("pods", "1")); !dirty || st.Hard.Pods().String() != "10" {
		t.Fatalf("hard change: %+v dirty %v", st.Hard, dirty)
	}
}

func TestResourcesFor(t *testing.T) {
	got := resourcesFor(rl("requests.cpu", "1", "services.nodeports", "2", "count/deployments.apps", "1",
		"count/configmaps", "3", "count/widgets.example.com", "4"))
	want := []schema.GroupResource{
		{Resource: "pods"}, {Resource: "services"}, {Resource: "configmaps"},
		{Group: "apps", Resource: "deployments"}, {Group: "example.com", Resource: "widgets"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}
