package core

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Node role labels, as kubectl's ROLES column reads them.
const (
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	labelNodeRole       = "kubernetes.io/role"
)

func nodeResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("nodes"),
		Kind:       "Node",
		Singular:   "node",
		ShortNames: []string{"no"},
		HasStatus:  true,
		Strategy: registry.Strategy{
			Default: defaulter(defaultNode),
			// Upstream keeps the status a registering node sends: the node
			// agent creates its Node with addresses and capacity at once.
			PrepareForCreate:     func(runtime.Object) {},
			Validate:             validator(validateNode),
			ValidateUpdate:       updateValidator(validateNodeUpdate),
			ValidateStatusUpdate: updateValidator(validateNodeUpdate),
			Columns:              nodeColumns(),
			Row:                  rower(nodeRow),
			Fields: fielder(func(n *corev1.Node) fields.Set {
				return fields.Set{"spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable)}
			}),
		},
	}
}

func defaultNode(n *corev1.Node) {
	// podCIDR and podCIDRs are one field in upstream's internal type.
	if len(n.Spec.PodCIDRs) == 0 && n.Spec.PodCIDR != "" {
		n.Spec.PodCIDRs = []string{n.Spec.PodCIDR}
	}
	if len(n.Spec.PodCIDRs) > 0 {
		n.Spec.PodCIDR = n.Spec.PodCIDRs[0]
	}
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
	roundUpResources(&n.Status.Capacity)
	roundUpResources(&n.Status.Allocatable)
}

func validateNode(n *corev1.Node) field.ErrorList {
	allErrs := validateMeta(&n.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	// Upstream reports taint errors under metadata.taints; kept so error
	// paths match.
	allErrs = append(allErrs, validateNodeTaints(n.Spec.Taints, metadataPath.Child("taints"))...)
	allErrs = append(allErrs, validateNodeResources(n)...)
	cidrsPath := field.NewPath("spec", "podCIDRs")
	for i, c := range n.Spec.PodCIDRs {
		allErrs = append(allErrs, validation.IsValidCIDR(cidrsPath.Index(i), c)...)
	}
	if len(n.Spec.PodCIDRs) > 2 || (len(n.Spec.PodCIDRs) == 2 && cidrFamily(n.Spec.PodCIDRs[0]) == cidrFamily(n.Spec.PodCIDRs[1])) {
		allErrs = append(allErrs, field.Invalid(cidrsPath, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	return allErrs
}

func cidrFamily(cidr string) corev1.IPFamily {
	addr, _, _ := strings.Cut(cidr, "/")
	return familyOf(addr)
}

func validateNodeTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	type keyEffect struct {
		key    string
		effect corev1.TaintEffect
	}
	seen := map[keyEffect]bool{}
	for i, t := range taints {
		idxPath := fldPath.Index(i)
		allErrs = append(allErrs, validateQualifiedName(t.Key, idxPath.Child("key"))...)
		allErrs = append(allErrs, validateLabelValue(t.Value, idxPath.Child("value"))...)
		allErrs = append(allErrs, validateTaintEffect(t.Effect, false, idxPath.Child("effect"))...)
		k := keyEffect{t.Key, t.Effect}
		if seen[k] {
			dup := field.Duplicate(idxPath, t)
			dup.Detail = "taints must be unique by key and effect pair"
			allErrs = append(allErrs, dup)
		}
		seen[k] = true
	}
	return allErrs
}

func validateNodeResources(n *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	for _, list := range []struct {
		name string
		rl   corev1.ResourceList
	}{{"capacity", n.Status.Capacity}, {"allocatable", n.Status.Allocatable}} {
		for _, name := range sortedResourceNames(list.rl) {
			p := field.NewPath("status", list.name).Key(string(name))
			allErrs = append(allErrs, validateResourceName(name, p)...)
			allErrs = append(allErrs, validateResourceQuantityValue(name, list.rl[name], p)...)
		}
	}
	return allErrs
}

// validateNodeUpdate: a node's pod CIDRs and provider ID are set once (by
// the controller that assigns them) and never changed.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	allErrs := validateMetaUpdate(&n.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateNode(n)...)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range n.Status.Addresses {
		if seen[a] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	if len(old.Spec.PodCIDRs) > 0 && !slices.Equal(old.Spec.PodCIDRs, n.Spec.PodCIDRs) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return allErrs
}

func nodeColumns() []metav1.TableColumnDefinition {
	info, status := corev1.NodeSystemInfo{}.SwaggerDoc(), corev1.NodeStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Status", Type: "string", Description: "The status of the node"},
		{Name: "Roles", Type: "string", Description: "The roles of the node"},
		ageColumn(),
		{Name: "Version", Type: "string", Description: info["kubeletVersion"]},
		{Name: "Internal-IP", Type: "string", Priority: 1, Description: status["addresses"]},
		{Name: "External-IP", Type: "string", Priority: 1, Description: status["addresses"]},
		{Name: "OS-Image", Type: "string", Priority: 1, Description: info["osImage"]},
		{Name: "Kernel-Version", Type: "string", Priority: 1, Description: info["kernelVersion"]},
		{Name: "Container-Runtime", Type: "string", Priority: 1, Description: info["containerRuntimeVersion"]},
	}
}

func nodeRow(n *corev1.Node) []any {
	status := []string{"Unknown"}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status[0] = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status[0] = "Ready"
			}
		}
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	roles := strings.Join(nodeRoles(n), ",")
	info := n.Status.NodeInfo
	return []any{
		n.Name, strings.Join(status, ","), orNone(roles), translateTimestampSince(n.CreationTimestamp), info.KubeletVersion,
		nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion),
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

// nodeRoles reads node-role.kubernetes.io/<role> and kubernetes.io/role
// labels, sorted and deduplicated.
func nodeRoles(n *corev1.Node) []string {
	var roles []string
	for k, v := range n.Labels {
		role := ""
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			role = strings.TrimPrefix(k, labelNodeRolePrefix)
		case k == labelNodeRole:
			role = v
		}
		if role != "" && !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	slices.Sort(roles)
	return roles
}
