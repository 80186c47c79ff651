package resourcequota

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/admission"
	"github.com/skiff-sh/skiff/internal/admission/limitranger"
	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/registry/builtin"
	"github.com/skiff-sh/skiff/internal/storage/bolt"
)

// startAPIServer runs Skiff's API server over a bolt store with the
// LimitRanger and ResourceQuota plugins, wired as the server would: each
// plugin gets a loopback client and its own informer factory, started once
// the server serves. The test plays the TLS layer, which would otherwise
// have verified a client certificate.
func startAPIServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "skiff.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := builtin.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	var handler atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}}
		(*handler.Load()).ServeHTTP(w, r)
	}))
	client := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL, QPS: 1000, Burst: 2000})
	factory := informers.NewSharedInformerFactory(client, 0)
	plugins := []admission.Plugin{limitranger.New(client, factory), New(client, factory)}
	api, err := apiserver.New(apiserver.Config{
		Store: store, Scheme: scheme,
		Resources: builtin.Resources(builtin.Config{ServiceCIDR: netip.MustParsePrefix("10.43.0.0/16")}),
		Admission: plugins,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := api.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := api.Handler()
	handler.Store(&h)
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		factory.Shutdown()
		_ = store.Close()
	})
	return client
}

func TestAdmissionThroughAPIServer(t *testing.T) {
	client := startAPIServer(t)
	ctx := context.Background()
	mustNS := func(name string) {
		t.Helper()
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name string, limits corev1.ResourceList) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "img:1", Resources: corev1.ResourceRequirements{Limits: limits}}}}}
	}

	t.Run("limitranger", func(t *testing.T) {
		mustNS("limits")
		lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Max: rl("cpu", "1"), Default: rl("cpu", "500m", "memory", "128Mi"), DefaultRequest: rl("memory", "128Mi")}}}}
		if _, err := client.CoreV1().LimitRanges("limits").Create(ctx, lr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := client.CoreV1().Pods("limits").Create(ctx, pod("defaulted", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res := got.Spec.Containers[0].Resources
		// The server's LimitRange defaulting filled defaultRequest cpu from
		// default; the plugin applied both.
		if res.Limits.Cpu().String() != "500m" || res.Requests.Cpu().String() != "500m" || res.Requests.Memory().String() != "128Mi" {
			t.Fatalf("resources = %+v", res)
		}
		if got.Status.QOSClass != corev1.PodQOSGuaranteed || !strings.HasPrefix(got.Annotations["kubernetes.io/limit-ranger"], "LimitRanger plugin set: ") {
			t.Fatalf("qos %s annotations %v", got.Status.QOSClass, got.Annotations)
		}
		_, err = client.CoreV1().Pods("limits").Create(ctx, pod("big", rl("cpu", "2")), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || err.Error() != `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2` {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("quota", func(t *testing.T) {
		mustNS("quota")
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "pods"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "3")}}
		q, err := client.CoreV1().ResourceQuotas("quota").Create(ctx, q, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No quota controller runs here: the test fills the status it would.
		q.Status = corev1.ResourceQuotaStatus{Hard: rl("pods", "3"), Used: rl("pods", "0")}
		if _, err := client.CoreV1().ResourceQuotas("quota").UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Ten creates race for three places.
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = client.CoreV1().Pods("quota").Create(ctx, pod(fmt.Sprintf("p%d", i), nil), metav1.CreateOptions{})
			}()
		}
		wg.Wait()
		admitted := 0
		for _, err := range errs {
			switch {
			case err == nil:
				admitted++
			case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: pods, requested: pods=1, used: pods=3, limited: pods=3"):
				t.Fatalf("unexpected refusal: %v", err)
			}
		}
		list, err := client.CoreV1().Pods("quota").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := client.CoreV1().ResourceQuotas("quota").Get(ctx, "pods", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if admitted != 3 || len(list.Items) != 3 || got.Status.Used.Pods().String() != "3" {
			t.Fatalf("admitted %d, stored %d, used %s; want 3 each", admitted, len(list.Items), got.Status.Used.Pods().String())
		}
	})
}
