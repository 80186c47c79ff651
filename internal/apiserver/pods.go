package apiserver

import (
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var bindingGVK = corev1.SchemeGroupVersion.WithKind("Binding")

// bind serves pods/binding: the scheduler's way to assign a pod to a node.
func (s *Server) bind(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, _, err := s.decodeBody(r, body, bindingGVK)
	if err != nil {
		return err
	}
	b := obj.(*corev1.Binding)
	if b.Name != "" && b.Name != info.Name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", b.Name, info.Name)
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		return apierrors.NewInvalid(bindingGVK.GroupKind(), info.Name, nil)
	}
	if b.Target.Name == "" {
		return badRequest("binding target name is required")
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	_, err = s.updateObject(r.Context(), res, info.Namespace, info.Name, wholeObject, dry, func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(res.groupResource(), pod.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(res.groupResource(), pod.Name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(res.groupResource(), pod.Name, fmt.Errorf("precondition failed: UID in binding %s does not match pod %s", b.UID, pod.UID))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.now())})
		pod.ResourceVersion = ""
		return pod, nil
	})
	if err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
	return nil
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			if pod.Status.Conditions[i].Status == c.Status {
				return
			}
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}
