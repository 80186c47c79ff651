package ingress

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
)

// rebuild builds a whole new table from the listers and swaps it in.
// Cost is linear in the served Ingresses and their backends' slices; it
// runs only when Ingresses, classes or referenced Secrets change.
func (c *Controller) rebuild(ctx context.Context) {
	logger := klog.FromContext(ctx)
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Listing IngressClasses")
		return
	}
	ings, err := c.ingresses.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Listing Ingresses")
		return
	}
	cs := ourClasses(classes, c.cfg.ControllerName)
	var served []*networkingv1.Ingress
	for _, ing := range ings {
		if cs.serves(ing) {
			served = append(served, ing)
		}
	}
	sortIngresses(served)
	tb := newTableBuilder()
	for _, ing := range served {
		tb.add(ing)
	}
	t := tb.finish()
	for _, list := range t.backends {
		for _, b := range list {
			b.eps.Store(c.resolve(b))
		}
	}
	certs, errs := buildCertStore(tb.tlsRefs, c.secretCert)
	for _, err := range errs {
		logger.Error(err, "Ingress TLS certificate unusable; serving the default certificate for its hosts")
	}
	t.certs = certs
	for k := range c.certCache {
		if _, ok := t.secrets[k]; !ok {
			delete(c.certCache, k)
		}
	}
	c.table.Store(t)
	c.pool.retain(liveEndpoints(t))
	c.enqueueStatus(t)
	logger.V(2).Info("Ingress routing table rebuilt", "ingresses", len(served), "backends", len(tb.byRef))
}

// secretCert returns a Secret's parsed key pair, parsing each content
// once.
func (c *Controller) secretCert(ns, name string) (*tls.Certificate, error) {
	s, err := c.secrets.Secrets(ns).Get(name)
	if err != nil {
		return nil, fmt.Errorf("get TLS secret %s/%s: %w", ns, name, err)
	}
	key := ns + "/" + name
	crt, pk := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	// Compared by content, not resourceVersion: cheap next to parsing,
	// and right even where resource versions are absent (fake clients).
	if cc, ok := c.certCache[key]; ok && bytes.Equal(cc.crt, crt) && bytes.Equal(cc.key, pk) {
		return cc.cert, cc.err
	}
	cert, err := certFromSecret(s)
	c.certCache[key] = cachedCert{crt: crt, key: pk, cert: cert, err: err}
	return cert, err
}

// resolve maps a backend to its current endpoints: the Service port the
// Ingress names, then that port's number in each EndpointSlice (slices
// name their ports after the Service port, so a named targetPort that
// differs per pod still resolves).
func (c *Controller) resolve(b *backend) *endpointSet {
	svc, err := c.services.Services(b.namespace).Get(b.service)
	if apierrors.IsNotFound(err) {
		return &endpointSet{err: fmt.Sprintf("service %s/%s not found", b.namespace, b.service)}
	}
	if err != nil {
		return &endpointSet{err: fmt.Sprintf("get service %s/%s: %v", b.namespace, b.service, err)}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return &endpointSet{err: fmt.Sprintf("service %s/%s is ExternalName, which the ingress does not proxy", b.namespace, b.service)}
	}
	portName, ok := servicePortName(svc, b.portNumber, b.portName)
	if !ok {
		return &endpointSet{err: fmt.Sprintf("service %s/%s has no port %d%s", b.namespace, b.service, b.portNumber, b.portName)}
	}
	addrs := endpointAddrs(c.slicesOf(b.namespace, b.service), portName)
	set := &endpointSet{list: make([]*endpoint, 0, len(addrs))}
	for _, a := range addrs {
		set.list = append(set.list, c.pool.get(a))
	}
	return set
}

// servicePortName finds the Service port an Ingress backend names, by
// number or by name, and returns its name (possibly "").
func servicePortName(svc *corev1.Service, number int32, name string) (string, bool) {
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if (name != "" && p.Name == name) || (name == "" && p.Port == number) {
			return p.Name, true
		}
	}
	return "", false
}

func (c *Controller) slicesOf(ns, svc string) []*discoveryv1.EndpointSlice {
	if c.sliceIndex != nil {
		objs, err := c.sliceIndex.ByIndex(sliceServiceIndex, ns+"/"+svc)
		if err == nil {
			out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
			for _, o := range objs {
				if s, ok := o.(*discoveryv1.EndpointSlice); ok {
					out = append(out, s)
				}
			}
			return out
		}
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc})
	out, _ := c.slices.EndpointSlices(ns).List(sel)
	return out
}

// endpointAddrs returns the sorted, de-duplicated "ip:port" addresses of
// the ready endpoints serving portName. A ready condition left unset
// counts as ready, as the API documents. When nothing is ready it falls
// back to endpoints that are serving but terminating, as kube-proxy does,
// because a request to a pod still serving beats a certain 503.
func endpointAddrs(slices []*discoveryv1.EndpointSlice, portName string) []string {
	var ready, serving []string
	seen := map[string]bool{}
	for _, s := range slices {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port, ok := slicePort(s, portName)
		if !ok {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			// Consumers use the first address, per the API docs.
			addr := net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(port)))
			if seen[addr] {
				continue
			}
			cond := e.Conditions
			switch {
			case cond.Ready == nil || *cond.Ready:
				seen[addr] = true
				ready = append(ready, addr)
			case cond.Serving != nil && *cond.Serving && cond.Terminating != nil && *cond.Terminating:
				serving = append(serving, addr)
			}
		}
	}
	out := ready
	if len(out) == 0 {
		out = dedupe(serving)
	}
	sort.Strings(out)
	return out
}

func slicePort(s *discoveryv1.EndpointSlice, name string) (int32, bool) {
	for _, p := range s.Ports {
		if p.Port == nil || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) {
			continue
		}
		if (p.Name == nil && name == "") || (p.Name != nil && *p.Name == name) {
			return *p.Port, true
		}
	}
	return 0, false
}

func dedupe(list []string) []string {
	sort.Strings(list)
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// liveEndpoints is every endpoint the table can still pick.
func liveEndpoints(t *table) map[*endpoint]struct{} {
	live := map[*endpoint]struct{}{}
	for _, list := range t.backends {
		for _, b := range list {
			if set := b.eps.Load(); set != nil {
				for _, ep := range set.list {
					live[ep] = struct{}{}
				}
			}
		}
	}
	return live
}
