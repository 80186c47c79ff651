package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
)

// HashLabel is the label upstream puts on a StatefulSet's revisions with
// the hash of their data.
const HashLabel = "controller.kubernetes.io/hash"

// maxPrefixLen keeps "<prefix>-<hash>" within the 253 characters of a DNS
// subdomain: 223 + 1 + a hash of at most 10 characters (a uint32 in
// decimal) leaves room to spare, as upstream's truncation does.
const maxPrefixLen = 223

// Hash returns the name-safe hash of revision data. A non-nil
// collisionCount is mixed in, so that bumping it after a name collision
// yields a different name for the same data.
func Hash(data []byte, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	// SafeEncodeString maps digits onto consonants and digits so that a
	// hash never spells a word; upstream encodes its hashes the same way.
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// Name is the name of owner prefix's revision with the given hash.
func Name(prefix, hash string) string {
	if len(prefix) > maxPrefixLen {
		prefix = prefix[:maxPrefixLen]
	}
	return prefix + "-" + hash
}

// TemplatePatch returns the revision data for a pod template: a strategic
// merge patch that replaces spec.template. Its bytes are what kubectl's
// rollout undo builds for the same template (keys sorted, compact), so
// kubectl recognises the revision a workload is already at.
func TemplatePatch(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, fmt.Errorf("encoding pod template: %w", err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("decoding pod template: %w", err)
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// TemplateFromPatch reads the pod template a revision restores. The
// "$patch" directive is not a template field and is ignored by decoding.
func TemplateFromPatch(data []byte) (*corev1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(data, &patch); err != nil {
		return nil, fmt.Errorf("decoding revision data: %w", err)
	}
	if patch.Spec.Template == nil {
		return nil, fmt.Errorf("revision data has no spec.template")
	}
	return patch.Spec.Template, nil
}

// EqualData reports whether two revision payloads restore the same state.
func EqualData(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// New builds an unnamed revision of data owned by owner; Create names it.
// Labels are copied so the caller's map is never shared.
func New(owner metav1.Object, ownerKind schema.GroupVersionKind, labels, annotations map[string]string, data []byte, revision int64) *appsv1.ControllerRevision {
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       owner.GetNamespace(),
			Labels:          make(map[string]string, len(labels)+1),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, ownerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
	for k, v := range labels {
		cr.Labels[k] = v
	}
	if len(annotations) > 0 {
		cr.Annotations = make(map[string]string, len(annotations))
		for k, v := range annotations {
			cr.Annotations[k] = v
		}
	}
	return cr
}

// Sort orders revisions oldest first: by revision number, then creation
// time, then name, so that ties left by a rollback are broken stably.
func Sort(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// MaxRevision returns the highest revision number in revs, 0 if empty.
func MaxRevision(revs []*appsv1.ControllerRevision) int64 {
	var n int64
	for _, r := range revs {
		n = max(n, r.Revision)
	}
	return n
}
