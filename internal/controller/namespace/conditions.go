package namespace

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// The conditions this controller maintains on a terminating namespace,
// in the order upstream writes them, with the reason and message each
// carries when nothing is wrong. Clients (kubectl describe, operators
// waiting on a namespace) read these strings, so they are upstream's.
var (
	conditionTypes = []corev1.NamespaceConditionType{
		corev1.NamespaceDeletionDiscoveryFailure,
		corev1.NamespaceDeletionGVParsingFailure,
		corev1.NamespaceDeletionContentFailure,
		corev1.NamespaceContentRemaining,
		corev1.NamespaceFinalizersRemaining,
	}
	okReasons = map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "ResourcesDiscovered",
		corev1.NamespaceDeletionGVParsingFailure: "ParsedGroupVersions",
		corev1.NamespaceDeletionContentFailure:   "ContentDeleted",
		corev1.NamespaceContentRemaining:         "ContentRemoved",
		corev1.NamespaceFinalizersRemaining:      "ContentHasNoFinalizers",
	}
	okMessages = map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "All resources successfully discovered",
		corev1.NamespaceDeletionGVParsingFailure: "All legacy kube types successfully parsed",
		corev1.NamespaceDeletionContentFailure:   "All content successfully deleted, may be waiting on finalization",
		corev1.NamespaceContentRemaining:         "All content successfully removed",
		corev1.NamespaceFinalizersRemaining:      "All content-preserving finalizers finished",
	}
)

// Reasons of the failing variants.
const (
	ReasonDiscoveryFailed       = "DiscoveryFailed"
	ReasonGroupVersionParsing   = "GroupVersionParsingFailed"
	ReasonContentDeletionFailed = "ContentDeletionFailed"
	ReasonSomeResourcesRemain   = "SomeResourcesRemain"
	ReasonSomeFinalizersRemain  = "SomeFinalizersRemain"
)

// contentTotals is what a deletion pass left, summed over resources.
type contentTotals struct {
	gvrRemaining       map[schema.GroupVersionResource]int
	finalizerRemaining map[string]int
}

func (t contentTotals) add(gvr schema.GroupVersionResource, r remaining) {
	if r.count == 0 {
		return
	}
	t.gvrRemaining[gvr] += r.count
	for f, n := range r.finalizers {
		t.finalizerRemaining[f] += n
	}
}

// conditionUpdater collects the failures of one deletion pass and turns
// them into conditions; every condition without a failure gets its "ok"
// variant.
type conditionUpdater struct {
	now        metav1.Time
	failing    []corev1.NamespaceCondition
	deleteErrs []string
}

func (u *conditionUpdater) fail(t corev1.NamespaceConditionType, reason, message string) {
	u.failing = append(u.failing, corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue,
		LastTransitionTime: u.now, Reason: reason, Message: message})
}

func (u *conditionUpdater) discoveryFailed(err error) {
	msg := err.Error()
	var gerr *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &gerr) {
		msg = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(gerr.Groups), err)
	}
	u.fail(corev1.NamespaceDeletionDiscoveryFailure, ReasonDiscoveryFailed, msg)
}

func (u *conditionUpdater) groupVersionFailed(err error) {
	u.fail(corev1.NamespaceDeletionGVParsingFailure, ReasonGroupVersionParsing, err.Error())
}

func (u *conditionUpdater) deleteFailed(err error) {
	u.deleteErrs = append(u.deleteErrs, err.Error())
}

// contentTotals records what remains, by resource and by finalizer.
// Example message: "Some resources are remaining: pods. has 2 resource
// instances, widgets.example.com has 1 resource instances".
func (u *conditionUpdater) contentTotals(t contentTotals) {
	if len(t.gvrRemaining) > 0 {
		var parts []string
		for gvr, n := range t.gvrRemaining {
			parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
		slices.Sort(parts)
		u.fail(corev1.NamespaceContentRemaining, ReasonSomeResourcesRemain,
			"Some resources are remaining: "+strings.Join(parts, ", "))
	}
	if len(t.finalizerRemaining) > 0 {
		var parts []string
		for f, n := range t.finalizerRemaining {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		slices.Sort(parts)
		u.fail(corev1.NamespaceFinalizersRemaining, ReasonSomeFinalizersRemain,
			"Some content in the namespace has finalizers remaining: "+strings.Join(parts, ", "))
	}
}

// apply writes the conditions into status and reports whether anything
// changed; a condition's transition time moves only when its status does.
func (u *conditionUpdater) apply(status *corev1.NamespaceStatus) bool {
	want := slices.Clone(u.failing)
	if len(u.deleteErrs) > 0 {
		msgs := slices.Sorted(slices.Values(u.deleteErrs))
		want = append(want, corev1.NamespaceCondition{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: u.now, Reason: ReasonContentDeletionFailed,
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(msgs), strings.Join(msgs, ", "))})
	}
	changed := false
	for _, t := range conditionTypes {
		next := findCondition(want, t)
		if next == nil {
			next = &corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: u.now,
				Reason: okReasons[t], Message: okMessages[t]}
		}
		cur := findCondition(status.Conditions, t)
		switch {
		case cur == nil:
			status.Conditions = append(status.Conditions, *next)
			changed = true
		case cur.Status != next.Status || cur.Reason != next.Reason || cur.Message != next.Message:
			if cur.Status != next.Status {
				cur.LastTransitionTime = u.now
			}
			cur.Status, cur.Reason, cur.Message = next.Status, next.Reason, next.Message
			changed = true
		}
	}
	return changed
}

func findCondition(conds []corev1.NamespaceCondition, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
