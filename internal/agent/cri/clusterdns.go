package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/dns"
	"github.com/skiff-sh/skiff/internal/network/cni"
)

// Cluster DNS is served by every real node itself, on its pod bridge's
// gateway address, and published as the kube-system/kube-dns Service
// (k3s's and kubeadm's name and labels, which tools look for) with one
// EndpointSlice per node. Pods reach it through the Service's ClusterIP,
// which the service proxy translates to a gateway.
const (
	DNSServiceName = "kube-dns"
	// DNSSliceManagedBy marks the slices nodes write for kube-dns, which
	// the EndpointSlice controller leaves alone (the Service has no
	// selector).
	DNSSliceManagedBy = "node.skiff.dev"
	dnsPort           = 53
)

// dnsService is kube-system/kube-dns at ips, the cluster DNS addresses.
func dnsService(ips []string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: DNSServiceName, Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", "kubernetes.io/cluster-service": "true"},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP: ips[0], ClusterIPs: ips,
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: dnsPort, TargetPort: intstr.FromInt32(dnsPort)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: dnsPort, TargetPort: intstr.FromInt32(dnsPort)},
			},
		},
	}
	if len(ips) > 1 {
		policy := corev1.IPFamilyPolicyPreferDualStack
		svc.Spec.IPFamilyPolicy = &policy
	}
	return svc
}

// ensureDNSService creates kube-dns when no Service of that name exists.
// An existing one (an earlier start's, another node's, an admin's) is left
// as it is; a ClusterIP other than the one pods are given is reported,
// since their lookups would then go nowhere.
func ensureDNSService(ctx context.Context, client kubernetes.Interface, ips []string, log *slog.Logger) error {
	services := client.CoreV1().Services(metav1.NamespaceSystem)
	svc, err := services.Get(ctx, DNSServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		svc, err = services.Create(ctx, dnsService(ips), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			svc, err = services.Get(ctx, DNSServiceName, metav1.GetOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("ensuring Service kube-system/%s at %s: %w", DNSServiceName, ips[0], err)
	}
	if svc.Spec.ClusterIP != ips[0] {
		log.Warn("Service kube-system/kube-dns has another ClusterIP than --cluster-dns: pods' DNS lookups will fail until they agree",
			"clusterIP", svc.Spec.ClusterIP, "clusterDNS", ips[0])
	}
	return nil
}

// retry runs op with back-off (200ms doubling to 30s) until it succeeds or
// ctx ends, logging each failure: the API server may be briefly away,
// and the node's other work must not wait on this.
func retry(ctx context.Context, log *slog.Logger, what string, op func(context.Context) error) {
	b := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Cap: 30 * time.Second, Steps: math.MaxInt32}
	_ = wait.ExponentialBackoffWithContext(ctx, b, func(ctx context.Context) (bool, error) {
		if err := op(ctx); err != nil {
			if ctx.Err() == nil {
				log.Error(what, "err", err)
			}
			return false, nil
		}
		return true, nil
	})
}

// podGateways are the first addresses of the pod CIDRs, which the CNI
// bridge holds as the pods' default gateway.
func podGateways(podCIDRs string) ([]netip.Addr, error) {
	prefixes, err := cni.ParsePodCIDRs(podCIDRs)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, p := range prefixes {
		out = append(out, p.Masked().Addr().Next())
	}
	return out, nil
}

// listenFreebind binds UDP and TCP on addr:port with IP_FREEBIND, since
// the bridge that will hold the gateway address is created only with the
// first pod's network, after the pod CIDR arrives.
func listenFreebind(ctx context.Context, addr netip.Addr, port uint16) (dns.Listener, error) {
	lc := net.ListenConfig{Control: freebind}
	hostPort := netip.AddrPortFrom(addr, port).String()
	pc, err := lc.ListenPacket(ctx, "udp", hostPort)
	if err != nil {
		return dns.Listener{}, fmt.Errorf("cluster DNS: listening on udp %s: %w", hostPort, err)
	}
	ln, err := lc.Listen(ctx, "tcp", hostPort)
	if err != nil {
		pc.Close()
		return dns.Listener{}, fmt.Errorf("cluster DNS: listening on tcp %s: %w", hostPort, err)
	}
	return dns.Listener{Packet: pc, Stream: ln}, nil
}

func freebind(network, _ string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		if strings.HasSuffix(network, "6") {
			opErr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		} else {
			opErr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}
	})
	return errors.Join(err, opErr)
}

// dnsSlice is the node's EndpointSlice of kube-dns: its gateway, ready.
// The Node owns it, so deleting the Node deletes it.
func dnsSlice(node *corev1.Node, gw netip.Addr) *discoveryv1.EndpointSlice {
	family := discoveryv1.AddressTypeIPv4
	if gw.Is6() {
		family = discoveryv1.AddressTypeIPv6
	}
	yes, no := true, false
	udp, tcp, port := corev1.ProtocolUDP, corev1.ProtocolTCP, int32(dnsPort)
	name, dnsName, tcpName := node.Name, "dns", "dns-tcp"
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: DNSServiceName + "-" + node.Name, Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{discoveryv1.LabelServiceName: DNSServiceName, discoveryv1.LabelManagedBy: DNSSliceManagedBy},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
			}},
		},
		AddressType: family,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{gw.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no},
			NodeName:   &name,
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &dnsName, Protocol: &udp, Port: &port}, {Name: &tcpName, Protocol: &tcp, Port: &port}},
	}
}

// writeDNSSlice creates or rewrites the node's kube-dns slice. It is
// written on every start and left behind when the node stops: a stopped
// node's pods are gone with it, and a deleted Node takes the slice along.
func writeDNSSlice(ctx context.Context, client kubernetes.Interface, nodeName string, gw netip.Addr) error {
	node, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("kube-dns EndpointSlice: reading Node %s: %w", nodeName, err)
	}
	want := dnsSlice(node, gw)
	slices := client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem)
	have, err := slices.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, want, metav1.CreateOptions{})
	case err != nil:
	case have.AddressType != want.AddressType:
		// Immutable: replace it; the next attempt creates it.
		err = slices.Delete(ctx, want.Name, metav1.DeleteOptions{})
		if err == nil {
			err = errors.New("address type changed")
		}
	case !reflect.DeepEqual(have.Endpoints, want.Endpoints) || !reflect.DeepEqual(have.Ports, want.Ports) ||
		!reflect.DeepEqual(have.Labels, want.Labels) || !reflect.DeepEqual(have.OwnerReferences, want.OwnerReferences):
		want.ResourceVersion = have.ResourceVersion
		_, err = slices.Update(ctx, want, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("writing EndpointSlice kube-system/%s: %w", want.Name, err)
	}
	return nil
}

// podCIDRSignal hands the node's first pod CIDR from the runtime's
// OnPodCIDR hook to those serving on its gateway: the DNS server and the
// service proxy. Later calls (the same CIDR, on every status update) are
// dropped: a Node's podCIDR does not change.
type podCIDRSignal struct {
	once sync.Once
	done chan struct{}
	cidr string
}

func newPodCIDRSignal() *podCIDRSignal { return &podCIDRSignal{done: make(chan struct{})} }

func (s *podCIDRSignal) set(cidr string) {
	s.once.Do(func() {
		s.cidr = cidr
		close(s.done)
	})
}

// wait returns the pod CIDR once known, or false when ctx ends first.
func (s *podCIDRSignal) wait(ctx context.Context) (string, bool) {
	select {
	case <-ctx.Done():
		return "", false
	case <-s.done:
		return s.cidr, true
	}
}

// serveClusterDNS waits for the pod CIDR, binds the gateway addresses,
// publishes this node as a kube-dns endpoint and answers until ctx ends.
func serveClusterDNS(ctx context.Context, cfg NodeConfig, srv *dns.Server, podCIDR *podCIDRSignal) error {
	cidr, ok := podCIDR.wait(ctx)
	if !ok {
		return nil
	}
	gateways, err := podGateways(cidr)
	if err != nil {
		return fmt.Errorf("cluster DNS: pod CIDR %q: %w", cidr, err)
	}
	var listeners []dns.Listener
	for _, gw := range gateways {
		l, err := listenFreebind(ctx, gw, dnsPort)
		if err != nil {
			for _, open := range listeners {
				open.Close()
			}
			return err
		}
		listeners = append(listeners, l)
	}
	published := publishedGateway(gateways, cfg.ClusterDNS[0])
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		retry(ctx, cfg.Log, "Publishing the node as a cluster DNS endpoint", func(ctx context.Context) error {
			return writeDNSSlice(ctx, cfg.Client, cfg.NodeName, published)
		})
	})
	cfg.Log.Info("Serving cluster DNS", "addrs", gateways, "domain", srv.Domain(), "clusterIP", cfg.ClusterDNS[0])
	return srv.ServeListeners(ctx, listeners...)
}

// publishedGateway is the gateway of the Service IP's family, which the
// Service's endpoints must share.
func publishedGateway(gateways []netip.Addr, serviceIP string) netip.Addr {
	ip, err := netip.ParseAddr(serviceIP)
	for _, gw := range gateways {
		if err == nil && gw.Is4() == ip.Is4() {
			return gw
		}
	}
	return gateways[0]
}

// reserveDNSService creates kube-dns in the background as the node
// starts, before containerd, so that its ClusterIP is taken before the
// allocator can hand it to another Service. The returned func waits for
// it; ending ctx stops the retries.
func reserveDNSService(ctx context.Context, cfg NodeConfig) (wait func()) {
	var wg sync.WaitGroup
	if cfg.ServeDNS && len(cfg.ClusterDNS) > 0 {
		wg.Go(func() {
			retry(ctx, cfg.Log, "Creating the cluster DNS Service", func(ctx context.Context) error {
				return ensureDNSService(ctx, cfg.Client, cfg.ClusterDNS, cfg.Log)
			})
		})
	}
	return wg.Wait
}
