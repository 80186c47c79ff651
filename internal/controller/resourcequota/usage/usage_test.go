package usage

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func podWith(cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{Containers: cs}}
}

func assertList(t *testing.T, got corev1.ResourceList, want corev1.ResourceList) {
	t.Helper()
	if !Equal(got, want) {
		t.Fatalf("got %s, want %s", Format(got), Format(want))
	}
}

// TestPodUsageWorkedExample is podEvaluator.Usage's example: containers at
// 100m and 200m, an init container at 500m: requests.cpu is 500m.
func TestPodUsageWorkedExample(t *testing.T) {
	p := podWith(container("a", rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "200m")), container("b", rl("cpu", "200m"), nil))
	p.Spec.InitContainers = []corev1.Container{container("init", rl("cpu", "500m"), nil)}
	u, err := For(schema.GroupResource{Resource: "pods"}).Usage(p, now)
	if err != nil {
		t.Fatal(err)
	}
	assertList(t, u, rl("count/pods", "1", "pods", "1", "cpu", "500m", "requests.cpu", "500m",
		"memory", "64Mi", "requests.memory", "64Mi", "limits.cpu", "200m"))

	done := p.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	u, _ = For(schema.GroupResource{Resource: "pods"}).Usage(done, now)
	assertList(t, u, rl("count/pods", "1"))

	stuck := p.DeepCopy()
	grace := int64(30)
	stuck.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
	stuck.DeletionGracePeriodSeconds = &grace
	u, _ = For(schema.GroupResource{Resource: "pods"}).Usage(stuck, now)
	assertList(t, u, rl("count/pods", "1"))
}

func TestPodConstraints(t *testing.T) {
	eval := For(schema.GroupResource{Resource: "pods"})
	p := podWith(container("app", rl("cpu", "1"), nil), container("sidecar", rl("cpu", "1", "memory", "1Gi"), rl("memory", "1Gi")))
	err := eval.Constraints([]corev1.ResourceName{"limits.cpu", "requests.memory", "pods"}, p)
	want := "must specify limits.cpu for: app,sidecar; requests.memory for: app"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if err := eval.Constraints([]corev1.ResourceName{"pods", "count/pods"}, p); err != nil {
		t.Fatalf("pods alone constrains nothing: %v", err)
	}
}

func TestServiceAndClaimUsage(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}}
	u, _ := For(schema.GroupResource{Resource: "services"}).Usage(svc, now)
	assertList(t, u, rl("count/services", "1", "services", "1", "services.nodeports", "2", "services.loadbalancers", "0"))
	no := false
	svc.Spec.Type, svc.Spec.AllocateLoadBalancerNodePorts = corev1.ServiceTypeLoadBalancer, &no
	svc.Spec.Ports[0].NodePort = 30080
	u, _ = For(schema.GroupResource{Resource: "services"}).Usage(svc, now)
	assertList(t, u, rl("count/services", "1", "services", "1", "services.nodeports", "1", "services.loadbalancers", "1"))

	class := "fast"
	pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class,
		Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "1500m")}}}
	u, _ = For(schema.GroupResource{Resource: "persistentvolumeclaims"}).Usage(pvc, now)
	assertList(t, u, rl("count/persistentvolumeclaims", "1", "persistentvolumeclaims", "1", "requests.storage", "2",
		"fast.storageclass.storage.k8s.io/persistentvolumeclaims", "1", "fast.storageclass.storage.k8s.io/requests.storage", "2"))

	u, _ = For(schema.GroupResource{Group: "apps", Resource: "deployments"}).Usage(&corev1.List{}, now)
	assertList(t, u, rl("count/deployments.apps", "1"))
	u, _ = For(schema.GroupResource{Resource: "configmaps"}).Usage(&corev1.ConfigMap{}, now)
	assertList(t, u, rl("count/configmaps", "1", "configmaps", "1"))
}

func TestScopes(t *testing.T) {
	eval := For(schema.GroupResource{Resource: "pods"})
	best := podWith(container("a", nil, nil))
	burst := podWith(container("a", rl("cpu", "1"), nil))
	deadline := int64(60)
	job := podWith(container("a", nil, nil))
	job.Spec.ActiveDeadlineSeconds = &deadline
	prio := podWith(container("a", nil, nil))
	prio.Spec.PriorityClassName = "high"
	quota := func(scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10"), Scopes: scopes}}
	}
	tests := []struct {
		name string
		q    *corev1.ResourceQuota
		pod  *corev1.Pod
		want bool
	}{
		{"no scope", quota(), burst, true},
		{"best effort", quota(corev1.ResourceQuotaScopeBestEffort), best, true},
		{"best effort vs burstable", quota(corev1.ResourceQuotaScopeBestEffort), burst, false},
		{"not best effort", quota(corev1.ResourceQuotaScopeNotBestEffort), burst, true},
		{"terminating", quota(corev1.ResourceQuotaScopeTerminating), job, true},
		{"not terminating", quota(corev1.ResourceQuotaScopeNotTerminating), job, false},
		{"two scopes", quota(corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeBestEffort), job, true},
		{"priority in", &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "1"), ScopeSelector: &corev1.ScopeSelector{
			MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}}}, prio, true},
		{"priority in, other pod", &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "1"), ScopeSelector: &corev1.ScopeSelector{
			MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}}}, best, false},
	}
	for _, tt := range tests {
		got, err := Matches(eval, tt.q, tt.q.Spec.Hard, tt.pod)
		if err != nil || got != tt.want {
			t.Errorf("%s: Matches = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	// Scopes only describe pods: a scoped quota never counts configmaps.
	cm := For(schema.GroupResource{Resource: "configmaps"})
	if ok, _ := Matches(cm, quota(corev1.ResourceQuotaScopeBestEffort), rl("configmaps", "1"), &corev1.ConfigMap{}); ok {
		t.Error("scoped quota matched a configmap")
	}
}

func TestTotal(t *testing.T) {
	q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10", "requests.memory", "1Gi", "configmaps", "5")}}
	objs := []runtime.Object{
		podWith(container("a", rl("memory", "100Mi"), nil)),
		podWith(container("a", rl("memory", "200Mi"), nil)),
	}
	u, err := Total(For(schema.GroupResource{Resource: "pods"}), q, objs, now)
	if err != nil {
		t.Fatal(err)
	}
	assertList(t, u, rl("pods", "2", "requests.memory", "300Mi"))
	u, _ = Total(For(schema.GroupResource{Resource: "configmaps"}), q, nil, now)
	assertList(t, u, rl("configmaps", "0"))
}

func TestListArithmetic(t *testing.T) {
	assertList(t, Add(rl("cpu", "500m"), rl("cpu", "1", "pods", "1")), rl("cpu", "1500m", "pods", "1"))
	assertList(t, SubtractNonNegative(rl("cpu", "1", "pods", "1"), rl("cpu", "2")), rl("cpu", "0", "pods", "1"))
	ok, exceeded := LessThanOrEqual(rl("cpu", "2", "pods", "1", "memory", "5"), rl("cpu", "1", "pods", "1"))
	if ok || len(exceeded) != 1 || exceeded[0] != "cpu" {
		t.Fatalf("LessThanOrEqual = %v %v", ok, exceeded)
	}
	if got := Format(rl("pods", "1", "limits.cpu", "2")); got != "limits.cpu=2,pods=1" {
		t.Fatalf("Format = %q", got)
	}
	if gr, ok := ParseCountName("count/deployments.apps"); !ok || gr != (schema.GroupResource{Group: "apps", Resource: "deployments"}) {
		t.Fatalf("ParseCountName = %v %v", gr, ok)
	}
	if CountName(schema.GroupResource{Resource: "secrets"}) != "count/secrets" {
		t.Fatal("CountName core")
	}
}
