package core

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/internal/registry"
)

func serviceResource(cfg Config) registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("services"),
		Kind:       "Service",
		Singular:   "service",
		ShortNames: []string{"svc"},
		Categories: []string{"all"},
		Namespaced: true,
		HasStatus:  true,
		Strategy: registry.Strategy{
			Default:              defaulter(defaultService),
			PrepareForCreate:     defaulter(prepareServiceForCreate),
			PrepareForUpdate:     updater(prepareServiceUpdate),
			Validate:             validator(validateService),
			ValidateUpdate:       updateValidator(validateServiceUpdate),
			ValidateStatusUpdate: updateValidator(validateServiceStatusUpdate),
			Columns:              serviceColumns(),
			Row:                  rower(serviceRow),
			Fields: fielder(func(s *corev1.Service) fields.Set {
				return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
			}),
			Hooks: newServiceHooks(newAllocator(cfg.ServiceCIDR, cfg.NodePortRange)),
		},
	}
}

// defaultService is upstream's SetDefaults_Service. IP families and
// ClusterIPs are filled by the allocation hooks, which know the cluster.
func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		if c := spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(corev1.DefaultClientIPServiceAffinitySeconds)},
			}
		}
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(svc) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	switch spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		if spec.InternalTrafficPolicy == nil {
			spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyCluster)
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		if spec.AllocateLoadBalancerNodePorts == nil {
			spec.AllocateLoadBalancerNodePorts = ptrTo(true)
		}
		for i, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IP != "" && ing.IPMode == nil {
				svc.Status.LoadBalancer.Ingress[i].IPMode = ptrTo(corev1.LoadBalancerIPModeVIP)
			}
		}
	}
}

// externallyAccessible: reachable from outside the cluster, so
// externalTrafficPolicy applies.
func externallyAccessible(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeClusterIP:
		return len(svc.Spec.ExternalIPs) > 0
	}
	return false
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName
}

// needsNodePorts: the service should get a node port on every port.
func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

func prepareServiceForCreate(svc *corev1.Service) {
	svc.Status = corev1.ServiceStatus{}
	normalizeClusterIPs(svc, nil)
}

// normalizeClusterIPs keeps clusterIP and clusterIPs in step, so clients
// may set either; it guesses what the user meant from what changed.
func normalizeClusterIPs(svc, old *corev1.Service) {
	spec := &svc.Spec
	if old == nil {
		if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
			spec.ClusterIPs = []string{spec.ClusterIP}
		}
		return
	}
	sameIPs := slices.Equal(spec.ClusterIPs, old.Spec.ClusterIPs)
	switch {
	case spec.ClusterIP == "" && sameIPs:
		// clusterIP cleared, clusterIPs untouched: clear both.
		spec.ClusterIPs = nil
	case len(spec.ClusterIPs) == 0 && spec.ClusterIP == old.Spec.ClusterIP && spec.ClusterIP != "":
		// clusterIPs cleared, clusterIP untouched: keep the primary.
		spec.ClusterIPs = []string{spec.ClusterIP}
	case spec.ClusterIP != old.Spec.ClusterIP && sameIPs && len(spec.ClusterIPs) > 0:
		// clusterIP changed alone: follow it (validation rejects most).
		spec.ClusterIPs = append([]string{spec.ClusterIP}, spec.ClusterIPs[1:]...)
	case spec.ClusterIP != "" && len(spec.ClusterIPs) == 0:
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
}

// prepareServiceUpdate runs, in upstream's order, the fix-ups of an update:
// drop what the new type no longer uses, restore allocated values the
// client left out (kubectl apply of a manifest without clusterIP or
// nodePort), then sync clusterIP and clusterIPs. It is idempotent: both
// PrepareForUpdate and the allocation hook call it.
func prepareServiceUpdate(svc, old *corev1.Service) {
	dropTypeDependentFields(svc, old)
	patchAllocatedValues(svc, old)
	normalizeClusterIPs(svc, old)
}

func dropTypeDependentFields(svc, old *corev1.Service) {
	if needsClusterIP(old) && !needsClusterIP(svc) {
		if svc.Spec.ClusterIP == old.Spec.ClusterIP && slices.Equal(svc.Spec.ClusterIPs, old.Spec.ClusterIPs) {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		}
		if slices.Equal(svc.Spec.IPFamilies, old.Spec.IPFamilies) {
			svc.Spec.IPFamilies = nil
		}
		if equalPtr(svc.Spec.IPFamilyPolicy, old.Spec.IPFamilyPolicy) {
			svc.Spec.IPFamilyPolicy = nil
		}
	}
	if needsNodePorts(old) && !needsNodePorts(svc) && slices.Equal(nodePortsOf(svc), nodePortsOf(old)) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if equalPtr(svc.Spec.AllocateLoadBalancerNodePorts, old.Spec.AllocateLoadBalancerNodePorts) {
			svc.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if equalPtr(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
			svc.Spec.LoadBalancerClass = nil
		}
	}
	if externallyAccessible(old) && !externallyAccessible(svc) && svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func patchAllocatedValues(svc, old *corev1.Service) {
	if needsClusterIP(old) && needsClusterIP(svc) {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
		}
		if len(svc.Spec.ClusterIPs) == 0 && len(old.Spec.ClusterIPs) > 0 {
			svc.Spec.ClusterIPs = slices.Clone(old.Spec.ClusterIPs)
		}
		if len(svc.Spec.IPFamilies) == 0 && slices.Equal(svc.Spec.ClusterIPs, old.Spec.ClusterIPs) {
			svc.Spec.IPFamilies = slices.Clone(old.Spec.IPFamilies)
			if svc.Spec.IPFamilyPolicy == nil && old.Spec.IPFamilyPolicy != nil {
				svc.Spec.IPFamilyPolicy = ptrTo(*old.Spec.IPFamilyPolicy)
			}
		}
	}
	if !needsNodePorts(old) || !needsNodePorts(svc) {
		return
	}
	// Ports match by (port, protocol): the user may have renamed them. A
	// node port the new spec already uses elsewhere is not patched in twice.
	type key struct {
		port  int32
		proto corev1.Protocol
	}
	prev := map[key]int32{}
	for _, p := range old.Spec.Ports {
		prev[key{p.Port, p.Protocol}] = p.NodePort
	}
	used := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		used[p.NodePort] = true
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if np := prev[key{p.Port, p.Protocol}]; p.NodePort == 0 && np != 0 && !used[np] {
			p.NodePort = np
		}
	}
}

// nodePortsOf returns the distinct node ports a service holds, sorted.
func nodePortsOf(svc *corev1.Service) []int32 {
	var ports []int32
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 && !slices.Contains(ports, p.NodePort) {
			ports = append(ports, p.NodePort)
		}
	}
	slices.Sort(ports)
	return ports
}

func serviceColumns() []metav1.TableColumnDefinition {
	doc := corev1.ServiceSpec{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Type", Type: "string", Description: doc["type"]},
		{Name: "Cluster-IP", Type: "string", Description: doc["clusterIP"]},
		{Name: "External-IP", Type: "string", Description: doc["externalIPs"]},
		{Name: "Port(s)", Type: "string", Description: doc["ports"]},
		ageColumn(),
		{Name: "Selector", Type: "string", Priority: 1, Description: doc["selector"]},
	}
}

func serviceRow(svc *corev1.Service) []any {
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	ports := make([]string, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	portCell := strings.Join(ports, ",")
	if portCell == "" {
		portCell = "<none>"
	}
	return []any{svc.Name, string(svc.Spec.Type), clusterIP, serviceExternalIP(svc), portCell,
		translateTimestampSince(svc.CreationTimestamp), labels.FormatLabels(svc.Spec.Selector)}
}

// serviceExternalIP is upstream's EXTERNAL-IP cell for wide output (the
// server always renders wide, so load balancer addresses are not clipped).
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		var lb []string
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			addr := ing.IP
			if addr == "" {
				addr = ing.Hostname
			}
			if addr != "" && !slices.Contains(lb, addr) {
				lb = append(lb, addr)
			}
		}
		slices.Sort(lb)
		all := append(lb, svc.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}
