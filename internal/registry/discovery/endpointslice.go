package discovery

import (
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Limits that keep one slice small enough to watch and proxy cheaply.
const (
	maxTopologyLabels = 16
	maxAddresses      = 100
	maxPorts          = 100
	maxEndpoints      = 1000
)

var (
	// Sorted, as upstream lists them in messages.
	createAddressTypes = []string{string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}
	// "IP" was deprecated in v1beta1; old slices may keep it on update.
	updateAddressTypes = []string{string(discoveryv1.AddressTypeFQDN), "IP", string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}
	portProtocols      = []string{string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}
)

// Resources returns the discovery.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{{
		GVR:              discoveryv1.SchemeGroupVersion.WithResource("endpointslices"),
		Kind:             "EndpointSlice",
		Singular:         "endpointslice",
		Namespaced:       true,
		TracksGeneration: true,
		Strategy: registry.Strategy{
			Default:          func(obj runtime.Object) { DefaultEndpointSlice(obj.(*discoveryv1.EndpointSlice)) },
			PrepareForUpdate: prepareEndpointSliceForUpdate,
			Validate:         validateEndpointSlice,
			ValidateUpdate:   validateEndpointSliceUpdate,
			Columns:          endpointSliceColumns,
			Row:              endpointSliceRow,
		},
	}}
}

// DefaultEndpointSlice gives every port a name ("" for the single unnamed
// port) and protocol TCP, so consumers never see nil for either.
func DefaultEndpointSlice(s *discoveryv1.EndpointSlice) {
	for i := range s.Ports {
		if s.Ports[i].Name == nil {
			s.Ports[i].Name = new(string)
		}
		if s.Ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			s.Ports[i].Protocol = &tcp
		}
	}
}

// prepareEndpointSliceForUpdate counts a label change as a new generation:
// the slice's labels say which Service it belongs to.
func prepareEndpointSliceForUpdate(obj, old runtime.Object) {
	s, oldS := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	if !maps.Equal(s.Labels, oldS.Labels) {
		s.Generation = oldS.Generation + 1
	}
}

func validateEndpointSlice(obj runtime.Object) field.ErrorList {
	return validateSlice(obj.(*discoveryv1.EndpointSlice), createAddressTypes)
}

func validateEndpointSliceUpdate(obj, old runtime.Object) field.ErrorList {
	s, oldS := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &oldS.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateSlice(s, updateAddressTypes)...)
	return append(allErrs, apivalidation.ValidateImmutableField(s.AddressType, oldS.AddressType, field.NewPath("addressType"))...)
}

func validateSlice(s *discoveryv1.EndpointSlice, addressTypes []string) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&s.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	typePath := field.NewPath("addressType")
	switch {
	case s.AddressType == "":
		allErrs = append(allErrs, field.Required(typePath, ""))
	case !contains(addressTypes, string(s.AddressType)):
		allErrs = append(allErrs, field.NotSupported(typePath, s.AddressType, addressTypes))
	}
	allErrs = append(allErrs, validateEndpoints(s.Endpoints, s.AddressType, field.NewPath("endpoints"))...)
	return append(allErrs, validatePorts(s.Ports, field.NewPath("ports"))...)
}

func validateEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxEndpoints)}
	}
	var allErrs field.ErrorList
	for i, ep := range endpoints {
		idxPath := fldPath.Index(i)
		addrPath := idxPath.Child("addresses")
		switch n := len(ep.Addresses); {
		case n == 0:
			allErrs = append(allErrs, field.Required(addrPath, "must contain at least 1 address"))
		case n > maxAddresses:
			allErrs = append(allErrs, field.TooMany(addrPath, n, maxAddresses))
		}
		for j, addr := range ep.Addresses {
			allErrs = append(allErrs, validateAddress(addr, addrType, addrPath.Index(j))...)
		}
		topoPath := idxPath.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			allErrs = append(allErrs, field.TooMany(topoPath, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		allErrs = append(allErrs, metavalidation.ValidateLabels(ep.DeprecatedTopology, topoPath)...)
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.NodeName != nil {
			for _, msg := range apivalidation.NameIsDNSSubdomain(*ep.NodeName, false) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("nodeName"), *ep.NodeName, msg))
			}
		}
	}
	return allErrs
}

// validateAddress checks one address against the slice's type. Unknown
// types (only possible for old "IP" slices) are checked as any IP.
func validateAddress(addr string, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	switch addrType {
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(fldPath, addr)
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, "IP":
	default:
		return nil
	}
	if errs := validation.IsValidIPForLegacyField(fldPath, addr, false, nil); len(errs) > 0 {
		return errs
	}
	ip := net.ParseIP(addr)
	if ip == nil {
		// The legacy parser accepts forms net.ParseIP does not (leading
		// zeros); there is nothing more to check for them.
		return nil
	}
	var allErrs field.ErrorList
	switch {
	case addrType == discoveryv1.AddressTypeIPv4 && ip.To4() == nil:
		allErrs = append(allErrs, field.Invalid(fldPath, addr, "must be a valid IPv4 address"))
	case addrType == discoveryv1.AddressTypeIPv6 && ip.To4() != nil:
		allErrs = append(allErrs, field.Invalid(fldPath, addr, "must be a valid IPv6 address"))
	}
	return append(allErrs, validateNonSpecialIP(ip, addr, fldPath)...)
}

// validateNonSpecialIP rejects addresses that would route traffic to the
// node itself or to node-local services rather than to a pod.
func validateNonSpecialIP(ip net.IP, addr string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if ip.IsUnspecified() {
		allErrs = append(allErrs, field.Invalid(fldPath, addr, fmt.Sprintf("may not be unspecified (%v)", addr)))
	}
	if ip.IsLoopback() {
		allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return allErrs
}

func validatePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxPorts)}
	}
	var allErrs field.ErrorList
	names := map[string]bool{}
	for i, p := range ports {
		idxPath := fldPath.Index(i)
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), name, msg))
			}
		}
		if names[name] {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), name))
		}
		names[name] = true
		switch {
		case p.Protocol == nil:
			allErrs = append(allErrs, field.Required(idxPath.Child("protocol"), ""))
		case !contains(portProtocols, string(*p.Protocol)):
			allErrs = append(allErrs, field.NotSupported(idxPath.Child("protocol"), *p.Protocol, portProtocols))
		}
		if p.AppProtocol != nil {
			for _, msg := range content.IsQualifiedName(*p.AppProtocol) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("appProtocol"), *p.AppProtocol, msg))
			}
		}
	}
	return allErrs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var endpointSliceColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "AddressType", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]},
	{Name: "Ports", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]},
	{Name: "Endpoints", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func endpointSliceRow(obj runtime.Object) ([]any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, fmt.Errorf("expected *v1.EndpointSlice, got %T", obj)
	}
	var ports, addrs []string
	for _, p := range s.Ports {
		// A port-less entry means "all ports"; a named one without a
		// number prints its name.
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	for _, ep := range s.Endpoints {
		addrs = append(addrs, ep.Addresses...)
	}
	age := "<unknown>"
	if !s.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(time.Since(s.CreationTimestamp.Time))
	}
	return []any{s.Name, string(s.AddressType), firstThree(ports), firstThree(addrs), age}, nil
}

// firstThree prints up to three items and how many more there are, or
// "<unset>" for none.
func firstThree(items []string) string {
	const most = 3
	switch {
	case len(items) == 0:
		return "<unset>"
	case len(items) > most:
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:most], ","), len(items)-most)
	}
	return strings.Join(items, ",")
}
