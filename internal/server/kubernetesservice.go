package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

const (
	// kubernetesServiceName is the Service in the default namespace
	// through which pods reach the API server (KUBERNETES_SERVICE_HOST,
	// kubernetes.default.svc).
	kubernetesServiceName = "kubernetes"
	// kubernetesServicePort is the Service's port, 443 as upstream's:
	// clients in pods connect to https://kubernetes.default.svc.
	kubernetesServicePort = 443
	// kubernetesPortName names the port on the Service, the Endpoints and
	// the EndpointSlice, as upstream does.
	kubernetesPortName = "https"
	// defaultReconcileInterval is upstream's EndpointReconcilerInterval:
	// how often the objects are checked even when no event arrived.
	defaultReconcileInterval = 10 * time.Second
)

// advertiseState says what the kubernetes Service's endpoints should be.
type advertiseState int

const (
	// advertisePending: not known yet (the node's pod CIDR is not
	// assigned); whatever is stored is left alone, as it is most likely
	// what this server published on its last run.
	advertisePending advertiseState = iota
	// advertiseNone: pods cannot reach this server; stored endpoints are
	// removed so clients fail fast instead of dialling a stale address.
	advertiseNone
	// advertiseAddr: publish the address.
	advertiseAddr
)

// kubernetesService keeps Service default/kubernetes, its Endpoints and its
// EndpointSlice as upstream's bootstrap controller and endpoint reconciler
// keep them: recreated when deleted, ports put back when edited. It is the
// only writer of those three objects (the endpoints controllers skip
// services without a selector).
type kubernetesService struct {
	client    kubernetes.Interface
	serviceIP netip.Addr
	// port is the API server's own port: the Service's targetPort and the
	// endpoints' port.
	port     int32
	interval time.Duration
	log      *slog.Logger

	kick chan struct{} // capacity 1: a pending reconcile absorbs more kicks

	mu    sync.Mutex // guards the fields below
	state advertiseState
	addr  netip.Addr
}

func newKubernetesService(client kubernetes.Interface, serviceIP netip.Addr, port int, log *slog.Logger) *kubernetesService {
	return &kubernetesService{
		client: client, serviceIP: serviceIP, port: int32(port),
		interval: defaultReconcileInterval, log: log,
		kick: make(chan struct{}, 1),
	}
}

// setAdvertise changes what the endpoints publish and reconciles soon.
func (k *kubernetesService) setAdvertise(state advertiseState, addr netip.Addr) {
	k.mu.Lock()
	k.state, k.addr = state, addr
	k.mu.Unlock()
	k.trigger()
}

func (k *kubernetesService) advertised() (advertiseState, netip.Addr) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state, k.addr
}

func (k *kubernetesService) trigger() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// Run reconciles at start, on every change to the three objects and every
// interval, until ctx ends. Failures are logged and retried on the next
// tick: the API server keeps serving without the Service.
func (k *kubernetesService) Run(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithNamespace(metav1.NamespaceDefault),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", kubernetesServiceName).String()
		}))
	kick := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { k.trigger() },
		UpdateFunc: func(any, any) { k.trigger() },
		DeleteFunc: func(any) { k.trigger() },
	}
	for _, inf := range []cache.SharedIndexInformer{
		factory.Core().V1().Services().Informer(),
		factory.Core().V1().Endpoints().Informer(),
		factory.Discovery().V1().EndpointSlices().Informer(),
	} {
		if _, err := inf.AddEventHandler(kick); err != nil {
			k.log.Error("Watching the kubernetes Service", "err", err)
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	ticker := time.NewTicker(k.interval)
	defer ticker.Stop()
	k.trigger()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-k.kick:
		}
		if err := k.reconcile(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("Reconciling the kubernetes Service", "err", err)
		}
	}
}

// reconcile makes one pass over the Service and, when the advertise
// address is decided, its endpoints.
func (k *kubernetesService) reconcile(ctx context.Context) error {
	if err := k.ensureService(ctx); err != nil {
		return err
	}
	state, addr := k.advertised()
	switch state {
	case advertiseAddr:
		return errors.Join(k.ensureEndpoints(ctx, addr), k.ensureEndpointSlice(ctx, addr))
	case advertiseNone:
		return k.removeEndpoints(ctx)
	}
	return nil
}

// desiredService is upstream's shape: no selector (the endpoints are the
// API servers, not pods), the first service IP, port 443 to the API
// server's port.
func (k *kubernetesService) desiredService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: kubernetesServiceName, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       k.serviceIP.String(),
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{
				Name: kubernetesPortName, Protocol: corev1.ProtocolTCP,
				Port: kubernetesServicePort, TargetPort: intstr.FromInt32(k.port),
			}},
		},
	}
}

// ensureService creates the Service, or puts back its ports, type and
// labels. Like upstream it leaves everything else a user changed alone,
// and cannot fix a ClusterIP from another --service-cidr (the field is
// immutable): that is logged for the operator, who deletes the Service.
func (k *kubernetesService) ensureService(ctx context.Context) error {
	want := k.desiredService()
	services := k.client.CoreV1().Services(metav1.NamespaceDefault)
	cur, err := services.Get(ctx, kubernetesServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = services.Create(ctx, want, metav1.CreateOptions{})
		if err == nil {
			k.log.Info("Created the kubernetes Service", "clusterIP", want.Spec.ClusterIP)
		}
		if apierrors.IsAlreadyExists(err) {
			k.trigger() // raced with another writer: look again
			return nil
		}
		return wrapServiceErr("creating", err)
	}
	if err != nil {
		return wrapServiceErr("reading", err)
	}
	if cur.Spec.ClusterIP != want.Spec.ClusterIP {
		k.log.Warn("The kubernetes Service has another ClusterIP than the first address of --service-cidr; delete it to have it recreated",
			"clusterIP", cur.Spec.ClusterIP, "want", want.Spec.ClusterIP)
	}
	upd := cur.DeepCopy()
	upd.Spec.Ports, upd.Spec.Type = want.Spec.Ports, want.Spec.Type
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	for key, v := range want.Labels {
		upd.Labels[key] = v
	}
	if apiequality.Semantic.DeepEqual(cur.Spec.Ports, upd.Spec.Ports) && cur.Spec.Type == upd.Spec.Type &&
		apiequality.Semantic.DeepEqual(cur.Labels, upd.Labels) {
		return nil
	}
	_, err = services.Update(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		k.trigger()
		return nil
	}
	return wrapServiceErr("updating", err)
}

func wrapServiceErr(verb string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s Service %s/%s: %w", verb, metav1.NamespaceDefault, kubernetesServiceName, err)
}

// endpointPort is the one port the endpoints publish.
func (k *kubernetesService) endpointPort() corev1.EndpointPort {
	return corev1.EndpointPort{Name: kubernetesPortName, Port: k.port, Protocol: corev1.ProtocolTCP}
}

// addressType is the EndpointSlice family, the Service IP's: a Service of
// one family cannot use endpoints of the other.
func (k *kubernetesService) addressType() discoveryv1.AddressType {
	if k.serviceIP.Is6() {
		return discoveryv1.AddressTypeIPv6
	}
	return discoveryv1.AddressTypeIPv4
}
