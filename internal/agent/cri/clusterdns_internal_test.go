package cri

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestPodGateways: the gateway is the first address of each pod CIDR, and
// the slice publishes the one of the Service's family.
func TestPodGateways(t *testing.T) {
	gws, err := podGateways("10.42.3.0/24,fd00:42:0:3::/64")
	if err != nil || len(gws) != 2 || gws[0].String() != "10.42.3.1" || gws[1].String() != "fd00:42:0:3::1" {
		t.Fatalf("podGateways = %v, %v", gws, err)
	}
	if got := publishedGateway(gws, "fd00:43::a"); got != gws[1] {
		t.Errorf("published for an IPv6 Service = %v", got)
	}
	if got := publishedGateway(gws, "10.43.0.10"); got != gws[0] {
		t.Errorf("published for an IPv4 Service = %v", got)
	}
}

// TestDNSServiceAndSlice: kube-dns is created once and an existing one is
// left alone; the node's slice is created, rewritten when its gateway
// changes, and left alone when it is right.
func TestDNSServiceAndSlice(t *testing.T) {
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "uid-1"}}
	client := fake.NewClientset(node)
	for range 2 {
		if err := ensureDNSService(ctx, client, []string{"10.43.0.10"}, slog.Default()); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != "10.43.0.10" || svc.Spec.Selector != nil || svc.Spec.Ports[0].Name != "dns" || svc.Spec.Ports[1].Protocol != corev1.ProtocolTCP {
		t.Fatalf("kube-dns = %+v, %v", svc, err)
	}
	for _, gw := range []string{"10.42.0.1", "10.42.0.1", "10.42.7.1"} {
		if err := writeDNSSlice(ctx, client, "n1", netip.MustParseAddr(gw)); err != nil {
			t.Fatal(err)
		}
		es, err := client.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-n1", metav1.GetOptions{})
		if err != nil || es.Endpoints[0].Addresses[0] != gw || *es.Endpoints[0].NodeName != "n1" || !*es.Endpoints[0].Conditions.Ready ||
			es.Labels["kubernetes.io/service-name"] != "kube-dns" || es.OwnerReferences[0].UID != "uid-1" {
			t.Fatalf("slice after writing %s = %+v, %v", gw, es, err)
		}
	}
	writes := 0
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "endpointslices" && (a.GetVerb() == "create" || a.GetVerb() == "update") {
			writes++
		}
	}
	if writes != 2 {
		t.Errorf("%d slice writes, want 2 (create, then the changed gateway)", writes)
	}
}
