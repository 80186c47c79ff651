package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/network/cni"
	"github.com/skiff-sh/skiff/test/images"
)

// TestServices runs a real node with its service proxy, cluster DNS and
// Ingress and checks issue 5 end to end: a 3-replica Deployment reached
// through its ClusterIP, its name and a NodePort with replies from every
// replica; a pod failing readiness leaving the rotation and coming back;
// headless and StatefulSet DNS names; an Ingress routing two hosts and
// two paths with TLS from a Secret; and a 10-replica Deployment rolled to
// a new version and back twice under a steady stream of requests through
// the ClusterIP and through the Ingress, with no preStop hook, losing
// none.
func TestServices(t *testing.T) {
	requireRealNode(t)
	archives := buildTestImages(t)
	dataDir, err := os.MkdirTemp("", "sksv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	bridgeExisted := linkExists(cni.BridgeName)
	t.Cleanup(func() { cleanupNode(t, dataDir, bridgeExisted) })
	var c *cluster
	t.Cleanup(func() {
		if t.Failed() && c != nil {
			t.Logf("server log:\n%s", c.logs)
		}
	})
	httpPort, httpsPort := freePort(t), freePort(t)
	c = startAgentCluster(t, dataDir, "--cluster-cidr", realClusterCIDR, "--service-cidr", realServiceCIDR,
		"--ingress-http-address", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--ingress-https-address", fmt.Sprintf("127.0.0.1:%d", httpsPort))
	t.Cleanup(func() { forceDeletePods(c) })
	socket := filepath.Join(dataDir, "containerd", "containerd.sock")
	c.eventually(t, "containerd to serve", func() bool { _, err := os.Stat(socket); return err == nil })
	if out, err := execSkiff(append([]string{"image", "import", "--container-runtime-endpoint", socket}, archives...)...); err != nil {
		t.Fatalf("skiff image import: %v\n%s", err, out)
	}
	client := c.client()
	ctx := context.Background()
	c.eventually(t, "the node to be Ready", func() bool { return nodeReady(ctx, client) })

	createTLSSecret(t, ctx, client, "a-tls", "a.example.com")
	if out, err := c.kubectlIn(servicesManifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	c.kubectl("run", "client", "--image", images.BusyboxRef, "--restart=Never", "--", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done")
	waitPhase(t, c, client, "client", corev1.PodRunning)
	c.eventually(t, "web's three endpoints to be ready", func() bool { return readyEndpoints(ctx, client, "web") == 3 })

	t.Run("ClusterIP, name and NodePort", func(t *testing.T) {
		svc, err := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"web", "web.default", "web.default.svc.cluster.local", svc.Spec.ClusterIP} {
			pods := replies(t, c, target, 30)
			if len(pods) != 3 {
				t.Errorf("30 requests to %s were answered by %v, want all 3 replicas", target, pods)
			}
		}
		gw := gatewayIP(t, ctx, client)
		nodePort := svc.Spec.Ports[0].NodePort
		seen := map[string]bool{}
		fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for range 30 {
			if pod, err := getPodHost(fmt.Sprintf("http://%s:%d/", gw, nodePort), "", fresh); err == nil {
				seen[pod] = true
			}
		}
		if len(seen) != 3 {
			t.Errorf("30 requests to NodePort %s:%d were answered by %v, want all 3 replicas", gw, nodePort, seen)
		}
		if pods := replies(t, c, fmt.Sprintf("%s:%d", gw, nodePort), 30); len(pods) != 3 {
			t.Errorf("30 requests from a pod to NodePort %s:%d were answered by %v, want all 3 replicas", gw, nodePort, pods)
		}
	})

	t.Run("kubernetes Service from a pod", func(t *testing.T) {
		// busybox's TLS client cannot complete a handshake with the API
		// server (it lacks the ciphers), but how it fails shows whether a
		// TLS server answered at kubernetes.default.svc:443.
		out, _ := c.kubectlErr("exec", "client", "--", "wget", "-qO-", "https://kubernetes.default.svc.cluster.local/version")
		if strings.Contains(out, "can't connect") || strings.Contains(out, "bad address") || !strings.Contains(out, "TLS") {
			t.Errorf("the kubernetes Service is not reachable from a pod:\n%s", out)
		}
	})

	t.Run("LoadBalancer status", func(t *testing.T) {
		c.kubectl("expose", "deployment", "web2", "--name", "web2-lb", "--type", "LoadBalancer", "--port", "8081", "--target-port", "8080")
		c.eventually(t, "the LoadBalancer Service to get the node's address", func() bool {
			svc, err := client.CoreV1().Services("default").Get(ctx, "web2-lb", metav1.GetOptions{})
			return err == nil && len(svc.Status.LoadBalancer.Ingress) > 0 && svc.Status.LoadBalancer.Ingress[0].IP != ""
		})
	})

	t.Run("readiness leaves and rejoins the rotation", func(t *testing.T) {
		pods, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		victim := pods.Items[0]
		setProbe(t, victim.Status.PodIP, "readyz", true)
		c.eventually(t, "the unready pod to leave the endpoints", func() bool { return readyEndpoints(ctx, client, "web") == 2 })
		if got := replies(t, c, "web", 20); got[victim.Name] || len(got) != 2 {
			t.Errorf("with %s unready, replies came from %v", victim.Name, got)
		}
		setProbe(t, victim.Status.PodIP, "readyz", false)
		c.eventually(t, "the pod to rejoin", func() bool { return readyEndpoints(ctx, client, "web") == 3 })
	})

	t.Run("DNS for headless services and StatefulSet pods", func(t *testing.T) {
		waitPhase(t, c, client, "db-1", corev1.PodRunning)
		for _, name := range []string{"db-0", "db-1"} {
			p, _ := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			host := name + ".db.default.svc.cluster.local"
			c.eventually(t, host+" to resolve to the pod", func() bool {
				out, _ := c.kubectlErr("exec", "client", "--", "nslookup", host)
				return strings.Contains(out, p.Status.PodIP)
			})
		}
		out, _ := c.kubectlErr("exec", "client", "--", "nslookup", "db.default.svc.cluster.local")
		if n := strings.Count(out, "Address: 10."); n < 2 {
			t.Errorf("headless db resolves to %d addresses, want both pods:\n%s", n, out)
		}
		if out, err := c.kubectlErr("exec", "client", "--", "nslookup", "nothing-here.default.svc.cluster.local"); err == nil {
			t.Errorf("a missing name resolved:\n%s", out)
		}
	})

	t.Run("Ingress hosts, paths and TLS", func(t *testing.T) {
		c.eventually(t, "web2 to be ready", func() bool { return readyEndpoints(ctx, client, "web2") == 1 })
		base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
		for _, tc := range []struct{ host, path, wantPrefix string }{
			{"a.example.com", "/", "web-"},
			{"b.example.com", "/two/x", "web2-"},
			{"b.example.com", "/", "web-"},
		} {
			var pod string
			c.eventually(t, "ingress to route "+tc.host+tc.path, func() bool {
				pod, _ = getPodHost(base+tc.path, tc.host, nil)
				return strings.HasPrefix(pod, tc.wantPrefix)
			})
		}
		tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}, //nolint:gosec // the test checks which certificate is served
		}}
		resp, err := tlsClient.Get(fmt.Sprintf("https://127.0.0.1:%d/", httpsPort))
		if err != nil {
			t.Fatalf("HTTPS through the Ingress: %v", err)
		}
		resp.Body.Close()
		if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "a.example.com" {
			t.Errorf("Ingress served a certificate for %q, want the Secret's a.example.com", cn)
		}
	})

	t.Run("rollout under load", func(t *testing.T) {
		c.kubectl("scale", "deployment", "web", "--replicas", "10")
		c.eventually(t, "ten ready endpoints", func() bool { return readyEndpoints(ctx, client, "web") == 10 })
		svc, _ := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		clusterIP := "http://" + svc.Spec.ClusterIP + "/"
		ingress := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
		viaService, viaIngress := startLoad(clusterIP, ""), startLoad(ingress, "a.example.com")
		for i, version := range []string{"v2", "v1", "v2", "v1"} {
			c.kubectl("set", "env", "deployment/web", "VERSION="+version)
			c.kubectl("rollout", "status", "deployment/web", "--timeout=3m")
			t.Logf("rollout %d (%s) done", i+1, version)
		}
		for name, l := range map[string]*load{"ClusterIP": viaService, "Ingress": viaIngress} {
			ok, failed, errs := l.stop()
			t.Logf("through the %s: %d requests, %d failed", name, ok+failed, failed)
			if failed > 0 || ok == 0 {
				t.Errorf("through the %s %d of %d requests failed during the rollouts: %v", name, failed, ok+failed, errs)
			}
		}
	})
}

const servicesManifest = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: server
        image: skiff.local/testserver:1
        env: [{name: VERSION, value: v1}]
        readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web2}
spec:
  replicas: 1
  selector: {matchLabels: {app: web2}}
  template:
    metadata: {labels: {app: web2}}
    spec:
      containers: [{name: server, image: skiff.local/testserver:1}]
---
apiVersion: v1
kind: Service
metadata: {name: web2}
spec:
  selector: {app: web2}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: server, image: skiff.local/testserver:1}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: two-hosts}
spec:
  tls: [{hosts: [a.example.com], secretName: a-tls}]
  rules:
  - host: a.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}]}
  - host: b.example.com
    http:
      paths:
      - {path: /two, pathType: Prefix, backend: {service: {name: web2, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`

// replies asks the client pod to fetch target n times and returns which
// pods answered.
func replies(t *testing.T, c *cluster, target string, n int) map[string]bool {
	t.Helper()
	// (Debian's static busybox wget crashes with -T.)
	script := fmt.Sprintf("for i in $(seq %d); do wget -qO- http://%s/; echo; done", n, target)
	out, err := c.kubectlErr("exec", "client", "--", "sh", "-c", script)
	if err != nil {
		t.Errorf("fetching %s from the client pod: %v\n%s", target, err, out)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		var r struct{ Pod string }
		if json.Unmarshal([]byte(line), &r) == nil && r.Pod != "" {
			seen[r.Pod] = true
		}
	}
	return seen
}

func readyEndpoints(ctx context.Context, client kubernetes.Interface, svc string) int {
	slices, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		return -1
	}
	n := 0
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
	}
	return n
}

// gatewayIP is the node's pod bridge address: the first of its pod CIDR.
func gatewayIP(t *testing.T, ctx context.Context, client kubernetes.Interface) string {
	t.Helper()
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("listing nodes: %v", err)
	}
	_, n, err := net.ParseCIDR(nodes.Items[0].Spec.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	ip := n.IP.To4()
	ip[3]++
	return ip.String()
}

func setProbe(t *testing.T, podIP, probe string, fail bool) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://%s/%s?fail=%t", net.JoinHostPort(podIP, "8080"), probe, fail), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// getPodHost fetches url (with Host header host) and returns the pod the
// testserver says answered.
func getPodHost(url, host string, hc *http.Client) (string, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	var r struct{ Pod string }
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("reply %q: %w", body, err)
	}
	return r.Pod, nil
}

// load is a steady stream of requests, 4 at a time with keep-alive, as a
// client of a web service would send them.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stopCh     chan struct{}
	wg         sync.WaitGroup
}

func startLoad(url, host string) *load {
	l := &load{stopCh: make(chan struct{})}
	hc := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stopCh:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if _, err := getPodHost(url, host, hc); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err.Error())
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
			}
		}()
	}
	return l
}

func (l *load) stop() (ok, failed int64, errs []string) {
	close(l.stopCh)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load(), l.errs
}

// execSkiff runs the skiff binary with args.
func execSkiff(args ...string) (string, error) {
	out, err := exec.Command(skiffBin, args...).CombinedOutput()
	return string(out), err
}

// createTLSSecret stores a self-signed certificate for host as a
// kubernetes.io/tls Secret.
func createTLSSecret(t *testing.T, ctx context.Context, client kubernetes.Interface, name, host string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}
	if _, err := client.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
