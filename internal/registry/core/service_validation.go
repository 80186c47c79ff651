package core

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxClientIPAffinitySeconds is upstream's cap on session stickiness (a day).
const maxClientIPAffinitySeconds = 86400

var (
	specPath              = field.NewPath("spec")
	supportedServiceTypes = []corev1.ServiceType{
		corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort,
	}
)

// validateService is upstream's ValidateService for what users set. Node
// port ranges and IP availability are checked by the allocation hooks.
func validateService(svc *corev1.Service) field.ErrorList {
	// Service names become DNS labels; upstream still uses RFC 1035 (must
	// start with a letter) unless RelaxedServiceNameValidation is on.
	allErrs := validateMeta(&svc.ObjectMeta, true, apivalidation.NameIsDNS1035Label)
	spec := &svc.Spec
	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		allErrs = append(allErrs, field.Required(specPath.Child("ports"), ""))
	}
	allErrs = append(allErrs, validateServiceTypeFields(svc)...)
	allErrs = append(allErrs, validateServicePorts(svc)...)
	if spec.Selector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	}
	allErrs = append(allErrs, validateSessionAffinity(spec)...)
	allErrs = append(allErrs, validateClusterIPsRelatedFields(svc)...)
	for i, ip := range spec.ExternalIPs {
		p := specPath.Child("externalIPs").Index(i)
		if errs := validation.IsValidIP(p, ip); len(errs) != 0 {
			allErrs = append(allErrs, errs...)
		} else {
			allErrs = append(allErrs, validateNonSpecialIP(ip, p)...)
		}
	}
	switch {
	case spec.Type == "":
		allErrs = append(allErrs, field.Required(specPath.Child("type"), ""))
	case !contains(supportedServiceTypes, spec.Type):
		allErrs = append(allErrs, field.NotSupported(specPath.Child("type"), spec.Type, supportedServiceTypes))
	}
	allErrs = append(allErrs, validateServiceTrafficPolicies(svc)...)
	allErrs = append(allErrs, validateLoadBalancerFields(svc)...)
	return allErrs
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// validateServiceTypeFields checks what only some types may or must set.
func validateServiceTypeFields(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	var allErrs field.ErrorList
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if isHeadless(svc) {
			allErrs = append(allErrs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs[0],
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		if len(spec.ClusterIPs) > 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// The name may end with a dot to mark it fully qualified.
		if cname := strings.TrimSuffix(spec.ExternalName, "."); cname != "" {
			allErrs = append(allErrs, validateDNS1123Subdomain(cname, specPath.Child("externalName"))...)
		} else {
			allErrs = append(allErrs, field.Required(specPath.Child("externalName"), ""))
		}
	case corev1.ServiceTypeClusterIP:
		for i, p := range spec.Ports {
			if p.NodePort != 0 {
				allErrs = append(allErrs, field.Forbidden(specPath.Child("ports").Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	return allErrs
}

func validateServicePorts(svc *corev1.Service) field.ErrorList {
	var allErrs field.ErrorList
	portsPath := specPath.Child("ports")
	names := map[string]bool{}
	type protoPort struct {
		proto corev1.Protocol
		port  int32
	}
	ports, nodePorts := map[protoPort]bool{}, map[protoPort]bool{}
	for i, p := range svc.Spec.Ports {
		idxPath := portsPath.Index(i)
		// Names tell ports apart in Endpoints, so they are required once
		// there is more than one.
		if p.Name == "" && len(svc.Spec.Ports) > 1 {
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
		} else if p.Name != "" {
			allErrs = append(allErrs, validateDNS1123Label(p.Name, idxPath.Child("name"))...)
			if names[p.Name] {
				allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), p.Name))
			}
			names[p.Name] = true
		}
		allErrs = append(allErrs, validatePortNum(p.Port, idxPath.Child("port"))...)
		allErrs = append(allErrs, validateProtocol(p.Protocol, idxPath.Child("protocol"))...)
		allErrs = append(allErrs, validatePortNumOrName(p.TargetPort, idxPath.Child("targetPort"))...)
		if p.AppProtocol != nil {
			allErrs = append(allErrs, validateQualifiedName(*p.AppProtocol, idxPath.Child("appProtocol"))...)
		}
		if p.NodePort != 0 {
			k := protoPort{p.Protocol, p.NodePort}
			if nodePorts[k] {
				allErrs = append(allErrs, field.Duplicate(idxPath.Child("nodePort"), p.NodePort))
			}
			nodePorts[k] = true
		}
		k := protoPort{p.Protocol, p.Port}
		if ports[k] {
			allErrs = append(allErrs, field.Duplicate(idxPath, corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}))
		}
		ports[k] = true
	}
	return allErrs
}

func validateSessionAffinity(spec *corev1.ServiceSpec) field.ErrorList {
	p := specPath.Child("sessionAffinityConfig")
	switch spec.SessionAffinity {
	case "":
		return field.ErrorList{field.Required(specPath.Child("sessionAffinity"), "")}
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			return field.ErrorList{field.Forbidden(p, fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone))}
		}
		return nil
	case corev1.ServiceAffinityClientIP:
		when := fmt.Sprintf("when session affinity type is %s", corev1.ServiceAffinityClientIP)
		c := spec.SessionAffinityConfig
		switch {
		case c == nil:
			return field.ErrorList{field.Required(p, when)}
		case c.ClientIP == nil:
			return field.ErrorList{field.Required(p.Child("clientIP"), when)}
		case c.ClientIP.TimeoutSeconds == nil:
			return field.ErrorList{field.Required(p.Child("clientIP", "timeoutSeconds"), when)}
		case *c.ClientIP.TimeoutSeconds <= 0 || *c.ClientIP.TimeoutSeconds > maxClientIPAffinitySeconds:
			return field.ErrorList{field.Invalid(p.Child("clientIP", "timeoutSeconds"), *c.ClientIP.TimeoutSeconds,
				fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds))}
		}
		return nil
	}
	valid := []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	return field.ErrorList{field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, valid)}
}

// validateClusterIPsRelatedFields checks clusterIP, clusterIPs, ipFamilies
// and ipFamilyPolicy against each other (upstream's
// ValidateServiceClusterIPsRelatedFields). The allocation hooks run it too,
// before they trust those fields.
func validateClusterIPsRelatedFields(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var allErrs field.ErrorList
	ipsPath, famPath := specPath.Child("clusterIPs"), specPath.Child("ipFamilies")
	switch {
	case spec.ClusterIP != "" && len(spec.ClusterIPs) == 0:
		allErrs = append(allErrs, field.Required(ipsPath, ""))
	case spec.ClusterIP != "" && spec.ClusterIPs[0] != spec.ClusterIP:
		allErrs = append(allErrs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
	case spec.ClusterIP == "" && len(spec.ClusterIPs) != 0:
		allErrs = append(allErrs, field.Invalid(ipsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}
	seen := map[corev1.IPFamily]bool{}
	for i, f := range spec.IPFamilies {
		if f != corev1.IPv4Protocol && f != corev1.IPv6Protocol {
			allErrs = append(allErrs, field.NotSupported(famPath.Index(i), f, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}))
		}
		if seen[f] {
			allErrs = append(allErrs, field.Duplicate(famPath.Index(i), f))
		}
		seen[f] = true
	}
	if p := spec.IPFamilyPolicy; p != nil {
		valid := []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
		if !contains(valid, *p) {
			allErrs = append(allErrs, field.NotSupported(specPath.Child("ipFamilyPolicy"), *p, valid))
		}
	}
	badIPs := false
	for i, ip := range spec.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(spec.ClusterIPs) > 1 {
				badIPs = true
				allErrs = append(allErrs, field.Invalid(ipsPath, spec.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		if errs := validation.IsValidIP(ipsPath.Index(i), ip); len(errs) != 0 {
			badIPs = true
			allErrs = append(allErrs, errs...)
		}
	}
	if len(spec.ClusterIPs) > 2 {
		allErrs = append(allErrs, field.Invalid(ipsPath, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	// Family checks on malformed IPs would only add noise.
	if badIPs {
		return allErrs
	}
	return append(allErrs, validateClusterIPFamilies(svc)...)
}

func validateClusterIPFamilies(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	var allErrs field.ErrorList
	ipsPath := specPath.Child("clusterIPs")
	if len(spec.ClusterIPs) == 2 && familyOf(spec.ClusterIPs[0]) == familyOf(spec.ClusterIPs[1]) {
		allErrs = append(allErrs, field.Invalid(ipsPath, spec.ClusterIPs, "may specify no more than one IP for each IP family"))
	}
	if isHeadless(svc) {
		return allErrs
	}
	for i, ip := range spec.ClusterIPs {
		if i >= len(spec.IPFamilies) {
			break
		}
		if fam := familyOf(ip); fam != spec.IPFamilies[i] {
			allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), ip,
				fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%v]`", spec.IPFamilies[i], i)))
		}
	}
	return allErrs
}

// familyOf returns the IP family of a valid IP string.
func familyOf(ip string) corev1.IPFamily {
	if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

func validateServiceTrafficPolicies(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	var allErrs field.ErrorList
	etpPath := specPath.Child("externalTrafficPolicy")
	switch spec.ExternalTrafficPolicy {
	case "":
		if externallyAccessible(svc) {
			allErrs = append(allErrs, field.Required(etpPath, ""))
		}
	case corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal:
		if !externallyAccessible(svc) {
			allErrs = append(allErrs, field.Invalid(etpPath, spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	default:
		valid := []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
		allErrs = append(allErrs, field.NotSupported(etpPath, spec.ExternalTrafficPolicy, valid))
	}
	if spec.HealthCheckNodePort != 0 && (spec.Type != corev1.ServiceTypeLoadBalancer || spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	}
	itpPath := specPath.Child("internalTrafficPolicy")
	if itp := spec.InternalTrafficPolicy; itp == nil {
		// Other types may carry it (or not) for historical reasons.
		switch spec.Type {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			allErrs = append(allErrs, field.Required(itpPath, ""))
		}
	} else if *itp != corev1.ServiceInternalTrafficPolicyCluster && *itp != corev1.ServiceInternalTrafficPolicyLocal {
		valid := []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
		allErrs = append(allErrs, field.NotSupported(itpPath, *itp, valid))
	}
	return allErrs
}

func validateLoadBalancerFields(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	var allErrs field.ErrorList
	isLB := spec.Type == corev1.ServiceTypeLoadBalancer
	if isLB && spec.AllocateLoadBalancerNodePorts == nil {
		allErrs = append(allErrs, field.Required(specPath.Child("allocateLoadBalancerNodePorts"), ""))
	}
	if len(spec.LoadBalancerSourceRanges) > 0 {
		p := specPath.Child("LoadBalancerSourceRanges")
		if !isLB {
			allErrs = append(allErrs, field.Forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, r := range spec.LoadBalancerSourceRanges {
			allErrs = append(allErrs, validation.IsValidCIDR(p.Index(i), strings.TrimSpace(r))...)
		}
	}
	if c := spec.LoadBalancerClass; c != nil {
		if isLB {
			allErrs = append(allErrs, validateQualifiedName(*c, specPath.Child("loadBalancerClass"))...)
		} else {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		}
	}
	return allErrs
}

// validateServiceUpdate adds upstream's update rules: allocated cluster IPs
// and families stay put (they may only be added to or trimmed from the
// end), and a load balancer class, once set, stays.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	allErrs := validateMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateClusterIPsUpdate(svc, old)...)
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && old.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		!equalPtr(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("loadBalancerClass"), svc.Spec.LoadBalancerClass, "may not change once set"))
	}
	return append(allErrs, validateService(svc)...)
}

func validateClusterIPsUpdate(svc, old *corev1.Service) field.ErrorList {
	if !needsClusterIP(svc) || !needsClusterIP(old) || (isHeadless(svc) && isHeadless(old)) {
		return nil
	}
	ips, oldIPs := svc.Spec.ClusterIPs, old.Spec.ClusterIPs
	ipsPath := specPath.Child("clusterIPs")
	var allErrs field.ErrorList
	if len(ips) == len(oldIPs) {
		for i := range oldIPs {
			if ips[i] != oldIPs[i] {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), ips, "may not change once set"))
			}
		}
	} else if len(ips) > 0 && len(oldIPs) > 0 && ips[0] != oldIPs[0] {
		// Growing to or shrinking from dual-stack keeps the primary.
		allErrs = append(allErrs, field.Invalid(ipsPath.Index(0), ips, "may not change once set"))
	}
	fams, oldFams := svc.Spec.IPFamilies, old.Spec.IPFamilies
	if len(fams) > 0 && len(oldFams) > 0 && fams[0] != oldFams[0] {
		allErrs = append(allErrs, field.Invalid(specPath.Child("ipFamilies").Index(0), fams[0], "may not change once set"))
	}
	return allErrs
}

func validateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	allErrs := validateMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	ingPath := field.NewPath("status", "loadBalancer", "ingress")
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		idxPath := ingPath.Index(i)
		if ing.IP != "" {
			allErrs = append(allErrs, validation.IsValidIP(idxPath.Child("ip"), ing.IP)...)
		}
		if ing.Hostname != "" {
			allErrs = append(allErrs, validateDNS1123Subdomain(ing.Hostname, idxPath.Child("hostname"))...)
			if _, err := netip.ParseAddr(ing.Hostname); err == nil {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
		if ing.IPMode != nil && ing.IP == "" {
			allErrs = append(allErrs, field.Forbidden(idxPath.Child("ipMode"), "may not be specified when `ip` is not set"))
		}
	}
	return allErrs
}
