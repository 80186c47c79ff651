package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/knftables"
)

const testNode = "node-a"

// svcOpt adjusts a test Service.
type svcOpt func(*v1.Service)

func service(ns, name, clusterIP string, ports []v1.ServicePort, opts ...svcOpt) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.ServiceSpec{
			Type: v1.ServiceTypeClusterIP, ClusterIP: clusterIP, ClusterIPs: []string{clusterIP},
			Ports: ports, IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func tcpPort(name string, port, target int32) v1.ServicePort {
	return v1.ServicePort{Name: name, Protocol: v1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(target)}
}

// ep describes one test endpoint; conditions default to ready.
type ep struct {
	ip          string
	node        string
	notReady    bool
	serving     bool
	terminating bool
}

func slice(ns, svc, name string, ports map[string]int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for pn, port := range ports {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr(pn), Port: ptr(port), Protocol: ptr(v1.ProtocolTCP)})
	}
	for _, e := range eps {
		node := e.node
		if node == "" {
			node = testNode
		}
		c := discoveryv1.EndpointConditions{Ready: ptr(!e.notReady)}
		if e.notReady {
			c.Serving, c.Terminating = ptr(e.serving), ptr(e.terminating)
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, NodeName: ptr(node), Conditions: c})
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// harness is a Proxier on a fake clientset and a fake nftables.
type harness struct {
	t      *testing.T
	client *fake.Clientset
	nft    *knftables.Fake
	ct     *fakeConntrack
	p      *Proxier
	inf    informers.SharedInformerFactory
}

func newHarness(t *testing.T, objs ...any) *harness {
	t.Helper()
	return newHarnessWith(t, func(*Config) {}, objs...)
}

// newHarnessWith lets a test adjust the Config before New.
func newHarnessWith(t *testing.T, adjust func(*Config), objs ...any) *harness {
	t.Helper()
	h := &harness{t: t, client: fake.NewClientset(), nft: knftables.NewFake(knftables.IPv4Family, DefaultTableName), ct: &fakeConntrack{}}
	h.inf = informers.NewSharedInformerFactory(h.client, 0)
	cfg := Config{
		NodeName:       testNode,
		NodeIPs:        []netip.Addr{netip.MustParseAddr("192.168.1.10")},
		BridgeGateways: []netip.Addr{netip.MustParseAddr("10.244.0.1")},
		ClusterCIDRs:   []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		ServiceCIDRs:   []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")},
		Client:         h.client,
		Informers:      h.inf,
		Conntrack:      h.ct,
		NewNFT:         func(knftables.Family, string) (knftables.Interface, error) { return h.nft, nil },
	}
	adjust(&cfg)
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.inf.Start(ctx.Done())
	h.inf.WaitForCacheSync(ctx.Done())
	for _, o := range objs {
		h.create(o)
	}
	h.sync()
	return h
}

// create writes an object through the clientset and waits until the
// informer has it, so a following sync sees it.
func (h *harness) create(o any) {
	h.t.Helper()
	ctx := context.Background()
	var err error
	switch o := o.(type) {
	case *v1.Service:
		_, err = h.client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *discoveryv1.EndpointSlice:
		_, err = h.client.DiscoveryV1().EndpointSlices(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.waitFor(o, true)
}

func (h *harness) waitFor(o any, present bool) {
	h.t.Helper()
	var inf cache.SharedIndexInformer
	var key string
	switch o := o.(type) {
	case *v1.Service:
		inf, key = h.inf.Core().V1().Services().Informer(), o.Namespace+"/"+o.Name
	case *discoveryv1.EndpointSlice:
		inf, key = h.inf.Discovery().V1().EndpointSlices().Informer(), o.Namespace+"/"+o.Name
	}
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		_, exists, _ := inf.GetStore().GetByKey(key)
		return exists == present, nil
	})
	if err != nil {
		h.t.Fatalf("informer never saw %s (present=%v)", key, present)
	}
}

func (h *harness) sync() {
	h.t.Helper()
	if err := h.p.syncOnce(context.Background()); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
}

// rules returns the rules of a chain, failing if it does not exist.
func (h *harness) rules(chain string) []string {
	h.t.Helper()
	c := h.nft.Table.Chains[chain]
	if c == nil {
		h.t.Fatalf("chain %q missing; table:\n%s", chain, h.nft.Dump())
	}
	var out []string
	for _, r := range c.Rules {
		out = append(out, r.Rule)
	}
	return out
}

func (h *harness) hasChain(chain string) bool { return h.nft.Table.Chains[chain] != nil }

// mapValue returns the value of a map element, "" when absent.
func (h *harness) mapValue(m string, key ...string) string {
	e := h.nft.Table.Maps[m].FindElement(key...)
	if e == nil {
		return ""
	}
	return strings.Join(e.Value, " ")
}

func (h *harness) inSet(set string, key ...string) bool {
	return h.nft.Table.Sets[set].FindElement(key...) != nil
}

// serviceChains lists the per-service chains (everything but the base).
func (h *harness) serviceChains() []string {
	var out []string
	for name := range h.nft.Table.Chains {
		if !isBaseObject(name) {
			out = append(out, name)
		}
	}
	return out
}

func epChain(svcPort, addrPort string) string {
	return chainName("endpoint", fmt.Sprintf("%s__%s", svcPort, addrPort))
}

// fakeConntrack counts the filters the proxy asks to delete.
type fakeConntrack struct{ filters int }

func (f *fakeConntrack) ConntrackDeleteFilters(_ netlink.ConntrackTableType, _ netlink.InetFamily, filters ...netlink.CustomConntrackFilter) (uint, error) {
	f.filters += len(filters)
	return 0, nil
}

// updateSlice writes s and waits until the informer holds its endpoints and
// its Service is marked dirty, so that the next sync sees the change.
// Waiting for the informer first matters: a dirty mark left by an earlier
// event (the handlers run after the informer's store is updated, so a
// creation's mark can arrive after the harness's first sync) would
// otherwise let the sync run before the change arrives.
func (h *harness) updateSlice(s *discoveryv1.EndpointSlice) {
	h.t.Helper()
	if _, err := h.client.DiscoveryV1().EndpointSlices(s.Namespace).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
	inf := h.inf.Discovery().V1().EndpointSlices().Informer()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		o, ok, _ := inf.GetStore().GetByKey(s.Namespace + "/" + s.Name)
		return ok && equality.Semantic.DeepEqual(o.(*discoveryv1.EndpointSlice).Endpoints, s.Endpoints), nil
	})
	if err != nil {
		h.t.Fatalf("informer never saw the update of %s/%s", s.Namespace, s.Name)
	}
	h.waitDirty(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
}

// remove deletes a Service or an EndpointSlice and, as updateSlice does,
// waits until the informer no longer holds it and its Service is dirty.
func (h *harness) remove(o any) {
	h.t.Helper()
	ctx := context.Background()
	var err error
	var key string
	switch o := o.(type) {
	case *v1.Service:
		err = h.client.CoreV1().Services(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
		key = o.Namespace + "/" + o.Name
	case *discoveryv1.EndpointSlice:
		err = h.client.DiscoveryV1().EndpointSlices(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
		key = o.Namespace + "/" + o.Labels[discoveryv1.LabelServiceName]
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.waitFor(o, false)
	h.waitDirty(key)
}
