package ingress

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRoutesTo: an endpoint is routed to while its slice lists it ready,
// and not once the slice marks it terminating.
func TestRoutesTo(t *testing.T) {
	slices := endpointSlices("web", "http", sliceEP{8080, true})
	e := startEnv(t, service("web", svcPort("http", 80)),
		ingressOf("web", rule("a.example.com", pathOf("/", networkingv1.PathTypePrefix, "web", port80))), slices[0])
	eventually(t, "the endpoint to be routed to", func() bool { return e.ctrl.RoutesTo("127.0.0.1") })
	if e.ctrl.RoutesTo("127.0.0.2") {
		t.Error("RoutesTo reports an address no slice lists")
	}
	gone := endpointSlices("web", "http", sliceEP{8080, false})[0]
	if _, err := e.client.DiscoveryV1().EndpointSlices(ns).Update(context.Background(), gone, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the terminating endpoint to leave the routes", func() bool { return !e.ctrl.RoutesTo("127.0.0.1") })
}
