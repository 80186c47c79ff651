package dns

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// benchObjects is a cluster of n ClusterIP Services with one endpoint each.
func benchObjects(n int) []runtime.Object {
	objs := []runtime.Object{ns("default")}
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		objs = append(objs,
			service("default", name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), port{"http", 80, corev1.ProtocolTCP}),
			slice("default", name, name+"-a", []port{{"http", 8080, corev1.ProtocolTCP}}, ep{ip: fmt.Sprintf("10.244.%d.%d", i/250, i%250+1)}))
	}
	return objs
}

// packWriter packs the reply as the UDP path would, into a reused buffer.
type packWriter struct {
	buf []byte
	n   int
}

var benchClient = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func (w *packWriter) LocalAddr() net.Addr  { return benchClient }
func (w *packWriter) RemoteAddr() net.Addr { return benchClient }
func (w *packWriter) WriteMsg(m *dns.Msg) error {
	out, err := m.PackBuffer(w.buf)
	w.n = len(out)
	return err
}
func (w *packWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *packWriter) Close() error                { return nil }
func (w *packWriter) TsigStatus() error           { return nil }
func (w *packWriter) TsigTimersOnly(bool)         {}
func (w *packWriter) Hijack()                     {}

// BenchmarkServeA is the server's own cost for a ClusterIP A query among
// 1000 Services: lookup, reply and packing, without the socket.
func BenchmarkServeA(b *testing.B) {
	e := start(b, Config{}, benchObjects(1000)...)
	q := new(dns.Msg).SetQuestion("svc-500.default.svc.cluster.local.", dns.TypeA)
	w := &packWriter{buf: make([]byte, 0, 512)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.srv.ServeDNS(w, q)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	if w.n == 0 {
		b.Fatal("no reply written")
	}
}

// BenchmarkServeAUDP measures whole queries over loopback UDP, with
// parallel clients each on its own socket, as pods would send them. Each
// client waits for its answer, so 8 per CPU keep the server busy.
func BenchmarkServeAUDP(b *testing.B) {
	e := start(b, Config{}, benchObjects(1000)...)
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := dns.Dial("udp", e.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		q := new(dns.Msg).SetQuestion("svc-500.default.svc.cluster.local.", dns.TypeA)
		for pb.Next() {
			q.Id = dns.Id()
			if err := conn.WriteMsg(q); err != nil {
				b.Error(err)
				return
			}
			r, err := conn.ReadMsg()
			if err != nil || len(r.Answer) != 1 {
				b.Errorf("reply %v: %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}
