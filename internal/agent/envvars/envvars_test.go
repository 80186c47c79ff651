package envvars

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

type fakeSources struct {
	cms      map[string]*corev1.ConfigMap
	secrets  map[string]*corev1.Secret
	services map[string][]*corev1.Service
}

func (f fakeSources) GetConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	if o, ok := f.cms[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f fakeSources) GetSecret(ns, name string) (*corev1.Secret, error) {
	if o, ok := f.secrets[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (f fakeSources) ListServices(ns string) ([]*corev1.Service, error) { return f.services[ns], nil }

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": ""}
	cases := map[string]string{
		"plain":          "plain",
		"$(A)":           "a",
		"x$(A)y$(A)":     "xaya",
		"$$(A)":          "$(A)",
		"$$$(A)":         "$a",
		"$(MISSING)":     "$(MISSING)",
		"$(EMPTY)z":      "z",
		"$(A":            "$(A",
		"$A":             "$A",
		"trailing$":      "trailing$",
		"$$":             "$",
		"$()":            "$()",
		"a $(A) $(A)$$x": "a a a$x",
	}
	for in, want := range cases {
		if got := Expand(in, mapFrom(vars)); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "hi"}},
		Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa", EnableServiceLinks: ptr.To(false)},
	}
}

func TestResolveEnv(t *testing.T) {
	src := fakeSources{
		cms:     map[string]*corev1.ConfigMap{"ns/cfg": {Data: map[string]string{"LEVEL": "debug", "bad=key": "x", "1X": "y"}}},
		secrets: map[string]*corev1.Secret{"ns/s": {Data: map[string][]byte{"PASS": []byte("pw")}}},
	}
	node := Node{Name: "n1", HostIPs: []string{"192.0.2.1", "2001:db8::1"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	res := func(r, div string) *corev1.EnvVarSource {
		s := &corev1.ResourceFieldSelector{Resource: r}
		if div != "" {
			s.Divisor = resource.MustParse(div)
		}
		return &corev1.EnvVarSource{ResourceFieldRef: s}
	}
	cases := []struct {
		name    string
		env     []corev1.EnvVar
		from    []corev1.EnvFromSource
		want    map[string]string
		absent  []string
		wantErr bool
	}{
		{name: "value and expansion", env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "$(A)-$(C)-$$(A)"}, {Name: "C", Value: "3"}},
			want: map[string]string{"A": "1", "B": "1-$(C)-$(A)", "C": "3"}},
		{name: "fields", env: []corev1.EnvVar{
			{Name: "NAME", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
			{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "APP", ValueFrom: field("metadata.labels['app']")},
			{Name: "NOTE", ValueFrom: field("metadata.annotations['note']")}, {Name: "NODE", ValueFrom: field("spec.nodeName")},
			{Name: "SA", ValueFrom: field("spec.serviceAccountName")}, {Name: "HIP", ValueFrom: field("status.hostIP")},
			{Name: "HIPS", ValueFrom: field("status.hostIPs")}, {Name: "PIP", ValueFrom: field("status.podIP")},
			{Name: "PIPS", ValueFrom: field("status.podIPs")}},
			want: map[string]string{"NAME": "p", "NS": "ns", "UID": "u1", "APP": "web", "NOTE": "hi", "NODE": "n1", "SA": "sa",
				"HIP": "192.0.2.1", "HIPS": "192.0.2.1,2001:db8::1", "PIP": "10.42.0.5", "PIPS": "10.42.0.5"}},
		{name: "resources", env: []corev1.EnvVar{
			{Name: "MEM", ValueFrom: res("limits.memory", "1Mi")}, {Name: "CPU", ValueFrom: res("limits.cpu", "")},
			{Name: "CPUM", ValueFrom: res("requests.cpu", "1m")}},
			want: map[string]string{"MEM": "128", "CPU": "1", "CPUM": "250"}},
		{name: "configmap and secret refs", env: []corev1.EnvVar{
			{Name: "L", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "LEVEL"}}},
			{Name: "P", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "PASS"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "x", Optional: ptr.To(true)}}},
			{Name: "OPTKEY", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nokey", Optional: ptr.To(true)}}}},
			want: map[string]string{"L": "debug", "P": "pw"}, absent: []string{"OPT", "OPTKEY"}},
		{name: "missing key", env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nokey"}}}},
			wantErr: true},
		{name: "missing secret", env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k"}}}},
			wantErr: true},
		{name: "envFrom prefix, invalid keys, env overrides", from: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}, Prefix: "APP_"},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}}},
			env:  []corev1.EnvVar{{Name: "PASS", Value: "override"}},
			want: map[string]string{"APP_LEVEL": "debug", "APP_1X": "y", "PASS": "override"}, absent: []string{"APP_bad=key"}},
		{name: "missing envFrom", from: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}},
			wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.Containers = []corev1.Container{{Name: "c", Env: tc.env, EnvFrom: tc.from,
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("500m")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}}}
			r, err := Resolve(src, pod, &pod.Spec.Containers[0], node, []string{"10.42.0.5"})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			got := map[string]string{}
			for _, e := range r.Env {
				if _, dup := got[e.Name]; dup {
					t.Errorf("%s appears twice", e.Name)
				}
				got[e.Name] = e.Value
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s present, want absent", k)
				}
			}
			if tc.name == "envFrom prefix, invalid keys, env overrides" && !reflect.DeepEqual(r.InvalidKeys, []string{"APP_bad=key"}) {
				t.Errorf("InvalidKeys = %v", r.InvalidKeys)
			}
		})
	}
}

func TestLimitDefaultsToAllocatable(t *testing.T) {
	pod := basePod()
	pod.Spec.Containers = []corev1.Container{{Name: "c", Env: []corev1.EnvVar{
		{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
		{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}},
	}}}
	node := Node{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("1Ki")}}
	r, err := Resolve(fakeSources{}, pod, &pod.Spec.Containers[0], node, nil)
	if err != nil {
		t.Fatal(err)
	}
	// CPU rounds up to whole cores, as upstream.
	want := []corev1.EnvVar{{Name: "CPU", Value: "2"}, {Name: "MEM", Value: "1024"}}
	if !reflect.DeepEqual(r.Env, want) {
		t.Errorf("env = %v, want %v", r.Env, want)
	}
}

func TestServiceLinksAndCommand(t *testing.T) {
	src := fakeSources{services: map[string][]*corev1.Service{
		"ns": {
			{ObjectMeta: metav1.ObjectMeta{Name: "redis-main"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.9",
				Ports: []corev1.ServicePort{{Name: "db", Port: 6379}, {Name: "metrics-http", Port: 9121, Protocol: corev1.ProtocolUDP}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}}},
		},
		"default": {{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.2", Ports: []corev1.ServicePort{{Port: 1}}}}},
	}}
	pod := basePod()
	pod.Spec.EnableServiceLinks = nil // default: on
	pod.Spec.Containers = []corev1.Container{{Name: "c",
		Command: []string{"/bin/app", "--redis=$(REDIS_MAIN_SERVICE_HOST):$(REDIS_MAIN_SERVICE_PORT)"},
		Args:    []string{"$(GREETING)", "$$(GREETING)", "$(NOPE)"},
		Env:     []corev1.EnvVar{{Name: "GREETING", Value: "hi"}, {Name: "REDIS_MAIN_PORT", Value: "mine"}}}}
	r, err := Resolve(src, pod, &pod.Spec.Containers[0], Node{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range r.Env {
		got[e.Name] = e.Value
	}
	want := map[string]string{
		"REDIS_MAIN_SERVICE_HOST":              "10.43.0.9",
		"REDIS_MAIN_SERVICE_PORT":              "6379",
		"REDIS_MAIN_SERVICE_PORT_DB":           "6379",
		"REDIS_MAIN_SERVICE_PORT_METRICS_HTTP": "9121",
		"REDIS_MAIN_PORT":                      "mine", // the container's own wins
		"REDIS_MAIN_PORT_6379_TCP":             "tcp://10.43.0.9:6379",
		"REDIS_MAIN_PORT_6379_TCP_PROTO":       "tcp",
		"REDIS_MAIN_PORT_6379_TCP_PORT":        "6379",
		"REDIS_MAIN_PORT_6379_TCP_ADDR":        "10.43.0.9",
		"REDIS_MAIN_PORT_9121_UDP":             "udp://10.43.0.9:9121",
		"KUBERNETES_SERVICE_HOST":              "10.43.0.1",
		"KUBERNETES_SERVICE_PORT_HTTPS":        "443",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "HEADLESS_") || strings.HasPrefix(k, "OTHER_") {
			t.Errorf("unexpected %s", k)
		}
	}
	if r.Command[1] != "--redis=10.43.0.9:6379" {
		t.Errorf("command = %v", r.Command)
	}
	if !reflect.DeepEqual(r.Args, []string{"hi", "$(GREETING)", "$(NOPE)"}) {
		t.Errorf("args = %v", r.Args)
	}

	// enableServiceLinks: false keeps only the kubernetes service.
	pod.Spec.EnableServiceLinks = ptr.To(false)
	r, _ = Resolve(src, pod, &pod.Spec.Containers[0], Node{}, nil)
	for _, e := range r.Env {
		if strings.HasPrefix(e.Name, "REDIS_MAIN_S") {
			t.Errorf("service links disabled but %s set", e.Name)
		}
	}
	if r.Command[1] != "--redis=$(REDIS_MAIN_SERVICE_HOST):$(REDIS_MAIN_SERVICE_PORT)" {
		t.Errorf("command without links = %v", r.Command)
	}
}
