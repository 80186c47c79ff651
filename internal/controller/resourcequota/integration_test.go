package resourcequota

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/controller/controllertest"
	"github.com/skiff-sh/skiff/internal/controller/resourcequota/usage"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

const ns = "quota"

func startController(t *testing.T) kubernetes.Interface {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, s, New)
	return s.Client
}

func mustCreate(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitUsed(t *testing.T, client kubernetes.Interface, want corev1.ResourceList) *corev1.ResourceQuota {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var q *corev1.ResourceQuota
	for time.Now().Before(deadline) {
		var err error
		q, err = client.CoreV1().ResourceQuotas(ns).Get(context.Background(), "q", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if usage.Equal(q.Status.Used, want) && usage.Equal(q.Status.Hard, q.Spec.Hard) {
			return q
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("used = %s\nwant   %s", usage.Format(q.Status.Used), usage.Format(want))
	return nil
}

func TestQuotaUsage(t *testing.T) {
	client := startController(t)
	ctx := context.Background()
	pod := func(name, cpu string) *corev1.Pod {
		c := corev1.Container{Name: "c", Image: "img:1"}
		if cpu != "" {
			c.Resources.Requests = rl("cpu", cpu)
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	}
	for i, cpu := range []string{"100m", "250m", ""} {
		_, err := client.CoreV1().Pods(ns).Create(ctx, pod(fmt.Sprintf("p%d", i), cpu), metav1.CreateOptions{})
		mustCreate(t, err)
	}
	for i := range 2 {
		_, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm%d", i)}}, metav1.CreateOptions{})
		mustCreate(t, err)
	}
	_, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "np"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81}}}}, metav1.CreateOptions{})
	mustCreate(t, err)
	labels := map[string]string{"app": "d"}
	_, err = client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}}}, metav1.CreateOptions{})
	mustCreate(t, err)
	// Leases have no cache here: counted by listing.
	_, err = client.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l"}}, metav1.CreateOptions{})
	mustCreate(t, err)

	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: rl(
		"pods", "10", "requests.cpu", "2", "limits.memory", "1Gi", "configmaps", "5", "services", "3",
		"services.nodeports", "4", "count/deployments.apps", "2", "count/leases.coordination.k8s.io", "4",
		"count/widgets.example.com", "1")}}
	_, err = client.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{})
	mustCreate(t, err)
	// widgets are not served: their usage stays unknown, the rest is counted.
	waitUsed(t, client, rl("pods", "3", "requests.cpu", "350m", "limits.memory", "0", "configmaps", "2", "services", "1",
		"services.nodeports", "2", "count/deployments.apps", "1", "count/leases.coordination.k8s.io", "1"))

	// Deletions hand usage back.
	mustCreate(t, client.CoreV1().Pods(ns).Delete(ctx, "p1", metav1.DeleteOptions{}))
	mustCreate(t, client.CoreV1().ConfigMaps(ns).Delete(ctx, "cm0", metav1.DeleteOptions{}))
	waitUsed(t, client, rl("pods", "2", "requests.cpu", "100m", "limits.memory", "0", "configmaps", "1", "services", "1",
		"services.nodeports", "2", "count/deployments.apps", "1", "count/leases.coordination.k8s.io", "1"))

	// A pod that finished no longer counts for compute.
	p0, err := client.CoreV1().Pods(ns).Get(ctx, "p0", metav1.GetOptions{})
	mustCreate(t, err)
	p0.Status.Phase = corev1.PodSucceeded
	_, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, p0, metav1.UpdateOptions{})
	mustCreate(t, err)

	// New limits: status.hard follows, unknown usage dropped with its limit.
	mustCreate(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		// The controller writes status meanwhile.
		cur, err := client.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Hard = rl("pods", "20", "requests.cpu", "2")
		_, err = client.CoreV1().ResourceQuotas(ns).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	}))
	waitUsed(t, client, rl("pods", "1", "requests.cpu", "0"))
}
