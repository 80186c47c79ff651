package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// BenchmarkDecision measures one scheduling decision (parse the pod,
// filter and score 100 nodes holding 10,000 pods of 100 controllers,
// assume) without the API server: the scheduler's own cost per pod.
func BenchmarkDecision(b *testing.B) {
	s := &Scheduler{cache: newSchedCache(), rand: rand.New(rand.NewPCG(1, 2))}
	for i := range 100 {
		s.cache.setNode(mkNode(fmt.Sprintf("node-%03d", i), withAlloc("32", "128Gi", 250)))
	}
	for i := range 10000 {
		p := ownedBy(testPod(fmt.Sprintf("pod-%05d", i), "100m", "128Mi"), types.UID(fmt.Sprintf("rs-%03d", i/100)))
		p.UID = types.UID(fmt.Sprintf("uid-%05d", i))
		p.Spec.NodeName = fmt.Sprintf("node-%03d", i%100)
		s.cache.addPod(p)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := ownedBy(testPod(fmt.Sprintf("new-%d", i), "100m", "128Mi"), types.UID(fmt.Sprintf("rs-%03d", i%100)))
		p.UID = types.UID(fmt.Sprintf("new-%d", i))
		st, err := newCycleState(p, nil)
		if err != nil {
			b.Fatal(err)
		}
		s.cache.mu.Lock()
		n, fe := s.unsafeSchedule(st)
		if fe != nil {
			b.Fatal(fe)
		}
		s.cache.unsafeAssume(st.pi, n)
		s.cache.mu.Unlock()
		s.cache.forget(p.UID)
	}
}
