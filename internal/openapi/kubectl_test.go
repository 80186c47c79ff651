package openapi

// These tests run kubectl's and client-go's own code against the handler
// over HTTP, so they check what kubectl actually reads rather than our
// idea of it.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi/cached"
	"k8s.io/client-go/openapi3"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
	"sigs.k8s.io/yaml"
)

var (
	deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	configMapGVK  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
)

// TestKubectlFieldValidationVerifier runs the verifiers `kubectl apply`
// and `kubectl create` use to decide whether the server validates fields
// itself (then kubectl skips client-side schema validation).
func TestKubectlFieldValidationVerifier(t *testing.T) {
	_, cfg := testServer(t)
	dc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)

	v3 := resource.NewQueryParamVerifierV3(dyn, cached.NewClient(dc.OpenAPIV3()), resource.QueryParamFieldValidation)
	v2 := resource.NewQueryParamVerifier(dyn, kubectlopenapi.NewOpenAPIGetter(dc), resource.QueryParamFieldValidation)
	gvks := []schema.GroupVersionKind{deploymentGVK, configMapGVK}
	for _, r := range testResources() {
		if r.Kind != "Binding" && !strings.HasSuffix(r.Kind, "Review") {
			gvks = append(gvks, r.GroupVersionKind())
		}
	}
	for _, gvk := range gvks {
		if err := v3.HasSupport(gvk); err != nil {
			t.Errorf("v3 verifier: %v", err)
		}
		if err := v2.HasSupport(gvk); err != nil {
			t.Errorf("v2 verifier: %v", err)
		}
	}
}

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: skiff, cluster: {server: "` + server + `"}}]
users: [{name: skiff, user: {}}]
contexts: [{name: skiff, context: {cluster: skiff, user: skiff}}]
current-context: skiff
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKubectlFactoryValidator goes through kubectl's factory, as
// `kubectl apply --validate=strict` does: because the server declares
// fieldValidation, kubectl leaves unknown fields for the server to reject.
func TestKubectlFactoryValidator(t *testing.T) {
	srv, _ := testServer(t)
	flags := genericclioptions.NewConfigFlags(true)
	kubeconfig, cacheDir := writeKubeconfig(t, srv.URL), t.TempDir()
	flags.KubeConfig, flags.CacheDir = &kubeconfig, &cacheDir
	f := cmdutil.NewFactory(flags)

	v, err := f.Validator(metav1.FieldValidationStrict)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(validManifests["Deployment"], "replicas: 3", "replicas: 3\n  replicaz: 3", 1)
	if err := v.ValidateBytes([]byte(bad)); err != nil {
		t.Errorf("kubectl validated client-side although the server supports fieldValidation: %v", err)
	}
	// The v2 schema kubectl falls back to parses and knows Deployment.
	res, err := f.OpenAPISchema()
	if err != nil {
		t.Fatal(err)
	}
	if res.LookupResource(deploymentGVK) == nil {
		t.Error("kubectl's v2 resources lack Deployment")
	}
}

type resourcesGetter struct{ kubectlopenapi.Resources }

func (g resourcesGetter) OpenAPISchema() (kubectlopenapi.Resources, error) { return g.Resources, nil }

var validManifests = map[string]string{
	"Deployment": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
  annotations: {a: b}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: "25%"}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80, name: http}]
        env: [{name: A, value: "1"}, {name: B, valueFrom: {configMapKeyRef: {name: cfg, key: b}}}]
        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 1, memory: 128Mi}}
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 5}
        livenessProbe: {tcpSocket: {port: 80}}
        volumeMounts: [{name: data, mountPath: /data}]
      volumes:
      - name: data
        emptyDir: {sizeLimit: 1Gi}
      - name: cfg
        configMap: {name: cfg, items: [{key: a, path: a.txt}]}
      tolerations: [{key: k, operator: Exists, effect: NoSchedule}]
`,
	"Service": `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, protocol: TCP}, {name: b, port: 81, targetPort: http, nodePort: 30001}]
  type: NodePort
`,
	"Secret": `apiVersion: v1
kind: Secret
metadata: {name: s}
type: Opaque
data: {password: cGFzcw==}
stringData: {user: admin}
`,
	"CronJob": `apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox, command: [sh, -c, date]}]
`,
	"StatefulSet": `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`,
	"Ingress": `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i}
spec:
  tls: [{hosts: [a.example], secretName: tls}]
  rules:
  - host: a.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
`,
	"RoleBinding": `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects: [{kind: ServiceAccount, name: default, namespace: ns}]
`,
}

// TestKubectlSchemaValidation runs kubectl's client-side validation (used
// when a server does not declare fieldValidation) over the v2 document.
func TestKubectlSchemaValidation(t *testing.T) {
	_, cfg := testServer(t)
	doc, err := discovery.NewDiscoveryClientForConfigOrDie(cfg).OpenAPISchema()
	if err != nil {
		t.Fatal(err)
	}
	res, err := kubectlopenapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatal(err)
	}
	v := validation.NewSchemaValidation(resourcesGetter{res})
	for kind, m := range validManifests {
		if err := v.ValidateBytes([]byte(m)); err != nil {
			t.Errorf("valid %s rejected: %v", kind, err)
		}
	}
	for name, bad := range map[string]string{
		"unknown field": strings.Replace(validManifests["Deployment"], "replicas: 3", "replicas: 3\n  replicaz: 3", 1),
		"wrong type":    strings.Replace(validManifests["Deployment"], "replicas: 3", "replicas: [3]", 1),
		"missing name":  strings.Replace(validManifests["Deployment"], "- name: web\n        image:", "- image:", 1),
	} {
		if err := v.ValidateBytes([]byte(bad)); err == nil {
			t.Errorf("Deployment with %s accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if got := res.GetConsumes(deploymentGVK, "PATCH"); !strings.Contains(strings.Join(got, ","), "application/strategic-merge-patch+json") {
		t.Errorf("PATCH consumes %v", got)
	}
}

// TestStrategicMergePatchFromV3 does what `kubectl apply` does to build
// its patch: find the kind in the group version's v3 document, check its
// PATCH accepts strategic merge patches and diff with its patch metadata.
func TestStrategicMergePatchFromV3(t *testing.T) {
	_, cfg := testServer(t)
	root := openapi3.NewRoot(discovery.NewDiscoveryClientForConfigOrDie(cfg).OpenAPIV3())
	gvSpec, err := root.GVSpec(deploymentGVK.GroupVersion())
	if err != nil {
		t.Fatal(err)
	}
	smp := false
	for _, p := range gvSpec.Paths.Paths {
		if p.Patch != nil && p.Patch.Extensions[extGVK] != nil {
			gvk := p.Patch.Extensions[extGVK].(map[string]any)
			if gvk["kind"] == "Deployment" && p.Patch.RequestBody != nil {
				_, smp = p.Patch.RequestBody.Content["application/strategic-merge-patch+json"]
			}
		}
	}
	if !smp {
		t.Fatal("Deployment PATCH does not offer strategic merge patch")
	}
	var meta strategicpatch.LookupPatchMeta
	for _, s := range gvSpec.Components.Schemas {
		if gvks, ok := s.Extensions[extGVK].([]any); ok && len(gvks) == 1 && gvks[0].(map[string]any)["kind"] == "Deployment" {
			meta = strategicpatch.PatchMetaFromOpenAPIV3{Schema: s, SchemaList: gvSpec.Components.Schemas}
		}
	}
	if meta == nil {
		t.Fatal("no schema with the Deployment GVK")
	}
	toJSON := func(y string) []byte {
		j, err := yaml.YAMLToJSON([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	original := toJSON(validManifests["Deployment"])
	modified := toJSON(strings.Replace(validManifests["Deployment"], "      volumes:",
		"      - name: sidecar\n        image: busybox\n      volumes:", 1))
	patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, original, meta, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(patch, []byte(`"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}]`)) {
		t.Errorf("patch does not merge containers by name: %s", patch)
	}
}

// TestKubectlExplain renders `kubectl explain` output from the v3
// documents.
func TestKubectlExplain(t *testing.T) {
	_, cfg := testServer(t)
	client := discovery.NewDiscoveryClientForConfigOrDie(cfg).OpenAPIV3()
	for _, c := range []struct {
		gvr    schema.GroupVersionResource
		fields []string
		want   []string
	}{
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, nil,
			[]string{"GROUP:      apps", "KIND:       Deployment", "VERSION:    v1", "spec\t<DeploymentSpec>"}},
		{schema.GroupVersionResource{Version: "v1", Resource: "pods"}, []string{"spec", "containers"},
			[]string{"KIND:       Pod", "FIELD: containers <[]Container>", "name\t<string> -required-", "resources\t<ResourceRequirements>"}},
		{schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, []string{"status", "capacity"},
			[]string{"FIELD: capacity <map[string]Quantity>"}},
	} {
		var out bytes.Buffer
		if err := explainv2.PrintModelDescription(c.fields, &out, openapi.Client(client), c.gvr, false, 0, "plaintext"); err != nil {
			t.Errorf("explain %v %v: %v", c.gvr, c.fields, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("explain %s %v: no %q in\n%s", c.gvr.Resource, c.fields, w, out.String())
			}
		}
	}
}
