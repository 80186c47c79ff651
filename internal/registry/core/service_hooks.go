package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// serviceHooks reserves ClusterIPs and NodePorts around service writes.
type serviceHooks struct {
	alloc *allocator
	// unnamed numbers services written before they have a name, so two
	// of them never share an owner key.
	unnamed atomic.Uint64
}

var _ registry.WriteHooks = (*serviceHooks)(nil)

func newServiceHooks(a *allocator) *serviceHooks {
	return &serviceHooks{alloc: a}
}

func (h *serviceHooks) ownerKey(svc *corev1.Service) string {
	if svc.Name == "" {
		return fmt.Sprintf("%s/<unnamed-%d>", svc.Namespace, h.unnamed.Add(1))
	}
	return svc.Namespace + "/" + svc.Name
}

func invalidService(svc *corev1.Service, errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, errs)
}

// holdings is what one stored service holds, each resource once.
type holdings struct {
	ips   []netip.Addr
	ports []int
}

func holdingsOf(svc *corev1.Service) holdings {
	var hs holdings
	if svc == nil {
		return hs
	}
	if needsClusterIP(svc) {
		for _, s := range svc.Spec.ClusterIPs {
			if ip, err := netip.ParseAddr(s); err == nil && !slices.Contains(hs.ips, ip.Unmap()) {
				hs.ips = append(hs.ips, ip.Unmap())
			}
		}
	}
	for _, p := range nodePortsOf(svc) {
		hs.ports = append(hs.ports, int(p))
	}
	return hs
}

func (h *serviceHooks) release(hs holdings) {
	for _, ip := range hs.ips {
		h.alloc.releaseIP(ip)
	}
	for _, p := range hs.ports {
		h.alloc.releasePort(p)
	}
}

// txn is one write's reservations: held until the write commits, released
// if it does not.
type txn struct {
	hooks     *serviceHooks
	owner     string
	inherited holdings // what the replaced object holds
	taken     holdings
	once      sync.Once
}

// finish is the callback handed to the API server.
func (t *txn) finish(committed bool) {
	t.once.Do(func() {
		if committed {
			t.hooks.release(t.inherited)
		} else {
			t.hooks.release(t.taken)
		}
	})
}

func (h *serviceHooks) BeforeCreate(_ context.Context, obj runtime.Object) (func(bool), error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("service allocation: expected *v1.Service, got %T", obj))
	}
	normalizeClusterIPs(svc, nil)
	return h.begin(svc, nil)
}

func (h *serviceHooks) BeforeUpdate(_ context.Context, obj, old runtime.Object) (func(bool), error) {
	svc, ok1 := obj.(*corev1.Service)
	oldSvc, ok2 := old.(*corev1.Service)
	if !ok1 || !ok2 {
		return nil, apierrors.NewInternalError(fmt.Errorf("service allocation: expected *v1.Service, got %T and %T", obj, old))
	}
	// The hook may run before PrepareForUpdate; the fix-ups are idempotent
	// and must precede allocation (a client that omits clusterIP keeps it).
	prepareServiceUpdate(svc, oldSvc)
	return h.begin(svc, oldSvc)
}

func (h *serviceHooks) begin(svc, old *corev1.Service) (func(bool), error) {
	t := &txn{hooks: h, owner: h.ownerKey(svc), inherited: holdingsOf(old)}
	if err := h.allocate(svc, old, t); err != nil {
		t.finish(false)
		return nil, err
	}
	return t.finish, nil
}

func (h *serviceHooks) AfterDelete(obj runtime.Object) {
	if svc, ok := obj.(*corev1.Service); ok {
		h.release(holdingsOf(svc))
	}
}

// Rebuild re-reserves what stored services hold. Addresses outside the
// current range (the CIDR changed) are skipped; two services claiming the
// same resource are reported, the first keeping it.
func (h *serviceHooks) Rebuild(objs []runtime.Object) error {
	h.alloc.reset()
	var errs []error
	for _, obj := range objs {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			errs = append(errs, fmt.Errorf("rebuild service allocations: unexpected %T", obj))
			continue
		}
		owner := h.ownerKey(svc)
		hs := holdingsOf(svc)
		for _, ip := range hs.ips {
			if holder := h.alloc.ipHolder(ip); holder != "" && holder != owner {
				errs = append(errs, fmt.Errorf("service %s: cluster IP %s is also held by %s", owner, ip, holder))
				continue
			}
			// Stored data wins over the kubernetes reservation: inherit.
			_ = h.alloc.reserveIP(owner, ip, true)
		}
		for _, p := range hs.ports {
			if holder := h.alloc.portHolder(p); holder != "" && holder != owner {
				errs = append(errs, fmt.Errorf("service %s: node port %d is also held by %s", owner, p, holder))
				continue
			}
			_ = h.alloc.reservePort(owner, p, true)
		}
	}
	return errors.Join(errs...)
}

func (h *serviceHooks) allocate(svc, old *corev1.Service, t *txn) error {
	if errs := validateClusterIPsRelatedFields(svc); len(errs) > 0 {
		return invalidService(svc, errs)
	}
	if needsClusterIP(svc) {
		if errs := h.initIPFamilies(svc, old); len(errs) > 0 {
			return invalidService(svc, errs)
		}
		if err := h.allocClusterIPs(svc, old, t); err != nil {
			return err
		}
	}
	return h.allocNodePorts(svc, t)
}

func (h *serviceHooks) allocClusterIPs(svc, old *corev1.Service, t *txn) error {
	spec := &svc.Spec
	ipsPath := specPath.Child("clusterIPs")
	if old != nil && needsClusterIP(old) && len(old.Spec.ClusterIPs) > 0 && len(spec.ClusterIPs) > 0 &&
		spec.ClusterIPs[0] != old.Spec.ClusterIPs[0] {
		return invalidService(svc, field.ErrorList{field.Invalid(ipsPath.Index(0), spec.ClusterIPs, "may not change once set")})
	}
	if isHeadless(svc) {
		spec.ClusterIPs = []string{corev1.ClusterIPNone}
		return nil
	}
	if len(spec.ClusterIPs) == 0 {
		ip, err := h.alloc.allocateIP(t.owner)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %w", err))
		}
		t.taken.ips = append(t.taken.ips, ip)
		spec.ClusterIP = ip.String()
		spec.ClusterIPs = []string{spec.ClusterIP}
		return nil
	}
	for _, s := range spec.ClusterIPs {
		ip, err := netip.ParseAddr(s)
		if err == nil {
			ip = ip.Unmap()
			err = h.alloc.reserveIP(t.owner, ip, slices.Contains(t.inherited.ips, ip))
		}
		if err != nil {
			return invalidService(svc, field.ErrorList{field.Invalid(ipsPath, spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %v: %v", s, err))})
		}
		t.taken.ips = append(t.taken.ips, ip)
	}
	return nil
}

// allocNodePorts gives each port of a NodePort (or LoadBalancer) service a
// node port, honouring requested ones. Ports that share a number but not a
// protocol (DNS on 53/TCP and 53/UDP) share one node port, as upstream.
func (h *serviceHooks) allocNodePorts(svc *corev1.Service, t *txn) error {
	auto := needsNodePorts(svc)
	byPort := map[int32]int32{}
	ports := svc.Spec.Ports
	for i := range ports {
		p := &ports[i]
		if p.NodePort == 0 && !auto {
			continue
		}
		if np, ok := byPort[p.Port]; ok && (p.NodePort == 0 || p.NodePort == np) {
			p.NodePort = np
			continue
		}
		if p.NodePort == 0 {
			p.NodePort = requestedNodePort(p.Port, ports)
		}
		if err := h.takeNodePort(svc, p, i, t); err != nil {
			return err
		}
		byPort[p.Port] = p.NodePort
	}
	return nil
}

func (h *serviceHooks) takeNodePort(svc *corev1.Service, p *corev1.ServicePort, i int, t *txn) error {
	if p.NodePort == 0 {
		np, err := h.alloc.allocatePort(t.owner)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
		}
		p.NodePort = int32(np)
		t.taken.ports = append(t.taken.ports, np)
		return nil
	}
	np := int(p.NodePort)
	if slices.Contains(t.taken.ports, np) {
		return nil // another port of this service already took it
	}
	if err := h.alloc.reservePort(t.owner, np, slices.Contains(t.inherited.ports, np)); err != nil {
		fld := specPath.Child("ports").Index(i).Child("nodePort")
		return invalidService(svc, field.ErrorList{field.Invalid(fld, p.NodePort, err.Error())})
	}
	t.taken.ports = append(t.taken.ports, np)
	return nil
}

// requestedNodePort finds a node port the user asked for on another entry
// with the same service port number.
func requestedNodePort(port int32, ports []corev1.ServicePort) int32 {
	for _, p := range ports {
		if p.Port == port && p.NodePort != 0 {
			return p.NodePort
		}
	}
	return 0
}

// initIPFamilies fills ipFamilies and ipFamilyPolicy for Skiff's
// single-stack service range, with upstream's rules and messages.
func (h *serviceHooks) initIPFamilies(svc, old *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	fam := h.alloc.family
	policyPath := specPath.Child("ipFamilyPolicy")
	selectorlessHeadless := isHeadless(svc) && len(spec.Selector) == 0
	if spec.IPFamilyPolicy == nil {
		switch {
		case old != nil && old.Spec.IPFamilyPolicy != nil:
			// An update that leaves the policy out keeps it.
			spec.IPFamilyPolicy = ptrTo(*old.Spec.IPFamilyPolicy)
		case selectorlessHeadless:
			// No IPs of its own; its endpoints may be of any family.
			spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack)
		default:
			spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
		}
	}
	policy := *spec.IPFamilyPolicy
	var errs field.ErrorList
	if policy == corev1.IPFamilyPolicySingleStack && len(spec.ClusterIPs) == 2 {
		errs = append(errs, field.Invalid(policyPath, policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
	}
	if policy == corev1.IPFamilyPolicySingleStack && len(spec.IPFamilies) == 2 {
		errs = append(errs, field.Invalid(policyPath, policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
	}
	for i, ip := range spec.ClusterIPs {
		if ip == corev1.ClusterIPNone || i < len(spec.IPFamilies) {
			continue
		}
		if f := familyOf(ip); f != fam {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(i), spec.ClusterIPs, fmt.Sprintf("%s is not configured on this cluster", f)))
		} else {
			spec.IPFamilies = append(spec.IPFamilies, f)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if selectorlessHeadless {
		// The one case where a single-stack cluster lists both families.
		if len(spec.IPFamilies) == 0 {
			spec.IPFamilies = []corev1.IPFamily{fam}
		}
		if len(spec.IPFamilies) < 2 && policy != corev1.IPFamilyPolicySingleStack {
			spec.IPFamilies = append(spec.IPFamilies, otherFamily(spec.IPFamilies[0]))
		}
		return nil
	}
	if policy == corev1.IPFamilyPolicyRequireDualStack {
		errs = append(errs, field.Invalid(policyPath, policy, "this cluster is not configured for dual-stack services"))
	}
	for i, f := range spec.IPFamilies {
		if f != fam {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilies").Index(i), f, "not configured on this cluster"))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if len(spec.IPFamilies) == 0 {
		spec.IPFamilies = []corev1.IPFamily{fam}
	}
	return nil
}

func otherFamily(f corev1.IPFamily) corev1.IPFamily {
	if f == corev1.IPv4Protocol {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}
