package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func newTestHooks(cidr string, ports [2]int) *serviceHooks {
	return newServiceHooks(newAllocator(netip.MustParsePrefix(cidr), ports))
}

func testService(name string, mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	defaultService(svc)
	return svc
}

func nodePortType(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }

// mustCreate runs BeforeCreate and commits it.
func mustCreate(t *testing.T, h *serviceHooks, svc *corev1.Service) *corev1.Service {
	t.Helper()
	finish, err := h.BeforeCreate(context.Background(), svc)
	if err != nil {
		t.Fatalf("create %s: %v", svc.Name, err)
	}
	finish(true)
	return svc
}

// causeOf returns the first field cause of a 422, or fails.
func causeOf(t *testing.T, err error) metav1.StatusCause {
	t.Helper()
	var se *apierrors.StatusError
	if !apierrors.IsInvalid(err) || !errors.As(err, &se) || se.ErrStatus.Details == nil || len(se.ErrStatus.Details.Causes) == 0 {
		t.Fatalf("want 422 Invalid with causes, got %v", err)
	}
	return se.ErrStatus.Details.Causes[0]
}

func TestClusterIPExhaustionAndReuse(t *testing.T) {
	// A /29 has 8 addresses: network, broadcast and the kubernetes service's
	// leave 5 to hand out.
	h := newTestHooks("10.0.0.0/29", [2]int{30000, 32767})
	var got []string
	for i := range 5 {
		svc := mustCreate(t, h, testService(fmt.Sprintf("s%d", i), nil))
		got = append(got, svc.Spec.ClusterIP)
		if len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
			t.Errorf("clusterIPs = %v, want [%s]", svc.Spec.ClusterIPs, svc.Spec.ClusterIP)
		}
		if *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || len(svc.Spec.IPFamilies) != 1 || svc.Spec.IPFamilies[0] != corev1.IPv4Protocol {
			t.Errorf("families = %v %v", *svc.Spec.IPFamilyPolicy, svc.Spec.IPFamilies)
		}
	}
	if want := "10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6"; strings.Join(got, ",") != want {
		t.Errorf("allocated %v, want %s", got, want)
	}
	_, err := h.BeforeCreate(context.Background(), testService("full", nil))
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a serviceIP: range is full") {
		t.Fatalf("exhausted range: got %v", err)
	}
	// Deleting a service frees its address for the next one.
	h.AfterDelete(testService("s2", func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.4"; s.Spec.ClusterIPs = []string{"10.0.0.4"} }))
	if svc := mustCreate(t, h, testService("again", nil)); svc.Spec.ClusterIP != "10.0.0.4" {
		t.Errorf("reused %s, want 10.0.0.4", svc.Spec.ClusterIP)
	}
	// The kubernetes service gets the first address.
	k := testService("kubernetes", nil)
	if mustCreate(t, h, k); k.Spec.ClusterIP != "10.0.0.1" {
		t.Errorf("kubernetes service got %s, want 10.0.0.1", k.Spec.ClusterIP)
	}
}

func TestRequestedClusterIP(t *testing.T) {
	h := newTestHooks("10.0.0.0/24", [2]int{30000, 32767})
	mustCreate(t, h, testService("a", func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.50" }))
	tests := []struct {
		name, ip, msg string
	}{
		{"taken", "10.0.0.50", "failed to allocate IP 10.0.0.50: provided IP is already allocated"},
		{"out of range", "10.1.0.1", "failed to allocate IP 10.1.0.1: the provided IP (10.1.0.1) is not in the valid range. The range of valid IPs is 10.0.0.0/24"},
		{"broadcast", "10.0.0.255", "is not in the valid range"},
		{"kept for the kubernetes service", "10.0.0.1", "provided IP is already allocated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.BeforeCreate(context.Background(), testService("b", func(s *corev1.Service) { s.Spec.ClusterIP = tt.ip }))
			c := causeOf(t, err)
			if c.Field != "spec.clusterIPs" || !strings.Contains(c.Message, tt.msg) {
				t.Errorf("cause = %s %q, want spec.clusterIPs %q", c.Field, c.Message, tt.msg)
			}
		})
	}
	t.Run("wrong family", func(t *testing.T) {
		_, err := h.BeforeCreate(context.Background(), testService("b", func(s *corev1.Service) { s.Spec.ClusterIP = "fd00::5" }))
		if c := causeOf(t, err); c.Field != "spec.clusterIPs[0]" || !strings.Contains(c.Message, "IPv6 is not configured on this cluster") {
			t.Errorf("cause = %s %q", c.Field, c.Message)
		}
	})
	t.Run("require dual-stack", func(t *testing.T) {
		svc := testService("b", func(s *corev1.Service) { s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack) })
		_, err := h.BeforeCreate(context.Background(), svc)
		if c := causeOf(t, err); c.Field != "spec.ipFamilyPolicy" || !strings.Contains(c.Message, "not configured for dual-stack") {
			t.Errorf("cause = %s %q", c.Field, c.Message)
		}
	})
	t.Run("unconfigured family", func(t *testing.T) {
		svc := testService("b", func(s *corev1.Service) {
			s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		})
		_, err := h.BeforeCreate(context.Background(), svc)
		if c := causeOf(t, err); c.Field != "spec.ipFamilies[1]" || !strings.Contains(c.Message, "not configured on this cluster") {
			t.Errorf("cause = %s %q", c.Field, c.Message)
		}
	})
	if ips, _ := h.alloc.counts(); ips != 1 {
		t.Errorf("failed creates leaked reservations: %d addresses held", ips)
	}
	// PreferDualStack runs single-stack here.
	p := mustCreate(t, h, testService("p", func(s *corev1.Service) { s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack) }))
	if len(p.Spec.IPFamilies) != 1 || *p.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack {
		t.Errorf("PreferDualStack service = %v %v", *p.Spec.IPFamilyPolicy, p.Spec.IPFamilies)
	}
}

func TestHeadlessAndExternalName(t *testing.T) {
	h := newTestHooks("10.0.0.0/24", [2]int{30000, 32767})
	headless := mustCreate(t, h, testService("h", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }))
	if headless.Spec.ClusterIPs[0] != "None" || *headless.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
		t.Errorf("headless = %+v", headless.Spec)
	}
	bare := mustCreate(t, h, testService("bare", func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.Selector = nil }))
	if *bare.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyRequireDualStack || len(bare.Spec.IPFamilies) != 2 {
		t.Errorf("selectorless headless = %v %v", *bare.Spec.IPFamilyPolicy, bare.Spec.IPFamilies)
	}
	ext := mustCreate(t, h, testService("ext", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "example.com"
	}))
	if ext.Spec.ClusterIP != "" || ext.Spec.IPFamilyPolicy != nil || len(ext.Spec.IPFamilies) != 0 {
		t.Errorf("external name = %+v", ext.Spec)
	}
	if ips, _ := h.alloc.counts(); ips != 0 {
		t.Errorf("%d addresses held, want 0", ips)
	}
}

func TestNodePorts(t *testing.T) {
	h := newTestHooks("10.0.0.0/24", [2]int{30000, 30003})
	dns := mustCreate(t, h, testService("dns", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports = []corev1.ServicePort{
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", Port: 9153, NodePort: 30003},
		}
	}))
	p := dns.Spec.Ports
	if p[0].NodePort != 30000 || p[1].NodePort != 30000 || p[2].NodePort != 30003 {
		t.Errorf("node ports = %d %d %d, want 30000 30000 30003", p[0].NodePort, p[1].NodePort, p[2].NodePort)
	}
	tests := []struct {
		name     string
		nodePort int32
		msg      string
	}{
		{"taken", 30003, "provided port is already allocated"},
		{"out of range", 31000, "provided port is not in the valid range. The range of valid ports is 30000-30003"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.BeforeCreate(context.Background(), testService("web", func(s *corev1.Service) {
				nodePortType(s)
				s.Spec.Ports[0].NodePort = tt.nodePort
			}))
			if c := causeOf(t, err); c.Field != "spec.ports[0].nodePort" || !strings.HasSuffix(c.Message, ": "+tt.msg) {
				t.Errorf("cause = %s %q, want %q", c.Field, c.Message, tt.msg)
			}
		})
	}
	mustCreate(t, h, testService("a", nodePortType))
	mustCreate(t, h, testService("b", nodePortType))
	_, err := h.BeforeCreate(context.Background(), testService("c", nodePortType))
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a nodePort: range is full") {
		t.Fatalf("exhausted ports: got %v", err)
	}
	// The failed create must not keep the ClusterIP it took first.
	if ips, _ := h.alloc.counts(); ips != 3 {
		t.Errorf("%d addresses held, want 3", ips)
	}
}

func TestRollback(t *testing.T) {
	h := newTestHooks("10.0.0.0/24", [2]int{30000, 32767})
	finish, err := h.BeforeCreate(context.Background(), testService("a", nodePortType))
	if err != nil {
		t.Fatal(err)
	}
	finish(false)
	finish(true) // a second call is ignored
	if ips, ports := h.alloc.counts(); ips != 0 || ports != 0 {
		t.Errorf("after rollback %d addresses and %d ports held", ips, ports)
	}

	old := mustCreate(t, h, testService("b", nodePortType))
	upd := old.DeepCopy()
	upd.Spec.Ports = append(upd.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443})
	defaultService(upd)
	finish, err = h.BeforeUpdate(context.Background(), upd, old)
	if err != nil {
		t.Fatal(err)
	}
	finish(false)
	if ips, ports := h.alloc.counts(); ips != 1 || ports != 1 {
		t.Errorf("after update rollback %d addresses and %d ports held, want 1 and 1", ips, ports)
	}
	// What the old object holds is still its own.
	if _, err := h.BeforeCreate(context.Background(), testService("c", func(s *corev1.Service) { s.Spec.ClusterIP = old.Spec.ClusterIP })); err == nil {
		t.Errorf("rolled-back update released the old object's address")
	}
}

func update(t *testing.T, h *serviceHooks, old *corev1.Service, mutate func(*corev1.Service)) (*corev1.Service, error) {
	t.Helper()
	svc := old.DeepCopy()
	mutate(svc)
	defaultService(svc)
	finish, err := h.BeforeUpdate(context.Background(), svc, old)
	if err != nil {
		return nil, err
	}
	finish(true)
	return svc, nil
}

func TestUpdates(t *testing.T) {
	h := newTestHooks("10.0.0.0/24", [2]int{30000, 32767})
	np := mustCreate(t, h, testService("web", nodePortType))
	ip, port := np.Spec.ClusterIP, np.Spec.Ports[0].NodePort

	// An apply of the original manifest (no clusterIP, no nodePort) keeps
	// what was allocated.
	same, err := update(t, h, np, func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = "", nil, nil, nil
		s.Spec.Ports[0].NodePort = 0
	})
	if err != nil || same.Spec.ClusterIP != ip || same.Spec.Ports[0].NodePort != port {
		t.Fatalf("idempotent update: %v %+v", err, same)
	}

	_, err = update(t, h, same, func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.99"; s.Spec.ClusterIPs = []string{"10.0.0.99"} })
	if c := causeOf(t, err); c.Field != "spec.clusterIPs[0]" || !strings.HasSuffix(c.Message, ": may not change once set") {
		t.Errorf("changing clusterIP: %s %q", c.Field, c.Message)
	}

	// NodePort -> ClusterIP drops the node port on commit.
	cip, err := update(t, h, same, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP })
	if err != nil || cip.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("to ClusterIP: %v %+v", err, cip)
	}
	if _, ports := h.alloc.counts(); ports != 0 {
		t.Errorf("%d node ports held after switching to ClusterIP", ports)
	}
	// ClusterIP -> ExternalName releases the address.
	ext, err := update(t, h, cip, func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "example.com"
	})
	if err != nil || ext.Spec.ClusterIP != "" {
		t.Fatalf("to ExternalName: %v %+v", err, ext)
	}
	if ips, _ := h.alloc.counts(); ips != 0 {
		t.Errorf("%d addresses held after switching to ExternalName", ips)
	}
	// ExternalName -> NodePort allocates both again.
	back, err := update(t, h, ext, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.ExternalName = "" })
	if err != nil || back.Spec.ClusterIP == "" || back.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("to NodePort: %v %+v", err, back)
	}
	if ips, ports := h.alloc.counts(); ips != 1 || ports != 1 {
		t.Errorf("held %d addresses and %d ports, want 1 and 1", ips, ports)
	}
}

func TestRebuild(t *testing.T) {
	h := newTestHooks("10.0.0.0/24", [2]int{30000, 32767})
	stored := []runtime.Object{
		testService("a", func(s *corev1.Service) {
			nodePortType(s)
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.10", []string{"10.0.0.10"}
			s.Spec.Ports[0].NodePort = 30080
		}),
		testService("old-cidr", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.9.0.10", []string{"10.9.0.10"} }),
	}
	if err := h.Rebuild(stored); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	_, err := h.BeforeCreate(context.Background(), testService("b", func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.10" }))
	if c := causeOf(t, err); !strings.Contains(c.Message, "already allocated") {
		t.Errorf("rebuilt address not held: %q", c.Message)
	}
	_, err = h.BeforeCreate(context.Background(), testService("b", func(s *corev1.Service) { nodePortType(s); s.Spec.Ports[0].NodePort = 30080 }))
	if c := causeOf(t, err); !strings.Contains(c.Message, "already allocated") {
		t.Errorf("rebuilt port not held: %q", c.Message)
	}
	// Rebuild replaces, and reports two services claiming one address.
	dup := testService("dup", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.10", []string{"10.0.0.10"} })
	if err := h.Rebuild(append(stored, dup, &corev1.Pod{})); err == nil || !strings.Contains(err.Error(), "also held by default/a") {
		t.Errorf("rebuild with a conflict: %v", err)
	}
	if ips, ports := h.alloc.counts(); ips != 1 || ports != 1 {
		t.Errorf("after rebuild %d addresses and %d ports held, want 1 and 1", ips, ports)
	}
}

func TestConcurrentAllocation(t *testing.T) {
	h := newTestHooks("10.0.0.0/24", [2]int{30000, 30199})
	const n = 100
	var wg sync.WaitGroup
	results := make([]*corev1.Service, n)
	for i := range n {
		wg.Go(func() {
			svc := testService(fmt.Sprintf("s%d", i), nodePortType)
			finish, err := h.BeforeCreate(context.Background(), svc)
			if err != nil {
				t.Errorf("create %d: %v", i, err)
				return
			}
			// Every third write fails after reserving, like a storage
			// conflict would.
			committed := i%3 != 0
			finish(committed)
			if committed {
				results[i] = svc
			}
		})
	}
	wg.Wait()
	ips, ports := map[string]bool{}, map[int32]bool{}
	kept := 0
	for _, svc := range results {
		if svc == nil {
			continue
		}
		kept++
		if ips[svc.Spec.ClusterIP] || ports[svc.Spec.Ports[0].NodePort] {
			t.Errorf("%s got a duplicate: %s %d", svc.Name, svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort)
		}
		ips[svc.Spec.ClusterIP], ports[svc.Spec.Ports[0].NodePort] = true, true
	}
	if gotIPs, gotPorts := h.alloc.counts(); gotIPs != kept || gotPorts != kept {
		t.Errorf("held %d addresses and %d ports for %d services", gotIPs, gotPorts, kept)
	}
}

func TestAllocatorIPv6(t *testing.T) {
	a := newAllocator(netip.MustParsePrefix("fd00:10:96::/108"), defaultNodePortRange)
	ip, err := a.allocateIP("default/x")
	if err != nil || ip.String() != "fd00:10:96::2" || a.family != corev1.IPv6Protocol {
		t.Errorf("first IPv6 allocation = %v, %v", ip, err)
	}
	if err := a.reserveIP("default/y", netip.MustParseAddr("fd00:10:96::f:ffff"), false); err != nil {
		t.Errorf("last address of an IPv6 range: %v", err)
	}
}
