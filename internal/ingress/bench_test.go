package ingress

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// BenchmarkProxy compares, in one run, keep-alive GETs straight to an
// httptest backend with the same GETs through the Ingress proxy: "serial"
// is one client (added latency), "parallel" 8 clients per CPU
// (throughput). Each reports req/s, p50/p99 latency and the process CPU
// per request (client, proxy and backend share the machine), e.g.:
//
//	go test -run '^$' -bench BenchmarkProxy -benchtime 20000x ./internal/ingress/
func BenchmarkProxy(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello from the backend")
	}))
	b.Cleanup(backend.Close)
	objects := []runtime.Object{
		service("web", svcPort("http", 80)),
		ingressOf("web", rule("bench.example.com", pathOf("/", networkingv1.PathTypePrefix, "web", port80))),
	}
	objects = append(objects, objs(endpointSlices("web", "http", sliceEP{portOf(backend.Listener.Addr().String()), true}))...)
	e := startEnv(b, objects...)
	url := "http://" + e.ctrl.HTTPAddr() + "/bench"
	eventually(b, "Ingress served", func() bool {
		code, _ := get(b, http.DefaultClient, url, "bench.example.com")
		return code == http.StatusOK
	})
	for _, mode := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		b.Run("direct-"+mode.name, func(b *testing.B) { benchLoad(b, backend.URL+"/bench", "", mode.parallel) })
		b.Run("ingress-"+mode.name, func(b *testing.B) { benchLoad(b, url, "bench.example.com", mode.parallel) })
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLoad sends b.N GETs to url from one client, or from 8 clients
// per CPU when parallel.
func benchLoad(b *testing.B, url, host string, parallel bool) {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var all []time.Duration
	run := func(next func() bool) {
		var lat []time.Duration
		for next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if host != "" {
				req.Host = host
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	}
	b.ReportAllocs()
	cpuStart := processCPU()
	w0, r0 := ioCounts()
	b.ResetTimer()
	if parallel {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) { run(pb.Next) })
	} else {
		i := 0
		run(func() bool { i++; return i <= b.N })
	}
	b.StopTimer()
	// CPU per request of the whole process (client, proxy, backend) is
	// steadier than req/s on a shared machine: the difference between
	// the two sub-benchmarks is what the proxy costs.
	b.ReportMetric(float64((processCPU()-cpuStart).Microseconds())/float64(b.N), "cpu-us/op")
	w1, r1 := ioCounts()
	b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/op")
	b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/op")
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
}

func ioCounts() (w, r int64) {
	data, _ := os.ReadFile("/proc/self/io")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "syscw: "); ok {
			w, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			r, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return w, r
}
