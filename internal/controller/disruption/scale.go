package disruption

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// scales finds the controller a pod's controllerRef names and its replica
// count: the built-in workloads from informer caches, anything else (a
// custom resource with a scale subresource) through GET .../scale.
type scales struct {
	client      kubernetes.Interface
	rcs         corelisters.ReplicationControllerLister
	rss         appslisters.ReplicaSetLister
	deployments appslisters.DeploymentLister
	statefuls   appslisters.StatefulSetLister

	mu sync.Mutex
	// resources caches discovery: "group/version/Kind" -> plural resource
	// with a scale subresource ("" when it has none).
	resources map[string]string
}

func groupOf(ref *metav1.OwnerReference) (schema.GroupVersion, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return gv, fmt.Errorf("owner reference apiVersion %q: %w", ref.APIVersion, err)
	}
	return gv, nil
}

// lookup implements scaleFunc.
func (s *scales) lookup(ctx context.Context, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	gv, err := groupOf(ref)
	if err != nil {
		return "", 0, false, err
	}
	switch {
	case gv.Group == "" && ref.Kind == "ReplicationController":
		rc, err := s.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return "", 0, false, nil
		}
		return rc.UID, replicas(rc.Spec.Replicas), true, nil
	case gv.Group == "apps" && ref.Kind == "ReplicaSet":
		rs, err := s.rss.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, false, nil
		}
		// A Deployment's ReplicaSets count at the Deployment's scale: during
		// a rollout the old and new sets together aim for that many.
		if owner := metav1.GetControllerOf(rs); owner != nil && owner.Kind == "Deployment" {
			d, err := s.deployments.Deployments(ns).Get(owner.Name)
			if err != nil || d.UID != owner.UID {
				return "", 0, false, nil
			}
			return d.UID, replicas(d.Spec.Replicas), true, nil
		}
		return rs.UID, replicas(rs.Spec.Replicas), true, nil
	case gv.Group == "apps" && ref.Kind == "StatefulSet":
		ss, err := s.statefuls.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return "", 0, false, nil
		}
		return ss.UID, replicas(ss.Spec.Replicas), true, nil
	}
	return s.fromSubresource(ctx, gv, ref, ns)
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// fromSubresource reads the scale subresource of any other controller.
func (s *scales) fromSubresource(ctx context.Context, gv schema.GroupVersion, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	resource, err := s.scaleResource(gv, ref.Kind)
	if err != nil {
		return "", 0, false, err
	}
	prefix := []string{"/apis", gv.Group, gv.Version}
	if gv.Group == "" {
		prefix = []string{"/api", gv.Version}
	}
	path := append(prefix, "namespaces", ns, resource, ref.Name, "scale")
	// JSON explicitly: the client may be configured to prefer protobuf.
	raw, err := s.client.Discovery().RESTClient().Get().AbsPath(path...).SetHeader("Accept", "application/json").DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("reading scale of %s %s/%s: %w", ref.Kind, ns, ref.Name, err)
	}
	var sc autoscalingv1.Scale
	if err := json.Unmarshal(raw, &sc); err != nil {
		return "", 0, false, fmt.Errorf("decoding scale of %s %s/%s: %w", ref.Kind, ns, ref.Name, err)
	}
	if sc.UID != ref.UID {
		return "", 0, false, nil
	}
	return sc.UID, sc.Spec.Replicas, true, nil
}

// scaleResource maps a kind to its plural resource through discovery and
// checks that it has a scale subresource.
func (s *scales) scaleResource(gv schema.GroupVersion, kind string) (string, error) {
	key := gv.String() + "/" + kind
	s.mu.Lock()
	res, ok := s.resources[key]
	s.mu.Unlock()
	if !ok {
		list, err := s.client.Discovery().ServerResourcesForGroupVersion(gv.String())
		if err != nil {
			return "", fmt.Errorf("discovering %s: %w", gv, err)
		}
		var plural string
		hasScale := map[string]bool{}
		for _, r := range list.APIResources {
			if name, sub, found := strings.Cut(r.Name, "/"); found {
				hasScale[name] = hasScale[name] || sub == "scale"
			} else if r.Kind == kind {
				plural = r.Name
			}
		}
		if plural == "" {
			return "", fmt.Errorf("no resource of kind %s in %s", kind, gv)
		}
		if hasScale[plural] {
			res = plural
		}
		s.mu.Lock()
		s.resources[key] = res
		s.mu.Unlock()
	}
	if res == "" {
		return "", fmt.Errorf("%s in %s does not implement the scale subresource", kind, gv)
	}
	return res, nil
}
