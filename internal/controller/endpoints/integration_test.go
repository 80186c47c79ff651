package endpoints

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/controller/controllertest"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// startController runs the controller against a test API server.
func startController(t *testing.T) kubernetes.Interface {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	controllertest.Start(t, s, New)
	return s.Client
}

// kubelet plays the node agent: it creates a pod bound to a node and
// reports its IP and readiness.
func kubelet(t *testing.T, client kubernetes.Interface, name, ip string, port int32, ready bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Image: "img:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}},
	}
	pod, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return setReady(t, client, pod, ip, ready)
}

func setReady(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, ip string, ready bool) *corev1.Pod {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}}
	out, err := client.CoreV1().Pods("default").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// summary renders Endpoints as "port:ready-names/notready-names;..."
func summary(ep *corev1.Endpoints) string {
	var parts []string
	for _, ss := range ep.Subsets {
		names := func(as []corev1.EndpointAddress) string {
			var n []string
			for _, a := range as {
				if a.TargetRef == nil {
					n = append(n, a.IP)
					continue
				}
				n = append(n, a.TargetRef.Name)
			}
			sort.Strings(n)
			return strings.Join(n, ",")
		}
		var ports []string
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprint(p.Port))
		}
		parts = append(parts, strings.Join(ports, ",")+":"+names(ss.Addresses)+"/"+names(ss.NotReadyAddresses))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

func waitSummary(t *testing.T, client kubernetes.Interface, want string) *corev1.Endpoints {
	t.Helper()
	var ep *corev1.Endpoints
	waitFor(t, "endpoints "+want, func() (bool, string) {
		var err error
		ep, err = client.CoreV1().Endpoints("default").Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return summary(ep) == want, summary(ep)
	})
	return ep
}

func TestEndpointsTrackPods(t *testing.T) {
	client := startController(t)
	ctx := context.Background()

	// A selectorless Service with hand-written Endpoints is left alone.
	manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "manual"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}, Ports: []corev1.EndpointPort{{Port: 5432}}}}}
	if _, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "manual"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Endpoints("default").Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubelet(t, client, "a", "10.42.0.1", 8080, true)
	b := kubelet(t, client, "b", "10.42.0.2", 8080, false)
	kubelet(t, client, "c", "10.42.0.3", 8080, true)
	kubelet(t, client, "d", "10.42.0.4", 9090, true)
	ep := waitSummary(t, client, "8080:a,c/b;9090:d/")
	if ep.Labels[LabelManagedBy] != ControllerName || ep.Labels["team"] != "a" {
		t.Fatalf("labels = %v", ep.Labels)
	}
	if ep.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" {
		t.Fatalf("no trigger time annotation: %v", ep.Annotations)
	}

	// b turns ready; c starts terminating and leaves.
	setReady(t, client, b, "10.42.0.2", true)
	if err := client.CoreV1().Pods("default").Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSummary(t, client, "8080:a,b/;9090:d/")

	// The Service goes: so do its Endpoints, not the hand-written ones.
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "endpoints deleted", func() (bool, string) {
		_, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	got, err := client.CoreV1().Endpoints("default").Get(ctx, "manual", metav1.GetOptions{})
	if err != nil || summary(got) != "5432:192.0.2.1/" || got.Labels[LabelManagedBy] != "" {
		t.Fatalf("hand-written endpoints changed: %+v, %v", got, err)
	}
}
