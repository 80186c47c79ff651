package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const appManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: shop
stringData:
  password: s3cret
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: example.com/web:1
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: web-config
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              name: http
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: missing %q in:\n%s", what, w, out)
		}
	}
}

func TestKubectlWorkflow(t *testing.T) {
	c := startCluster(t)
	manifest := writeFile(t, "app.yaml", appManifest)

	out := c.kubectl("apply", "-f", manifest)
	mustContain(t, "apply", out, "namespace/shop created", "configmap/web-config created", "secret/web-secret created",
		"deployment.apps/web created", "service/web created", "ingress.networking.k8s.io/web created")
	// A second apply is a no-op.
	out = c.kubectl("apply", "-f", manifest)
	mustContain(t, "re-apply", out, "deployment.apps/web unchanged", "service/web unchanged")

	out = c.kubectl("get", "deployments", "-n", "shop")
	mustContain(t, "get deployments", out, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "web")
	out = c.kubectl("get", "deployment", "web", "-n", "shop", "-o", "wide")
	mustContain(t, "get -o wide", out, "CONTAINERS", "IMAGES", "SELECTOR", "example.com/web:1", "app=web")
	out = c.kubectl("get", "svc", "web", "-n", "shop")
	mustContain(t, "get svc", out, "ClusterIP", "10.43.", "80/TCP")
	out = c.kubectl("get", "cm", "web-config", "-n", "shop", "-o", "yaml")
	mustContain(t, "get -o yaml", out, "greeting: hello", "resourceVersion:", "uid:")
	out = c.kubectl("get", "secret", "web-secret", "-n", "shop", "-o", "json")
	var secret struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &secret); err != nil || secret.Data["password"] != "czNjcmV0" {
		t.Fatalf("get -o json: %v %s", err, out)
	}
	out = c.kubectl("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	if out != "example.com/web:1" {
		t.Fatalf("jsonpath: %q", out)
	}
	out = c.kubectl("describe", "deployment", "web", "-n", "shop")
	mustContain(t, "describe", out, "Name:", "web", "Replicas:", "2 desired", "StrategyType:", "RollingUpdate")
	out = c.kubectl("get", "all", "-n", "shop")
	mustContain(t, "get all", out, "deployment.apps/web", "service/web")

	c.kubectl("label", "deployment", "web", "-n", "shop", "tier=frontend")
	c.kubectl("annotate", "deployment", "web", "-n", "shop", "owner=team-a")
	out = c.kubectl("get", "deploy", "-n", "shop", "-l", "tier=frontend", "-o", "jsonpath={.items[0].metadata.annotations.owner}")
	if out != "team-a" {
		t.Fatalf("label/annotate: %q", out)
	}
	c.kubectl("scale", "deployment", "web", "-n", "shop", "--replicas=5")
	if out := c.kubectl("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}"); out != "5" {
		t.Fatalf("scale: %q", out)
	}

	c.kubectl("patch", "deployment", "web", "-n", "shop", "--type=strategic", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"example.com/web:2"}]}}}}`)
	c.kubectl("patch", "deployment", "web", "-n", "shop", "--type=merge", "-p", `{"spec":{"minReadySeconds":3}}`)
	c.kubectl("patch", "deployment", "web", "-n", "shop", "--type=json", "-p", `[{"op":"replace","path":"/spec/revisionHistoryLimit","value":4}]`)
	out = c.kubectl("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.minReadySeconds} {.spec.revisionHistoryLimit} {.spec.template.spec.containers[0].ports[0].containerPort}")
	if out != "example.com/web:2 3 4 8080" {
		t.Fatalf("patches: %q", out)
	}

	// Edit-style update: kubectl edit through a non-interactive editor.
	editor := writeFile(t, "editor.sh", "#!/bin/sh\nsed -i 's/greeting: hello/greeting: edited/' \"$1\"\n")
	if err := os.Chmod(editor, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(skiffBin, "kubectl", "edit", "configmap", "web-config", "-n", "shop")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig(), "KUBE_EDITOR="+editor)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl edit: %v\n%s", err, b)
	}
	if out := c.kubectl("get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.data.greeting}"); out != "edited" {
		t.Fatalf("edit: %q", out)
	}
	// kubectl replace with a stale resourceVersion is refused with 409.
	stale := c.kubectl("get", "cm", "web-config", "-n", "shop", "-o", "yaml")
	c.kubectl("patch", "cm", "web-config", "-n", "shop", "-p", `{"data":{"greeting":"newer"}}`)
	out, err := c.kubectlIn(strings.Replace(stale, "greeting: edited", "greeting: stale", 1), "replace", "-f", "-")
	if err == nil {
		t.Fatalf("stale replace succeeded:\n%s", out)
	}
	mustContain(t, "stale replace", out, "Conflict", "the object has been modified")

	// An invalid manifest is refused with 422 naming the field.
	bad := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: shop
spec:
  selector:
    matchLabels:
      app: other
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: example.com/web:1
`
	out, err = c.kubectlIn(bad, "create", "-f", "-")
	if err == nil {
		t.Fatalf("invalid deployment accepted:\n%s", out)
	}
	mustContain(t, "invalid manifest", out, "is invalid", "spec.template.metadata.labels")
	out, err = c.kubectlIn(bad, "create", "-f", "-", "-v=6")
	mustContain(t, "invalid manifest status code", out, "422")
	_ = err

	// Cascading deletion in each mode, carried out by the garbage collector.
	for _, name := range []string{"bg", "fg", "orph"} {
		c.kubectl("create", "deployment", name, "-n", "shop", "--image=example.com/x:1", "--replicas=2")
		c.eventually(t, "replica set of "+name, func() bool {
			out, _ := c.kubectlErr("get", "rs", "-n", "shop", "-l", "app="+name, "-o", "name")
			return strings.TrimSpace(out) != ""
		})
	}
	c.kubectl("delete", "deployment", "bg", "-n", "shop", "--cascade=background")
	c.eventually(t, "background cascade", func() bool {
		out, _ := c.kubectlErr("get", "rs,pods", "-n", "shop", "-l", "app=bg", "-o", "name")
		return strings.TrimSpace(out) == ""
	})
	// Foreground: kubectl waits until the owner is gone, which happens only
	// after its dependents are.
	c.kubectl("delete", "deployment", "fg", "-n", "shop", "--cascade=foreground", "--timeout=60s")
	if out := c.kubectl("get", "rs,pods", "-n", "shop", "-l", "app=fg", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Fatalf("foreground delete returned before dependents were gone:\n%s", out)
	}
	c.kubectl("delete", "deployment", "orph", "-n", "shop", "--cascade=orphan")
	c.eventually(t, "orphaned replica set released", func() bool {
		out, _ := c.kubectlErr("get", "rs", "-n", "shop", "-l", "app=orph", "-o", "jsonpath={.items[*].metadata.ownerReferences}")
		return strings.TrimSpace(out) == ""
	})
	if out := c.kubectl("get", "rs", "-n", "shop", "-l", "app=orph", "-o", "name"); strings.TrimSpace(out) == "" {
		t.Fatal("orphan delete removed the replica set")
	}
}

func TestKubectlWatchSeesEveryChangeInOrder(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, "kubectl", "get", "configmaps", "-n", "default", "--watch-only",
		"--output-watch-events", "-o", "custom-columns=EVENT:.type,NAME:.object.metadata.name,V:.object.data.v", "--no-headers")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- strings.Join(strings.Fields(sc.Text()), " ")
		}
		close(lines)
	}()
	time.Sleep(500 * time.Millisecond) // let the watch start
	var want []string
	c.kubectl("create", "configmap", "w1", "--from-literal=v=0")
	want = append(want, "ADDED w1 0")
	for i := 1; i <= 5; i++ {
		v := string(rune('0' + i))
		c.kubectl("patch", "configmap", "w1", "-p", `{"data":{"v":"`+v+`"}}`)
		want = append(want, "MODIFIED w1 "+v)
	}
	c.kubectl("delete", "configmap", "w1")
	want = append(want, "DELETED w1 5")
	var got []string
	for len(got) < len(want) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch ended early; got %v", got)
			}
			got = append(got, l)
		case <-ctx.Done():
			t.Fatalf("timed out; got %v", got)
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("watch events\n got %v\nwant %v", got, want)
	}
}
