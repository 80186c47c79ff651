package resourcequota

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/skiff-sh/skiff/internal/admission"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

// quota returns a quota whose status the controller has filled.
func quota(name string, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: "5"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

// newPlugin returns a plugin over a fake API whose quota status updates
// are conditional on resourceVersion, as the real API server's are.
func newPlugin(objs ...runtime.Object) (*Plugin, *fake.Clientset) {
	client := fake.NewClientset(objs...)
	gvr := corev1.SchemeGroupVersion.WithResource("resourcequotas")
	client.PrependReactor("update", "resourcequotas", func(action clienttesting.Action) (bool, runtime.Object, error) {
		q := action.(clienttesting.UpdateAction).GetObject().(*corev1.ResourceQuota).DeepCopy()
		cur, err := client.Tracker().Get(gvr, q.Namespace, q.Name)
		if err != nil {
			return true, nil, err
		}
		rv := cur.(*corev1.ResourceQuota).ResourceVersion
		if q.ResourceVersion != rv {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), q.Name, fmt.Errorf("resourceVersion %s is not %s", q.ResourceVersion, rv))
		}
		n, _ := strconv.Atoi(rv)
		q.ResourceVersion = strconv.Itoa(n + 1)
		return true, q, client.Tracker().Update(gvr, q, q.Namespace)
	})
	return New(client, informers.NewSharedInformerFactory(client, 0)), client
}

func podAttrs(pod *corev1.Pod) *admission.Attributes {
	return &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
		Namespace: "ns", Name: pod.Name, Object: pod}
}

func testPod(requests, limits corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}}}}
}

func used(t *testing.T, client *fake.Clientset, name string) corev1.ResourceList {
	t.Helper()
	q, err := client.CoreV1().ResourceQuotas("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return q.Status.Used
}

func TestChargeAndExceed(t *testing.T) {
	p, client := newPlugin(quota("compute", rl("pods", "3", "requests.cpu", "1"), rl("pods", "2", "requests.cpu", "500m")))
	if err := p.Admit(context.Background(), podAttrs(testPod(rl("cpu", "300m"), nil))); err != nil {
		t.Fatal(err)
	}
	if u := used(t, client, "compute"); u.Pods().String() != "3" {
		t.Fatalf("used after charge = %v", u)
	}
	if got := used(t, client, "compute")["requests.cpu"]; got.String() != "800m" {
		t.Fatalf("requests.cpu used = %s, want 800m", got.String())
	}
	err := p.Admit(context.Background(), podAttrs(testPod(rl("cpu", "100m"), nil)))
	want := `pods "web" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=3, limited: pods=3`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != http.StatusForbidden {
		t.Fatalf("not a 403: %v", err)
	}
	if u := used(t, client, "compute"); u.Pods().String() != "3" {
		t.Fatalf("refused create charged: %v", u)
	}
}

// TestExceedWorkedExample is charge's example: cpu 800m+300m > 1.
func TestExceedWorkedExample(t *testing.T) {
	p, _ := newPlugin(quota("compute", rl("pods", "3", "requests.cpu", "1"), rl("pods", "2", "requests.cpu", "800m")))
	err := p.Admit(context.Background(), podAttrs(testPod(rl("cpu", "300m"), nil)))
	want := `pods "web" is forbidden: exceeded quota: compute, requested: requests.cpu=300m, used: requests.cpu=800m, limited: requests.cpu=1`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestMustSpecifyAndStatusUnknown(t *testing.T) {
	p, _ := newPlugin(quota("compute", rl("limits.cpu", "2", "requests.memory", "1Gi"), rl("limits.cpu", "0", "requests.memory", "0")))
	err := p.Admit(context.Background(), podAttrs(testPod(rl("cpu", "100m"), nil)))
	want := `pods "web" is forbidden: failed quota: compute: must specify limits.cpu for: app; requests.memory for: app`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	p, _ = newPlugin(quota("fresh", rl("pods", "3"), nil))
	err = p.Admit(context.Background(), podAttrs(testPod(nil, nil)))
	want = `pods "web" is forbidden: status unknown for quota: fresh, resources: pods`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	// A quota the controller has not seen yet (no status.hard) limits
	// nothing, as upstream.
	unseen := quota("unseen", rl("pods", "0"), nil)
	unseen.Status = corev1.ResourceQuotaStatus{}
	p, _ = newPlugin(unseen)
	if err := p.Admit(context.Background(), podAttrs(testPod(nil, nil))); err != nil {
		t.Fatalf("unsynced quota refused: %v", err)
	}
}

func TestObjectCountsAndScopes(t *testing.T) {
	best := quota("best", rl("pods", "1"), rl("pods", "1"))
	best.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
	p, client := newPlugin(best, quota("objects", rl("count/deployments.apps", "1", "configmaps", "2"), rl("count/deployments.apps", "0", "configmaps", "2")))
	// A burstable pod is outside the BestEffort quota.
	if err := p.Admit(context.Background(), podAttrs(testPod(rl("cpu", "1"), nil))); err != nil {
		t.Fatalf("burstable pod: %v", err)
	}
	if err := p.Admit(context.Background(), podAttrs(testPod(nil, nil))); err == nil {
		t.Fatal("best-effort pod over the scoped quota admitted")
	}
	dep := &admission.Attributes{Operation: admission.Create, Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
		Namespace: "ns", Name: "d", Object: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "d"}}}
	if err := p.Admit(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	if got := used(t, client, "objects")["count/deployments.apps"]; got.String() != "1" {
		t.Fatalf("count/deployments.apps = %s", got.String())
	}
	cm := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("configmaps"),
		Namespace: "ns", Name: "c", Object: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}}
	if err := p.Admit(context.Background(), cm); err == nil || err.Error() != `configmaps "c" is forbidden: exceeded quota: objects, requested: configmaps=1, used: configmaps=2, limited: configmaps=2` {
		t.Fatalf("configmap: %v", err)
	}
	// Dry runs are checked but charge nothing.
	dep.DryRun = true
	dep.Resource.Resource = "deployments"
	p2, client2 := newPlugin(quota("objects", rl("count/deployments.apps", "2"), rl("count/deployments.apps", "0")))
	if err := p2.Admit(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	if got := used(t, client2, "objects")["count/deployments.apps"]; got.String() != "0" {
		t.Fatalf("dry run charged: %s", got.String())
	}
}

func TestServiceUpdateChargesGrowth(t *testing.T) {
	p, client := newPlugin(quota("lb", rl("services.loadbalancers", "1", "services", "5"), rl("services.loadbalancers", "0", "services", "1")))
	old := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", ResourceVersion: "3"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}}
	cur := old.DeepCopy()
	cur.Spec.Type = corev1.ServiceTypeLoadBalancer
	attrs := &admission.Attributes{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("services"),
		Namespace: "ns", Name: "s", Object: cur, OldObject: old}
	if err := p.Admit(context.Background(), attrs); err != nil {
		t.Fatal(err)
	}
	u := used(t, client, "lb")
	if lb, svc := u["services.loadbalancers"], u["services"]; lb.String() != "1" || svc.String() != "1" {
		t.Fatalf("used = %v: want one load balancer, services unchanged", u)
	}
}

// TestConflictRereads makes the first status write lose a race: the
// plugin must re-read the quota and check against the winner's usage.
func TestConflictRereads(t *testing.T) {
	p, client := newPlugin(quota("compute", rl("pods", "3"), rl("pods", "1")))
	raced := false
	client.PrependReactor("update", "resourcequotas", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if raced || action.GetSubresource() != "status" {
			return false, nil, nil
		}
		raced = true
		// Someone else charged two pods in between.
		q := quota("compute", rl("pods", "3"), rl("pods", "3"))
		q.ResourceVersion = "9"
		if err := client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("resourcequotas"), q, "ns"); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "resourcequotas"}, "compute", nil)
	})
	err := p.Admit(context.Background(), podAttrs(testPod(nil, nil)))
	if !raced {
		t.Fatal("reactor never ran")
	}
	want := `pods "web" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=3, limited: pods=3`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}
