package networking

import (
	"fmt"
	"net"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// annotationIngressClass is the pre-IngressClass way of choosing a
// controller; it may not be combined with spec.ingressClassName.
const annotationIngressClass = "kubernetes.io/ingress.class"

var (
	supportedPathTypes = []string{
		string(networkingv1.PathTypeExact),
		string(networkingv1.PathTypeImplementationSpecific),
		string(networkingv1.PathTypePrefix),
	}
	// Sequences a proxy might normalise differently from the controller,
	// letting a request escape the path it was routed by.
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

func ingressResource() registry.Resource {
	return registry.Resource{
		GVR:              networkingv1.SchemeGroupVersion.WithResource("ingresses"),
		Kind:             "Ingress",
		Singular:         "ingress",
		ShortNames:       []string{"ing"},
		Namespaced:       true,
		HasStatus:        true,
		TracksGeneration: true,
		Strategy: registry.Strategy{
			Validate:             validateIngress,
			ValidateUpdate:       validateIngressUpdate,
			ValidateStatusUpdate: validateIngressStatusUpdate,
			Columns:              ingressColumns,
			Row:                  ingressRow,
		},
	}
}

// ingressOptions relax rules that were added after objects existed.
type ingressOptions struct {
	allowInvalidSecretName       bool
	allowInvalidWildcardHostRule bool
}

func validateIngress(obj runtime.Object) field.ErrorList {
	ing := obj.(*networkingv1.Ingress)
	allErrs := apivalidation.ValidateObjectMeta(&ing.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateIngressSpec(&ing.Spec, field.NewPath("spec"), ingressOptions{})...)
	if v, ok := ing.Annotations[annotationIngressClass]; ok && ing.Spec.IngressClassName != nil {
		allErrs = append(allErrs, field.Invalid(field.NewPath("annotations").Child(annotationIngressClass), v, "can not be set when the class field is also set"))
	}
	return allErrs
}

func validateIngressUpdate(obj, old runtime.Object) field.ErrorList {
	ing, oldIng := obj.(*networkingv1.Ingress), old.(*networkingv1.Ingress)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&ing.ObjectMeta, &oldIng.ObjectMeta, field.NewPath("metadata"))
	opts := ingressOptions{
		allowInvalidSecretName:       hasInvalidSecretName(oldIng),
		allowInvalidWildcardHostRule: hasInvalidWildcardRule(oldIng),
	}
	allErrs = append(allErrs, apivalidation.ValidateObjectMeta(&ing.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	return append(allErrs, validateIngressSpec(&ing.Spec, field.NewPath("spec"), opts)...)
}

func validateIngressSpec(spec *networkingv1.IngressSpec, fldPath *field.Path, opts ingressOptions) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		allErrs = append(allErrs, validateIngressBackend(spec.DefaultBackend, fldPath.Child("defaultBackend"))...)
	}
	for i := range spec.Rules {
		allErrs = append(allErrs, validateIngressRule(&spec.Rules[i], fldPath.Child("rules").Index(i), opts)...)
	}
	for i, tls := range spec.TLS {
		allErrs = append(allErrs, validateIngressTLS(&tls, fldPath.Child("tls").Index(i), opts)...)
	}
	if spec.IngressClassName != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*spec.IngressClassName) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("ingressClassName"), *spec.IngressClassName, msg))
		}
	}
	return allErrs
}

// validateHost accepts a DNS subdomain, optionally with one leading "*."
// label, and never an IP address (rules match the Host header by name).
func validateHost(host string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if net.ParseIP(host) != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, host, "must be a DNS name, not an IP address"))
	}
	msgs := validation.IsDNS1123Subdomain(host)
	if strings.Contains(host, "*") {
		msgs = validation.IsWildcardDNS1123Subdomain(host)
	}
	for _, msg := range msgs {
		allErrs = append(allErrs, field.Invalid(fldPath, host, msg))
	}
	return allErrs
}

func validateIngressRule(rule *networkingv1.IngressRule, fldPath *field.Path, opts ingressOptions) field.ErrorList {
	var allErrs field.ErrorList
	if rule.Host != "" {
		allErrs = append(allErrs, validateHost(rule.Host, fldPath.Child("host"))...)
	}
	if strings.Contains(rule.Host, "*") && opts.allowInvalidWildcardHostRule {
		return allErrs
	}
	return append(allErrs, validateIngressRuleValue(&rule.IngressRuleValue, fldPath)...)
}

func validateIngressRuleValue(v *networkingv1.IngressRuleValue, fldPath *field.Path) field.ErrorList {
	if v.HTTP == nil {
		return nil
	}
	var allErrs field.ErrorList
	httpPath := fldPath.Child("http")
	if len(v.HTTP.Paths) == 0 {
		allErrs = append(allErrs, field.Required(httpPath.Child("paths"), ""))
	}
	for i := range v.HTTP.Paths {
		allErrs = append(allErrs, validateHTTPIngressPath(&v.HTTP.Paths[i], httpPath.Child("paths").Index(i))...)
	}
	return allErrs
}

// validateHTTPIngressPath: pathType has no default in v1 and is required;
// Exact and Prefix paths must be clean absolute paths, because the router
// compares them element by element.
func validateHTTPIngressPath(p *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if p.PathType == nil {
		return append(allErrs, field.Required(fldPath.Child("pathType"), "pathType must be specified"))
	}
	pathPath := fldPath.Child("path")
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			allErrs = append(allErrs, field.Invalid(pathPath, p.Path, "must be an absolute path"))
		}
		for _, seq := range invalidPathSequences {
			if strings.Contains(p.Path, seq) {
				allErrs = append(allErrs, field.Invalid(pathPath, p.Path, fmt.Sprintf("must not contain '%s'", seq)))
			}
		}
		for _, suffix := range invalidPathSuffixes {
			if strings.HasSuffix(p.Path, suffix) {
				allErrs = append(allErrs, field.Invalid(pathPath, p.Path, fmt.Sprintf("cannot end with '%s'", suffix)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			allErrs = append(allErrs, field.Invalid(pathPath, p.Path, "must be an absolute path"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("pathType"), *p.PathType, supportedPathTypes))
	}
	return append(allErrs, validateIngressBackend(&p.Backend, fldPath.Child("backend"))...)
}

// validateIngressBackend requires exactly one of service and resource, and
// a service port given by name or by number, not both.
func validateIngressBackend(b *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case b.Resource != nil && b.Service != nil:
		return append(allErrs, field.Invalid(fldPath, "", "cannot set both resource and service backends"))
	case b.Resource != nil:
		return validateTypedLocalObjectReference(b.Resource.APIGroup, b.Resource.Kind, b.Resource.Name, fldPath.Child("resource"))
	case b.Service == nil:
		return append(allErrs, field.Invalid(fldPath, "", "resource or service backend is required"))
	}
	svc := b.Service
	if svc.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("service", "name"), ""))
	} else {
		for _, msg := range apivalidation.NameIsDNS1035Label(svc.Name, false) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("service", "name"), svc.Name, msg))
		}
	}
	hasName, hasNumber := svc.Port.Name != "", svc.Port.Number != 0
	switch {
	case hasName && hasNumber:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
	case hasName:
		for _, msg := range validation.IsValidPortName(svc.Port.Name) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("service", "port", "name"), svc.Port.Name, msg))
		}
	case hasNumber:
		for _, msg := range validation.IsValidPortNum(int(svc.Port.Number)) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("service", "port", "number"), svc.Port.Number, msg))
		}
	default:
		allErrs = append(allErrs, field.Required(fldPath, "port name or number is required"))
	}
	return allErrs
}

func validateIngressTLS(tls *networkingv1.IngressTLS, fldPath *field.Path, opts ingressOptions) field.ErrorList {
	var allErrs field.ErrorList
	for i, host := range tls.Hosts {
		msgs := validation.IsDNS1123Subdomain(host)
		if strings.Contains(host, "*") {
			msgs = validation.IsWildcardDNS1123Subdomain(host)
		}
		for _, msg := range msgs {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("hosts").Index(i), host, msg))
		}
	}
	if !opts.allowInvalidSecretName {
		for _, msg := range tlsSecretNameErrors(tls.SecretName) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("secretName"), tls.SecretName, msg))
		}
	}
	return allErrs
}

func tlsSecretNameErrors(name string) []string {
	if name == "" {
		return nil // a controller may supply its default certificate
	}
	return apivalidation.NameIsDNSSubdomain(name, false)
}

func hasInvalidSecretName(ing *networkingv1.Ingress) bool {
	for _, tls := range ing.Spec.TLS {
		if len(tlsSecretNameErrors(tls.SecretName)) > 0 {
			return true
		}
	}
	return false
}

func hasInvalidWildcardRule(ing *networkingv1.Ingress) bool {
	for _, rule := range ing.Spec.Rules {
		if strings.Contains(rule.Host, "*") && len(validateIngressRuleValue(&rule.IngressRuleValue, nil)) > 0 {
			return true
		}
	}
	return false
}

func validateIngressStatusUpdate(obj, old runtime.Object) field.ErrorList {
	ing, oldIng := obj.(*networkingv1.Ingress), old.(*networkingv1.Ingress)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&ing.ObjectMeta, &oldIng.ObjectMeta, field.NewPath("metadata"))
	lbPath := field.NewPath("status", "loadBalancer")
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		idxPath := lbPath.Child("ingress").Index(i)
		if lb.IP != "" {
			allErrs = append(allErrs, validation.IsValidIPForLegacyField(idxPath.Child("ip"), lb.IP, false, nil)...)
		}
		if lb.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(lb.Hostname) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), lb.Hostname, msg))
			}
			if net.ParseIP(lb.Hostname) != nil {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), lb.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return allErrs
}

var ingressColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Class", Type: "string", Description: "The name of the IngressClass resource that should be used for additional configuration"},
	{Name: "Hosts", Type: "string", Description: "Hosts that incoming requests are matched against before the ingress rule"},
	{Name: "Address", Type: "string", Description: "Address is a list containing ingress points for the load-balancer"},
	{Name: "Ports", Type: "string", Description: "Ports of TLS configurations that open"},
	ageColumn,
}

func ingressRow(obj runtime.Object) ([]any, error) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return nil, fmt.Errorf("expected *v1.Ingress, got %T", obj)
	}
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	ports := "80"
	if len(ing.Spec.TLS) != 0 {
		ports = "80, 443"
	}
	return []any{ing.Name, class, formatHosts(ing.Spec.Rules), ingressAddress(ing), ports, age(ing.CreationTimestamp)}, nil
}

// formatHosts lists up to three rule hosts, "*" when no rule names one.
// As upstream, rules after the third are counted whether or not they have
// a host.
func formatHosts(rules []networkingv1.IngressRule) string {
	const most = 3
	var list []string
	more := false
	for _, rule := range rules {
		if len(list) == most {
			more = true
		}
		if !more && rule.Host != "" {
			list = append(list, rule.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, len(rules)-most)
	}
	return ret
}

// ingressAddress is the sorted, de-duplicated set of load-balancer IPs (or
// hostnames where there is no IP). Server-side tables are always wide, so
// it is not truncated.
func ingressAddress(ing *networkingv1.Ingress) string {
	seen := map[string]bool{}
	var addrs []string
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		a := lb.IP
		if a == "" {
			a = lb.Hostname
		}
		if a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	sort.Strings(addrs)
	return strings.Join(addrs, ",")
}
