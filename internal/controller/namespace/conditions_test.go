package namespace

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

var (
	t0   = metav1.NewTime(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	t1   = metav1.NewTime(t0.Add(time.Minute))
	pods = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	cms  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

func byType(conds []corev1.NamespaceCondition) map[corev1.NamespaceConditionType]corev1.NamespaceCondition {
	out := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	for _, c := range conds {
		out[c.Type] = c
	}
	return out
}

func TestConditions(t *testing.T) {
	type want struct {
		status  corev1.ConditionStatus
		reason  string
		message string // substring
	}
	cases := []struct {
		name   string
		record func(u *conditionUpdater)
		want   map[corev1.NamespaceConditionType]want
	}{{
		name:   "all good",
		record: func(u *conditionUpdater) {},
		want: map[corev1.NamespaceConditionType]want{
			corev1.NamespaceDeletionDiscoveryFailure: {corev1.ConditionFalse, "ResourcesDiscovered", "All resources successfully discovered"},
			corev1.NamespaceDeletionGVParsingFailure: {corev1.ConditionFalse, "ParsedGroupVersions", "All legacy kube types successfully parsed"},
			corev1.NamespaceDeletionContentFailure:   {corev1.ConditionFalse, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
			corev1.NamespaceContentRemaining:         {corev1.ConditionFalse, "ContentRemoved", "All content successfully removed"},
			corev1.NamespaceFinalizersRemaining:      {corev1.ConditionFalse, "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
		},
	}, {
		name: "content and finalizers remain, one delete failed",
		record: func(u *conditionUpdater) {
			u.deleteFailed(errors.New("boom"))
			tot := contentTotals{gvrRemaining: map[schema.GroupVersionResource]int{}, finalizerRemaining: map[string]int{}}
			tot.add(pods, remaining{count: 2})
			tot.add(cms, remaining{count: 1, finalizers: map[string]int{"example.com/hold": 1}})
			u.contentTotals(tot)
		},
		want: map[corev1.NamespaceConditionType]want{
			corev1.NamespaceDeletionContentFailure: {corev1.ConditionTrue, ReasonContentDeletionFailed, "Failed to delete all resource types, 1 remaining: boom"},
			corev1.NamespaceContentRemaining: {corev1.ConditionTrue, ReasonSomeResourcesRemain,
				"Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances"},
			corev1.NamespaceFinalizersRemaining: {corev1.ConditionTrue, ReasonSomeFinalizersRemain,
				"Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"},
			corev1.NamespaceDeletionDiscoveryFailure: {corev1.ConditionFalse, "ResourcesDiscovered", ""},
		},
	}, {
		name: "partial discovery",
		record: func(u *conditionUpdater) {
			u.discoveryFailed(&discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{{Group: "x", Version: "v1"}: errors.New("down")}})
		},
		want: map[corev1.NamespaceConditionType]want{
			corev1.NamespaceDeletionDiscoveryFailure: {corev1.ConditionTrue, ReasonDiscoveryFailed, "Discovery failed for some groups, 1 failing"},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := conditionUpdater{now: t0}
			tc.record(&u)
			var st corev1.NamespaceStatus
			if !u.apply(&st) {
				t.Fatal("first apply reported no change")
			}
			if len(st.Conditions) != 5 {
				t.Fatalf("%d conditions, want 5", len(st.Conditions))
			}
			got := byType(st.Conditions)
			for typ, w := range tc.want {
				c := got[typ]
				if c.Status != w.status || c.Reason != w.reason || !strings.Contains(c.Message, w.message) {
					t.Errorf("%s = %s/%s/%q, want %s/%s/%q", typ, c.Status, c.Reason, c.Message, w.status, w.reason, w.message)
				}
			}
			// The same outcome again is no change.
			again := conditionUpdater{now: t1}
			tc.record(&again)
			if again.apply(&st) {
				t.Error("re-applying the same outcome reported a change")
			}
		})
	}
}

func TestConditionTransitionTime(t *testing.T) {
	var st corev1.NamespaceStatus
	first := conditionUpdater{now: t0}
	first.deleteFailed(errors.New("boom"))
	first.apply(&st)
	// A different failure message keeps the transition time...
	second := conditionUpdater{now: t1}
	second.deleteFailed(errors.New("bang"))
	if !second.apply(&st) {
		t.Fatal("new message not applied")
	}
	if c := byType(st.Conditions)[corev1.NamespaceDeletionContentFailure]; !c.LastTransitionTime.Equal(&t0) {
		t.Errorf("transition time moved on a message change: %v", c.LastTransitionTime)
	}
	// ...recovering moves it.
	third := conditionUpdater{now: t1}
	third.apply(&st)
	if c := byType(st.Conditions)[corev1.NamespaceDeletionContentFailure]; c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(&t1) {
		t.Errorf("after recovery: %+v", c)
	}
}

func TestLeftOver(t *testing.T) {
	item := func(finalizers ...string) metav1.PartialObjectMetadata {
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "x", Finalizers: finalizers}}
	}
	cases := []struct {
		name         string
		items        []metav1.PartialObjectMetadata
		estimate     int64
		wantEstimate int64
		wantCount    int
		wantErr      bool
	}{
		{name: "nothing left"},
		{name: "nothing left, estimate dropped", estimate: 30},
		{name: "terminating pods", items: []metav1.PartialObjectMetadata{item()}, estimate: 30, wantEstimate: 30, wantCount: 1},
		{name: "held by finalizers", items: []metav1.PartialObjectMetadata{item("a"), item()}, wantEstimate: finalizerEstimateSeconds, wantCount: 2},
		{name: "unexplained", items: []metav1.PartialObjectMetadata{item()}, wantCount: 1, wantErr: true},
	}
	for _, tc := range cases {
		got, err := leftOver(cms, "ns", tc.items, tc.estimate)
		if got.estimate != tc.wantEstimate || got.count != tc.wantCount || (err != nil) != tc.wantErr {
			t.Errorf("%s: got %+v, %v", tc.name, got, err)
		}
	}
}

func TestDeletableResources(t *testing.T) {
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Verbs: []string{"list", "delete", "deletecollection"}},
			{Name: "pods/status", Namespaced: true, Verbs: []string{"get", "delete"}},
			{Name: "bindings", Namespaced: true, Verbs: []string{"create"}},
		}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{{Name: "widgets", Verbs: []string{"list", "delete"}}}},
		{GroupVersion: "a/b/c", APIResources: []metav1.APIResource{{Name: "broken", Verbs: []string{"delete"}}}},
	}
	got, err := deletableResources(lists)
	if err == nil {
		t.Error("unparsable group version not reported")
	}
	if len(got) != 2 || got[0].gvr != pods || got[1].gvr.Resource != "widgets" {
		t.Fatalf("got %+v", got)
	}
}
