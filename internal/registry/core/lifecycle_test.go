package core

import (
	"context"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// typicalObjects are what real clients send: kubectl, helm charts, client-go
// event recorders, the node agent. Each must pass create and a no-op
// update through its strategy without errors.
func typicalObjects() []runtime.Object {
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}}
	}
	now := metav1.NewTime(time.Now())
	token := int64(3607)
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&corev1.Pod{ObjectMeta: meta("web-7d9f8-abcde"), Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.local:5000/web:1.0",
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
				Env:            []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
				EnvFrom:        []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				VolumeMounts:   []corev1.VolumeMount{{Name: "kube-api-access-x1", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
				Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
			}},
			// What service account admission mounts.
			Volumes: []corev1.Volume{{Name: "kube-api-access-x1", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &token, Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}}}},
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &token}},
		}},
		&corev1.Service{ObjectMeta: meta("web"), Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "metrics", Port: 9090}},
		}},
		&corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5", NodeName: ptrTo("node-1")}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "metrics", Port: 9090}},
		}}},
		&corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"app.yaml": "a: 1", "LOG_LEVEL": "debug"}},
		&corev1.Secret{ObjectMeta: meta("creds"), StringData: map[string]string{"password": "hunter2"}},
		&corev1.ServiceAccount{ObjectMeta: meta("builder")},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
			Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24"},
			Status: corev1.NodeStatus{
				Capacity:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}, {Type: corev1.NodeHostName, Address: "node-1"}},
			}},
		&corev1.Event{ObjectMeta: meta("web-7d9f8-abcde.17a8c1f2d3e4"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-7d9f8-abcde"},
			Reason:         "Pulled", Message: "Container image pulled", Type: corev1.EventTypeNormal,
			Source: corev1.EventSource{Component: "kubelet", Host: "node-1"}, FirstTimestamp: now, LastTimestamp: now, Count: 1},
		&corev1.Event{ObjectMeta: meta("web.17a8c1f2d3e5"),
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web"},
			Reason:         "ScalingReplicaSet", Action: "Scale", EventTime: metav1.NewMicroTime(time.Now()),
			ReportingController: "deployment-controller", ReportingInstance: "skiff-server"},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1"}, Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/skiff/pv-1"}},
		}},
		&corev1.PersistentVolumeClaim{ObjectMeta: meta("data"), Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}},
		&corev1.ReplicationController{ObjectMeta: meta("web"), Spec: corev1.ReplicationControllerSpec{
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1.0"}}}},
		}},
		&corev1.ResourceQuota{ObjectMeta: meta("quota"), Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceRequestsCPU: resource.MustParse("4"), "count/deployments.apps": resource.MustParse("5"),
		}}},
		&corev1.LimitRange{ObjectMeta: meta("limits"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		}}}},
		&corev1.PodTemplate{ObjectMeta: meta("tmpl"), Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1.0"}}}}},
	}
}

func resourceFor(t *testing.T, res []registry.Resource, obj runtime.Object) registry.Resource {
	t.Helper()
	for _, r := range res {
		if reflect.TypeOf(sampleObjects[r.Kind]()) == reflect.TypeOf(obj) {
			return r
		}
	}
	t.Fatalf("no resource for %T", obj)
	return registry.Resource{}
}

func TestTypicalObjectsPassTheirStrategies(t *testing.T) {
	res := Resources(Config{})
	for _, obj := range typicalObjects() {
		r := resourceFor(t, res, obj)
		t.Run(r.Kind, func(t *testing.T) {
			s := r.Strategy
			if s.Default == nil {
				s.Default = func(runtime.Object) {}
			}
			s.Default(obj)
			if s.PrepareForCreate != nil {
				s.PrepareForCreate(obj)
			}
			if s.Hooks != nil {
				finish, err := s.Hooks.BeforeCreate(context.Background(), obj)
				if err != nil {
					t.Fatalf("BeforeCreate: %v", err)
				}
				defer finish(true)
			}
			if errs := s.Validate(obj); len(errs) > 0 {
				t.Fatalf("create: %v", errs.ToAggregate())
			}
			old := obj.DeepCopyObject()
			m, err := meta.Accessor(old)
			if err != nil {
				t.Fatal(err)
			}
			m.SetResourceVersion("1")
			upd := old.DeepCopyObject()
			s.Default(upd)
			if s.PrepareForUpdate != nil {
				s.PrepareForUpdate(upd, old)
			}
			validate := s.ValidateUpdate
			if validate == nil {
				validate = func(obj, _ runtime.Object) field.ErrorList { return s.Validate(obj) }
			}
			if errs := validate(upd, old); len(errs) > 0 {
				t.Fatalf("update: %v", errs.ToAggregate())
			}
			if s.ValidateStatusUpdate != nil {
				if errs := s.ValidateStatusUpdate(upd, old); len(errs) > 0 {
					t.Fatalf("status update: %v", errs.ToAggregate())
				}
			}
			if s.Row != nil {
				if _, err := s.Row(upd); err != nil {
					t.Fatalf("row: %v", err)
				}
			}
		})
	}
}
