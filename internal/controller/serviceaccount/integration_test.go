package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/controller/controllertest"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

func startController(t *testing.T) kubernetes.Interface {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	controllertest.Start(t, s, New)
	return s.Client
}

func waitAccount(t *testing.T, client kubernetes.Interface, ns string) *corev1.ServiceAccount {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		sa, err := client.CoreV1().ServiceAccounts(ns).Get(context.Background(), DefaultName, metav1.GetOptions{})
		if err == nil {
			return sa
		}
		if !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no default service account in %s", ns)
	return nil
}

func TestDefaultServiceAccount(t *testing.T) {
	client := startController(t)
	ctx := context.Background()
	// The built-in namespaces get one.
	waitAccount(t, client, "kube-system")

	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := waitAccount(t, client, "team-a")

	// Deleted: recreated, as a new object.
	if err := client.CoreV1().ServiceAccounts("team-a").Delete(ctx, DefaultName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		sa := waitAccount(t, client, "team-a")
		if sa.UID != first.UID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("default service account not recreated")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A terminating namespace gets none back.
	if err := client.CoreV1().Namespaces().Delete(ctx, "team-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().ServiceAccounts("team-a").Delete(ctx, DefaultName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := client.CoreV1().ServiceAccounts("team-a").Get(ctx, DefaultName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("service account recreated in a terminating namespace: %v", err)
	}
}

func TestActive(t *testing.T) {
	now := metav1.Now()
	for _, tt := range []struct {
		ns   corev1.Namespace
		want bool
	}{
		{corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, true},
		{corev1.Namespace{}, true},
		{corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, false},
		{corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}}, false},
	} {
		if got := active(&tt.ns); got != tt.want {
			t.Errorf("active(%+v) = %v, want %v", tt.ns, got, tt.want)
		}
	}
}
