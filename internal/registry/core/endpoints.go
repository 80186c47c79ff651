package core

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func endpointsResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("endpoints"),
		Kind:       "Endpoints",
		Singular:   "endpoints",
		ShortNames: []string{"ep"},
		Namespaced: true,
		Strategy: registry.Strategy{
			Default: defaulter(func(e *corev1.Endpoints) {
				for i := range e.Subsets {
					for j := range e.Subsets[i].Ports {
						if p := &e.Subsets[i].Ports[j]; p.Protocol == "" {
							p.Protocol = corev1.ProtocolTCP
						}
					}
				}
			}),
			Validate: validator(func(e *corev1.Endpoints) field.ErrorList {
				errs := validateMeta(&e.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
				return append(errs, validateEndpointSubsets(e.Subsets, field.NewPath("subsets"))...)
			}),
			ValidateUpdate: updateValidator(func(e, old *corev1.Endpoints) field.ErrorList {
				errs := validateMetaUpdate(&e.ObjectMeta, &old.ObjectMeta)
				return append(errs, validateEndpointSubsets(e.Subsets, field.NewPath("subsets"))...)
			}),
			Columns: []metav1.TableColumnDefinition{
				nameColumn(),
				{Name: "Endpoints", Type: "string", Description: corev1.Endpoints{}.SwaggerDoc()["subsets"]},
				ageColumn(),
			},
			Row: rower(func(e *corev1.Endpoints) []any {
				return []any{e.Name, formatEndpoints(e), translateTimestampSince(e.CreationTimestamp)}
			}),
		},
	}
}

func validateEndpointSubsets(subsets []corev1.EndpointSubset, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i := range subsets {
		ss := &subsets[i]
		idxPath := fldPath.Index(i)
		// Headless services may list addresses without ports, never the
		// other way round.
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			allErrs = append(allErrs, field.Required(idxPath, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.Addresses[j], idxPath.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.NotReadyAddresses[j], idxPath.Child("notReadyAddresses").Index(j))...)
		}
		for j, p := range ss.Ports {
			portPath := idxPath.Child("ports").Index(j)
			if p.Name == "" && len(ss.Ports) > 1 {
				allErrs = append(allErrs, field.Required(portPath.Child("name"), ""))
			} else if p.Name != "" {
				allErrs = append(allErrs, validateDNS1123Label(p.Name, portPath.Child("name"))...)
			}
			allErrs = append(allErrs, validatePortNum(p.Port, portPath.Child("port"))...)
			allErrs = append(allErrs, validateProtocol(p.Protocol, portPath.Child("protocol"))...)
			if p.AppProtocol != nil {
				allErrs = append(allErrs, validateQualifiedName(*p.AppProtocol, portPath.Child("appProtocol"))...)
			}
		}
	}
	return allErrs
}

func validateEndpointAddress(a *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	allErrs := validation.IsValidIP(fldPath.Child("ip"), a.IP)
	if len(allErrs) == 0 {
		allErrs = append(allErrs, validateNonSpecialIP(a.IP, fldPath.Child("ip"))...)
	}
	if a.Hostname != "" {
		allErrs = append(allErrs, validateDNS1123Label(a.Hostname, fldPath.Child("hostname"))...)
	}
	if a.NodeName != nil {
		allErrs = append(allErrs, validateName(apivalidation.NameIsDNSSubdomain, *a.NodeName, fldPath.Child("nodeName"))...)
	}
	return allErrs
}

// validateNonSpecialIP rejects addresses that make no sense as endpoints
// or external IPs: unspecified and loopback addresses mean "this host",
// and link-local ones are for node services such as cloud metadata.
func validateNonSpecialIP(ip string, fldPath *field.Path) field.ErrorList {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return field.ErrorList{field.Invalid(fldPath, ip, "must be a valid IP address")}
	}
	a = a.Unmap()
	var allErrs field.ErrorList
	if a.IsUnspecified() {
		allErrs = append(allErrs, field.Invalid(fldPath, ip, fmt.Sprintf("may not be unspecified (%v)", ip)))
	}
	if a.IsLoopback() {
		allErrs = append(allErrs, field.Invalid(fldPath, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if a.IsLinkLocalUnicast() {
		allErrs = append(allErrs, field.Invalid(fldPath, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if a.IsLinkLocalMulticast() {
		allErrs = append(allErrs, field.Invalid(fldPath, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return allErrs
}

// formatEndpoints is upstream's ENDPOINTS cell: up to three ip:port pairs,
// then "+ N more...".
func formatEndpoints(e *corev1.Endpoints) string {
	if len(e.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	more, count := false, 0
	add := func(s string) {
		if len(list) == max {
			more = true
			return
		}
		list = append(list, s)
	}
	for _, ss := range e.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}
