package server

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// desiredEndpoints is upstream's shape: one subset with this server's
// address, and the skip-mirror label so an EndpointSlice mirroring
// controller leaves it to us (we write the slice ourselves).
func (k *kubernetesService) desiredEndpoints(addr netip.Addr) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Name: kubernetesServiceName, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"},
		},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr.String()}},
			Ports:     []corev1.EndpointPort{k.endpointPort()},
		}},
	}
}

// desiredEndpointSlice is upstream's shape: named after the Service, only
// the service-name label (upstream's reconciler sets no managed-by label,
// which also keeps the endpointslice controller's hands off it), one ready
// endpoint.
func (k *kubernetesService) desiredEndpointSlice(addr netip.Addr) *discoveryv1.EndpointSlice {
	p := k.endpointPort()
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: kubernetesServiceName, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: kubernetesServiceName},
		},
		AddressType: k.addressType(),
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To(p.Name), Port: ptr.To(p.Port), Protocol: ptr.To(p.Protocol)}},
	}
}

// ensureEndpoints writes the Endpoints when its subsets or labels differ.
func (k *kubernetesService) ensureEndpoints(ctx context.Context, addr netip.Addr) error {
	want := k.desiredEndpoints(addr)
	client := k.client.CoreV1().Endpoints(metav1.NamespaceDefault)
	cur, err := client.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
	case err != nil:
	case apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) && apiequality.Semantic.DeepEqual(cur.Labels, want.Labels):
		return nil
	default:
		upd := cur.DeepCopy()
		upd.Subsets, upd.Labels = want.Subsets, want.Labels
		_, err = client.Update(ctx, upd, metav1.UpdateOptions{})
	}
	return k.writeResult("Endpoints", err)
}

// ensureEndpointSlice writes the slice when it differs, and deletes other
// slices labelled for the kubernetes Service (another family's, or one
// left by an older server), as upstream's adapter does.
func (k *kubernetesService) ensureEndpointSlice(ctx context.Context, addr netip.Addr) error {
	want := k.desiredEndpointSlice(addr)
	client := k.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	list, err := client.List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: kubernetesServiceName}).String()})
	if err != nil {
		return fmt.Errorf("listing EndpointSlices of the kubernetes Service: %w", err)
	}
	var cur *discoveryv1.EndpointSlice
	for i := range list.Items {
		s := &list.Items[i]
		if s.Name == want.Name && s.AddressType == want.AddressType {
			cur = s
			continue
		}
		if err := client.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting stale EndpointSlice %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	switch {
	case cur == nil:
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
	case apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) && apiequality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		apiequality.Semantic.DeepEqual(cur.Labels, want.Labels):
		return nil
	default:
		upd := cur.DeepCopy()
		upd.Endpoints, upd.Ports, upd.Labels = want.Endpoints, want.Ports, want.Labels
		_, err = client.Update(ctx, upd, metav1.UpdateOptions{})
	}
	return k.writeResult("EndpointSlice", err)
}

// writeResult turns a lost race (another writer created or updated the
// object between our read and write) into another pass, and wraps the rest.
func (k *kubernetesService) writeResult(kind string, err error) error {
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		k.trigger()
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing %s %s/%s: %w", kind, metav1.NamespaceDefault, kubernetesServiceName, err)
	}
	return nil
}

// removeEndpoints deletes the Endpoints and EndpointSlice: this server is
// the only API server, so when pods cannot reach it the Service has no
// endpoints at all.
func (k *kubernetesService) removeEndpoints(ctx context.Context) error {
	err := k.client.CoreV1().Endpoints(metav1.NamespaceDefault).Delete(ctx, kubernetesServiceName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Endpoints %s/%s: %w", metav1.NamespaceDefault, kubernetesServiceName, err)
	}
	err = k.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: kubernetesServiceName}).String()})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting EndpointSlices of %s/%s: %w", metav1.NamespaceDefault, kubernetesServiceName, err)
	}
	return nil
}
