package core

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// sampleObjects has one object of each kind for table and wiring checks.
var sampleObjects = map[string]func() runtime.Object{
	"Namespace":             func() runtime.Object { return &corev1.Namespace{} },
	"Pod":                   func() runtime.Object { return &corev1.Pod{} },
	"Service":               func() runtime.Object { return &corev1.Service{} },
	"Endpoints":             func() runtime.Object { return &corev1.Endpoints{} },
	"ConfigMap":             func() runtime.Object { return &corev1.ConfigMap{} },
	"Secret":                func() runtime.Object { return &corev1.Secret{} },
	"ServiceAccount":        func() runtime.Object { return &corev1.ServiceAccount{} },
	"Node":                  func() runtime.Object { return &corev1.Node{} },
	"Event":                 func() runtime.Object { return &corev1.Event{} },
	"PersistentVolume":      func() runtime.Object { return &corev1.PersistentVolume{} },
	"PersistentVolumeClaim": func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
	"ReplicationController": func() runtime.Object { return &corev1.ReplicationController{} },
	"ResourceQuota":         func() runtime.Object { return &corev1.ResourceQuota{} },
	"LimitRange":            func() runtime.Object { return &corev1.LimitRange{} },
	"PodTemplate":           func() runtime.Object { return &corev1.PodTemplate{} },
}

func TestResourcesDiscovery(t *testing.T) {
	want := map[string]struct {
		short, categories []string
		namespaced        bool
		status            bool
	}{
		"pods":                   {[]string{"po"}, []string{"all"}, true, true},
		"services":               {[]string{"svc"}, []string{"all"}, true, true},
		"namespaces":             {[]string{"ns"}, nil, false, true},
		"nodes":                  {[]string{"no"}, nil, false, true},
		"configmaps":             {[]string{"cm"}, nil, true, false},
		"secrets":                {nil, nil, true, false},
		"serviceaccounts":        {[]string{"sa"}, nil, true, false},
		"endpoints":              {[]string{"ep"}, nil, true, false},
		"events":                 {[]string{"ev"}, nil, true, false},
		"persistentvolumes":      {[]string{"pv"}, nil, false, true},
		"persistentvolumeclaims": {[]string{"pvc"}, nil, true, true},
		"replicationcontrollers": {[]string{"rc"}, []string{"all"}, true, true},
		"resourcequotas":         {[]string{"quota"}, nil, true, true},
		"limitranges":            {[]string{"limits"}, nil, true, false},
		"podtemplates":           {nil, nil, true, false},
	}
	res := Resources(Config{})
	if len(res) != len(want) {
		t.Fatalf("%d resources, want %d", len(res), len(want))
	}
	for _, r := range res {
		w, ok := want[r.GVR.Resource]
		if !ok {
			t.Errorf("unexpected resource %s", r.GVR.Resource)
			continue
		}
		if r.GVR.Group != "" || r.GVR.Version != "v1" || r.Singular != strings.ToLower(r.Kind) {
			t.Errorf("%s: GVR %v singular %q kind %q", r.GVR.Resource, r.GVR, r.Singular, r.Kind)
		}
		if !slices.Equal(r.ShortNames, w.short) || !slices.Equal(r.Categories, w.categories) ||
			r.Namespaced != w.namespaced || r.HasStatus != w.status {
			t.Errorf("%s: short %v cat %v ns %v status %v", r.GVR.Resource, r.ShortNames, r.Categories, r.Namespaced, r.HasStatus)
		}
		if r.Strategy.Validate == nil {
			t.Errorf("%s has no Validate", r.GVR.Resource)
		}
	}
}

// Every Row must fill every column, even for an empty object, since the
// server always renders wide tables.
func TestRowsMatchColumns(t *testing.T) {
	for _, r := range Resources(Config{}) {
		obj := sampleObjects[r.Kind]()
		if r.Strategy.Columns == nil {
			if r.Strategy.Row != nil {
				t.Errorf("%s has a Row but no Columns", r.Kind)
			}
			continue
		}
		row, err := r.Strategy.Row(obj)
		if err != nil {
			t.Errorf("%s row: %v", r.Kind, err)
			continue
		}
		if len(row) != len(r.Strategy.Columns) {
			t.Errorf("%s: %d cells for %d columns", r.Kind, len(row), len(r.Strategy.Columns))
		}
		if _, err := r.Strategy.Row(&corev1.Binding{}); err == nil {
			t.Errorf("%s row accepted a wrong type", r.Kind)
		}
		// A wrong type is an internal error, not a panic.
		if errs := r.Strategy.Validate(&corev1.Binding{}); len(errs) != 1 {
			t.Errorf("%s validated a wrong type: %v", r.Kind, errs)
		}
	}
}

func TestFieldSelectors(t *testing.T) {
	byKind := map[string][]string{}
	for _, r := range Resources(Config{}) {
		if r.Strategy.Fields != nil {
			for k := range r.Strategy.Fields(sampleObjects[r.Kind]()) {
				byKind[r.Kind] = append(byKind[r.Kind], k)
			}
		}
	}
	want := map[string][]string{
		"Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
			"spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
		"Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
			"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
			"reason", "reportingComponent", "source", "type"},
		"Secret":                {"type"},
		"Node":                  {"spec.unschedulable"},
		"Namespace":             {"status.phase", "name"},
		"ReplicationController": {"status.replicas"},
		"Service":               {"spec.clusterIP", "spec.type"},
	}
	for kind, keys := range want {
		got := byKind[kind]
		slices.Sort(got)
		slices.Sort(keys)
		if !slices.Equal(got, keys) {
			t.Errorf("%s fields = %v, want %v", kind, got, keys)
		}
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true}, Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.7"}}}}
	f := podFields(pod)
	if f["spec.hostNetwork"] != "true" || f["status.podIP"] != "10.0.0.7" {
		t.Errorf("pod fields = %v", f)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{NodePortRange: [2]int{40000, 30000}}.withDefaults()
	if c.ServiceCIDR != netip.MustParsePrefix("10.96.0.0/12") || c.NodePortRange != [2]int{30000, 32767} {
		t.Errorf("defaults = %+v", c)
	}
	c = Config{ServiceCIDR: netip.MustParsePrefix("10.43.1.7/16"), NodePortRange: [2]int{31000, 31010}}.withDefaults()
	if c.ServiceCIDR.String() != "10.43.0.0/16" || c.NodePortRange != [2]int{31000, 31010} {
		t.Errorf("explicit config = %+v", c)
	}
}

func TestScale(t *testing.T) {
	res := replicationControllerResource()
	obj := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ReplicationControllerSpec{Selector: map[string]string{"app": "web", "tier": "fe"}},
		Status:     corev1.ReplicationControllerStatus{Replicas: 2},
	}
	spec, status, sel := res.Scale.Replicas(obj)
	if spec != 1 || status != 2 || sel != "app=web,tier=fe" {
		t.Errorf("scale = %d %d %q", spec, status, sel)
	}
	res.Scale.SetReplicas(obj, 5)
	if *obj.Spec.Replicas != 5 {
		t.Errorf("replicas = %d", *obj.Spec.Replicas)
	}
}
