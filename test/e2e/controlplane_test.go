package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// The control plane tests run on simulated nodes (see
// internal/agent/simulated): pods go through the real status sequence
// without containers.

const rollingDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  progressDeadlineSeconds: 60
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {sim.skiff.dev/ready-after: "300ms"}
    spec:
      containers:
      - name: web
        image: example.com/web:1
`

// podCounter follows pods with a label from a watch and records the most
// pods present and the fewest ready at any moment.
type podCounter struct {
	mu       sync.Mutex
	pods     map[string]*corev1.Pod
	maxPods  int
	minReady int
	lowest   string // the pods present when the fewest were ready
	tracking bool
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (pc *podCounter) update(p *corev1.Pod, gone bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if gone || p.DeletionTimestamp != nil {
		delete(pc.pods, p.Name)
	} else {
		pc.pods[p.Name] = p
	}
	if !pc.tracking {
		return
	}
	ready := 0
	for _, q := range pc.pods {
		if isReady(q) {
			ready++
		}
	}
	pc.maxPods = max(pc.maxPods, len(pc.pods))
	if ready < pc.minReady {
		pc.minReady = ready
		var st []string
		for n, q := range pc.pods {
			st = append(st, fmt.Sprintf("%s(ready=%v phase=%s)", n, isReady(q), q.Status.Phase))
		}
		pc.lowest = strings.Join(st, " ")
	}
}

func watchPods(t *testing.T, c *cluster, selector string) *podCounter {
	pc := &podCounter{pods: map[string]*corev1.Pod{}, minReady: 1 << 30}
	f := informers.NewSharedInformerFactoryWithOptions(c.client(), 0, informers.WithNamespace("default"),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	_, _ = f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { pc.update(o.(*corev1.Pod), false) },
		UpdateFunc: func(_, o any) { pc.update(o.(*corev1.Pod), false) },
		DeleteFunc: func(o any) {
			if p, ok := o.(*corev1.Pod); ok {
				pc.update(p, true)
			}
		},
	})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	f.Start(stop)
	f.WaitForCacheSync(stop)
	return pc
}

func TestDeploymentRollouts(t *testing.T) {
	c := startCluster(t, "--simulated-nodes", "3")
	c.kubectlIn(rollingDeployment, "apply", "-f", "-")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	pc := watchPods(t, c, "app=web")
	// Handlers see the initial list after the cache reports synced: start
	// counting once all four ready pods have arrived.
	c.eventually(t, "the watcher to see 4 ready pods", func() bool {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		ready := 0
		for _, p := range pc.pods {
			if isReady(p) {
				ready++
			}
		}
		pc.tracking = ready == 4 && len(pc.pods) == 4
		return pc.tracking
	})
	for _, v := range []string{"2", "3"} {
		c.kubectl("set", "image", "deployment/web", "web=example.com/web:"+v)
		out := c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
		mustContain(t, "rollout status", out, "successfully rolled out")
	}
	pc.mu.Lock()
	if pc.maxPods > 5 || pc.minReady < 3 {
		t.Fatalf("rollout broke its bounds: at most %d pods (limit 5), at least %d ready (limit 3); at the low point: %s", pc.maxPods, pc.minReady, pc.lowest)
	}
	pc.mu.Unlock()
	out := c.kubectl("rollout", "history", "deployment/web")
	mustContain(t, "rollout history", out, "1 ", "2 ", "3 ")

	c.kubectl("rollout", "undo", "deployment/web", "--to-revision=1")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	if img := c.kubectl("get", "deploy/web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "example.com/web:1" {
		t.Fatalf("undo to revision 1: image %q", img)
	}

	c.kubectl("rollout", "pause", "deployment/web")
	c.kubectl("set", "image", "deployment/web", "web=example.com/web:4")
	time.Sleep(time.Second)
	if n := c.kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"); strings.Contains(n, "web:4") {
		t.Fatalf("paused deployment rolled out: %s", n)
	}
	c.kubectl("rollout", "resume", "deployment/web")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")

	// A rollout whose pods never become ready exceeds its deadline.
	stuck := strings.NewReplacer("name: web", "name: stuck", "app: web", "app: stuck", "progressDeadlineSeconds: 60", "progressDeadlineSeconds: 3",
		`sim.skiff.dev/ready-after: "300ms"`, `sim.skiff.dev/ready: "false"`).Replace(rollingDeployment)
	c.kubectlIn(stuck, "apply", "-f", "-")
	out, err := c.kubectlErr("rollout", "status", "deployment/stuck", "--timeout=60s")
	if err == nil {
		t.Fatalf("rollout status of a stuck deployment succeeded:\n%s", out)
	}
	mustContain(t, "stuck rollout", out, "exceeded its progress deadline")
	out = c.kubectl("get", "deploy/stuck", "-o", `jsonpath={.status.conditions[?(@.type=="Progressing")].reason}`)
	if out != "ProgressDeadlineExceeded" {
		t.Fatalf("Progressing reason %q", out)
	}
}

// startAgent runs a standalone simulated node against the cluster.
func startAgent(t *testing.T, c *cluster, node string) *exec.Cmd {
	cmd := exec.Command(skiffBin, "agent", "--runtime=simulated", "--kubeconfig", c.kubeconfig(), "--node-name", node)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func TestWorkloadsOnSimulatedNodes(t *testing.T) {
	c := startCluster(t, "--simulated-nodes", "3")

	t.Run("daemonset follows nodes", func(t *testing.T) {
		c.kubectlIn(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: a, image: example.com/agent:1}]}
`, "apply", "-f", "-")
		count := func() string {
			return c.kubectl("get", "ds/agent", "-o", "jsonpath={.status.numberReady}")
		}
		c.eventually(t, "3 daemon pods", func() bool { return count() == "3" })
		agent := startAgent(t, c, "extra-node")
		c.eventually(t, "4 daemon pods", func() bool { return count() == "4" })
		_ = agent.Process.Kill()
		_ = agent.Wait()
		c.kubectl("delete", "node", "extra-node")
		c.eventually(t, "back to 3 daemon pods", func() bool {
			return count() == "3" && c.kubectl("get", "ds/agent", "-o", "jsonpath={.status.desiredNumberScheduled}") == "3"
		})
	})

	t.Run("statefulset scales in order and keeps claims", func(t *testing.T) {
		c.kubectlIn(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: example.com/db:1}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`, "apply", "-f", "-")
		c.kubectl("rollout", "status", "sts/db", "--timeout=60s")
		// Ordered creation: each pod started after the previous one.
		out := c.kubectl("get", "pods", "-l", "app=db", "--sort-by=.metadata.creationTimestamp", "-o", "jsonpath={.items[*].metadata.name}")
		if out != "db-0 db-1 db-2" {
			t.Fatalf("pods %q", out)
		}
		c.kubectl("scale", "sts/db", "--replicas=1")
		c.eventually(t, "scale down to db-0", func() bool {
			return c.kubectl("get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.name}") == "db-0"
		})
		out = c.kubectl("get", "pvc", "-o", "name")
		mustContain(t, "claims kept", out, "data-db-0", "data-db-1", "data-db-2")
	})

	t.Run("jobs finish or hit their backoff limit", func(t *testing.T) {
		c.kubectlIn(`apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 5
  parallelism: 2
  template:
    metadata: {annotations: {sim.skiff.dev/run-duration: "500ms", sim.skiff.dev/exit-code: "0"}}
    spec:
      restartPolicy: Never
      containers: [{name: w, image: example.com/worker:1}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: failing}
spec:
  backoffLimit: 1
  template:
    metadata: {annotations: {sim.skiff.dev/run-duration: "200ms", sim.skiff.dev/exit-code: "3"}}
    spec:
      restartPolicy: Never
      containers: [{name: w, image: example.com/worker:1}]
`, "apply", "-f", "-")
		c.kubectl("wait", "--for=condition=Complete", "job/batch", "--timeout=90s")
		if out := c.kubectl("get", "job/batch", "-o", "jsonpath={.status.succeeded}"); out != "5" {
			t.Fatalf("succeeded %q", out)
		}
		c.kubectl("wait", "--for=condition=Failed", "job/failing", "--timeout=90s")
		if out := c.kubectl("get", "job/failing", "-o", `jsonpath={.status.conditions[?(@.type=="Failed")].reason}`); out != "BackoffLimitExceeded" {
			t.Fatalf("failed reason %q", out)
		}
	})

	t.Run("unschedulable pods are explained", func(t *testing.T) {
		c.kubectlIn(`apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers:
  - name: c
    image: example.com/big:1
    resources: {requests: {cpu: "1000"}}
`, "apply", "-f", "-")
		c.eventually(t, "FailedScheduling", func() bool {
			out, _ := c.kubectlErr("describe", "pod", "huge")
			return strings.Contains(out, "0/3 nodes are available: 3 Insufficient cpu.")
		})
		out := c.kubectl("get", "pod", "huge", "-o", `jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}`)
		if out != "Unschedulable" {
			t.Fatalf("PodScheduled reason %q", out)
		}
	})

	t.Run("namespace deletion empties it", func(t *testing.T) {
		c.kubectl("create", "namespace", "doomed")
		c.kubectl("create", "deployment", "app", "-n", "doomed", "--image=example.com/app:1", "--replicas=2")
		c.kubectl("create", "configmap", "cfg", "-n", "doomed")
		c.eventually(t, "pods running", func() bool {
			return c.kubectl("get", "deploy/app", "-n", "doomed", "-o", "jsonpath={.status.readyReplicas}") == "2"
		})
		c.kubectl("delete", "namespace", "doomed", "--timeout=90s")
		if _, err := c.kubectlErr("get", "namespace", "doomed"); err == nil {
			t.Fatal("namespace still exists")
		}
	})

	t.Run("cronjob fires", func(t *testing.T) {
		c.kubectlIn(`apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {annotations: {sim.skiff.dev/run-duration: "100ms", sim.skiff.dev/exit-code: "0"}}
        spec:
          restartPolicy: Never
          containers: [{name: w, image: example.com/tick:1}]
`, "apply", "-f", "-")
		deadline := time.Now().Add(75 * time.Second)
		for {
			out := c.kubectl("get", "jobs", "-o", "jsonpath={.items[*].metadata.ownerReferences[0].name}")
			if strings.Contains(out, "tick") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("cronjob did not create a job within 75s")
			}
			time.Sleep(time.Second)
		}
		c.eventually(t, "lastScheduleTime", func() bool {
			return c.kubectl("get", "cronjob/tick", "-o", "jsonpath={.status.lastScheduleTime}") != ""
		})
	})
}

func TestNodeFailureAndDrain(t *testing.T) {
	c := startCluster(t, "--simulated-nodes", "3", "--node-monitor-grace-period", "4s", "--default-toleration-seconds", "2")
	agent := startAgent(t, c, "doomed-node")
	c.eventually(t, "doomed-node Ready", func() bool {
		out, _ := c.kubectlErr("get", "node", "doomed-node", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return out == "True"
	})
	c.kubectl("label", "node", "doomed-node", "pick=me")
	c.kubectlIn(`apiVersion: apps/v1
kind: Deployment
metadata: {name: mover}
spec:
  replicas: 2
  selector: {matchLabels: {app: mover}}
  template:
    metadata: {labels: {app: mover}}
    spec:
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            preference: {matchExpressions: [{key: pick, operator: In, values: [me]}]}
      containers: [{name: m, image: example.com/mover:1}]
`, "apply", "-f", "-")
	c.kubectl("rollout", "status", "deploy/mover", "--timeout=60s")
	onDoomed := func() string {
		return c.kubectl("get", "pods", "-l", "app=mover", "--field-selector", "spec.nodeName=doomed-node", "-o", "name")
	}
	if strings.TrimSpace(onDoomed()) == "" {
		t.Fatal("no pod landed on doomed-node")
	}
	// Kill the node: its heartbeats stop, as if the machine died.
	_ = agent.Process.Kill()
	_ = agent.Wait()
	c.eventually(t, "doomed-node Unknown and tainted", func() bool {
		out := c.kubectl("get", "node", "doomed-node", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}`)
		return strings.HasPrefix(out, "Unknown") && strings.Contains(out, "node.kubernetes.io/unreachable")
	})
	c.eventually(t, "replacements running elsewhere", func() bool {
		out := c.kubectl("get", "pods", "-l", "app=mover", "-o",
			`jsonpath={range .items[?(@.metadata.deletionTimestamp)]}x{end}|{range .items[*]}{.spec.nodeName}={.status.phase} {end}`)
		parts := strings.SplitN(out, "|", 2)
		running := 0
		for _, f := range strings.Fields(parts[1]) {
			if strings.HasSuffix(f, "=Running") && !strings.HasPrefix(f, "doomed-node=") {
				running++
			}
		}
		return running >= 2
	})

	// Drain a node while a budget protects the workload.
	c.kubectlIn(`apiVersion: apps/v1
kind: Deployment
metadata: {name: guarded}
spec:
  replicas: 3
  selector: {matchLabels: {app: guarded}}
  template:
    metadata: {labels: {app: guarded}}
    spec:
      containers: [{name: g, image: example.com/guarded:1}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded}
spec:
  minAvailable: 3
  selector: {matchLabels: {app: guarded}}
`, "apply", "-f", "-")
	c.kubectl("rollout", "status", "deploy/guarded", "--timeout=60s")
	node := strings.Fields(c.kubectl("get", "pods", "-l", "app=guarded", "-o", "jsonpath={.items[0].spec.nodeName}"))[0]
	out, err := c.kubectlErr("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--pod-selector=app=guarded", "--timeout=6s")
	if err == nil {
		t.Fatalf("drain ignored a budget that allows no disruption:\n%s", out)
	}
	mustContain(t, "drain refused", out, "Cannot evict pod as it would violate the pod's disruption budget")
	// Loosen the budget: the drain now evicts, one disruption at a time.
	c.kubectl("patch", "pdb", "guarded", "--type=merge", "-p", `{"spec":{"minAvailable":2}}`)
	c.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--pod-selector=app=guarded", "--timeout=60s")
	c.eventually(t, "guarded back to 3 ready", func() bool {
		return c.kubectl("get", "deploy/guarded", "-o", "jsonpath={.status.readyReplicas}") == "3"
	})
	if out := c.kubectl("get", "pods", "-l", "app=guarded", "--field-selector", "spec.nodeName="+node, "-o", "name"); strings.TrimSpace(out) != "" {
		t.Fatalf("pods still on the drained node: %s", out)
	}
}
