package history

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

func TestHash(t *testing.T) {
	data := []byte(`{"spec":{"template":{}}}`)
	one := int32(1)
	h0, h0again, h1 := Hash(data, nil), Hash(data, nil), Hash(data, &one)
	if h0 != h0again {
		t.Fatalf("hash not stable: %q vs %q", h0, h0again)
	}
	if h0 == h1 {
		t.Fatalf("collision count did not change the hash: %q", h0)
	}
	if h0 == Hash([]byte(`{"spec":{"template":{"x":1}}}`), nil) {
		t.Fatal("different data hashed the same")
	}
	// Name-safe: lowercase consonants and digits only (no vowels, so no
	// words), at most 10 characters (a uint32 in decimal).
	for _, h := range []string{h0, h1} {
		if len(h) == 0 || len(h) > 10 || strings.ContainsAny(h, "aeiouAEIOU-_") {
			t.Fatalf("hash %q is not name-safe", h)
		}
	}
}

func TestName(t *testing.T) {
	if got := Name("web", "abc"); got != "web-abc" {
		t.Fatalf("Name = %q", got)
	}
	long := strings.Repeat("x", 250)
	if got := Name(long, "abc"); len(got) != 223+4 || !strings.HasSuffix(got, "-abc") {
		t.Fatalf("long prefix not truncated to 223: len %d", len(got))
	}
}

// kubectlPatch is how `kubectl rollout undo` builds a DaemonSet's patch to
// recognise the revision the object is at: the whole object marshalled,
// spec.template kept. TemplatePatch must produce the same bytes.
func kubectlPatch(t *testing.T, ds *appsv1.DaemonSet) []byte {
	t.Helper()
	b, err := json.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	tmpl := raw["spec"].(map[string]any)["template"].(map[string]any)
	tmpl["$patch"] = "replace"
	out, err := json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTemplatePatchMatchesKubectlAndRoundTrips(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", Annotations: map[string]string{"a": "b"}},
		Spec:       appsv1.DaemonSetSpec{Template: template("img:1")},
	}
	got, err := TemplatePatch(&ds.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	if want := kubectlPatch(t, ds); string(got) != string(want) {
		t.Fatalf("patch differs from kubectl's:\n got %s\nwant %s", got, want)
	}
	back, err := TemplateFromPatch(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Spec.Containers[0].Image != "img:1" || back.Labels["app"] != "web" {
		t.Fatalf("round trip lost the template: %+v", back)
	}
	if _, err := TemplateFromPatch([]byte(`{"spec":{}}`)); err == nil {
		t.Fatal("patch without a template was accepted")
	}
}

func TestEqualData(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":2}`, `{"a":1,"b":2}`, true},
		{`{"a":1,"b":2}`, `{"b":2, "a":1}`, true}, // re-encoded by a store
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":1}`, `not json`, false},
	}
	for _, c := range cases {
		if got := EqualData([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("EqualData(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

func TestSortAndMax(t *testing.T) {
	t0 := metav1.NewTime(time.Unix(100, 0))
	t1 := metav1.NewTime(time.Unix(200, 0))
	rev := func(name string, n int64, ts metav1.Time) *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: ts}, Revision: n}
	}
	revs := []*appsv1.ControllerRevision{rev("c", 3, t0), rev("b", 1, t1), rev("a", 1, t1), rev("z", 1, t0)}
	Sort(revs)
	var got []string
	for _, r := range revs {
		got = append(got, r.Name)
	}
	if strings.Join(got, ",") != "z,a,b,c" {
		t.Fatalf("order = %v, want z,a,b,c (revision, then age, then name)", got)
	}
	if MaxRevision(revs) != 3 || MaxRevision(nil) != 0 {
		t.Fatalf("MaxRevision = %d", MaxRevision(revs))
	}
}

func TestNewCopiesMaps(t *testing.T) {
	owner := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1"}}
	labels := map[string]string{"app": "web"}
	r := New(owner, appsv1.SchemeGroupVersion.WithKind("StatefulSet"), labels, nil, []byte(`{}`), 4)
	r.Labels["extra"] = "x"
	if _, leaked := labels["extra"]; leaked {
		t.Fatal("New shares the caller's label map")
	}
	ref := metav1.GetControllerOf(r)
	if ref == nil || ref.UID != "u1" || ref.Kind != "StatefulSet" || r.Revision != 4 || r.Namespace != "ns" {
		t.Fatalf("revision not owned as expected: %+v", r.ObjectMeta)
	}
}
