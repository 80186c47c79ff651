package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// admitNamespace is upstream's NamespaceLifecycle admission: objects may
// only be created in a namespace that exists and is not terminating.
func (s *Server) admitNamespace(ctx context.Context, name string) error {
	res := s.resources[namespacesGVR]
	if res == nil {
		return nil
	}
	o, _, ok := res.cache.Get(res.key("", name))
	if !ok {
		// The namespace may have been created a moment ago.
		if err := s.cache.WaitForFresh(ctx); err != nil {
			return tooLargeRV(err)
		}
		if o, _, ok = res.cache.Get(res.key("", name)); !ok {
			return apierrors.NewNotFound(res.groupResource(), name)
		}
	}
	obj, err := o.Decode()
	if err != nil {
		return err
	}
	ns := obj.(*corev1.Namespace)
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		err := apierrors.NewForbidden(schema.GroupResource{}, "",
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", name))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", name), Field: "metadata.namespace"})
		return err
	}
	return nil
}

// systemNamespaces exist in every cluster.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

func (s *Server) ensureSystemNamespaces(ctx context.Context) error {
	res := s.resources[namespacesGVR]
	if res == nil {
		return nil
	}
	for _, name := range systemNamespaces {
		if _, _, ok := res.cache.Get(res.key("", name)); ok {
			continue
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := s.createObject(ctx, res, ns, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", name, err)
		}
	}
	return nil
}
