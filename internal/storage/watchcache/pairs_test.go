package watchcache

import (
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

func TestPairsMatchSelectorsAsMapsDo(t *testing.T) {
	m := map[string]string{"app": "web", "tier": "front", "empty": "", "z": "last"}
	p := NewPairs(m)
	for _, sel := range []string{"app=web", "app!=web", "tier in (front,back)", "empty", "empty=", "!missing", "missing", "z=last,app=web", ""} {
		s, err := labels.Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Matches(p), s.Matches(labels.Set(m)); got != want {
			t.Errorf("label selector %q: Pairs %v, map %v", sel, got, want)
		}
	}
	for _, sel := range []string{"app=web", "app!=web", "missing=", "missing!=x", "tier=front,z=last"} {
		s, err := fields.ParseSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Matches(p), s.Matches(fields.Set(m)); got != want {
			t.Errorf("field selector %q: Pairs %v, map %v", sel, got, want)
		}
	}
	if NewPairs(nil) != nil || NewPairs(nil).Has("x") {
		t.Error("empty Pairs should hold nothing")
	}
}
