package cri_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/agent/cri"
	"github.com/skiff-sh/skiff/internal/agent/cri/critest"
	"github.com/skiff-sh/skiff/internal/network/cni"
	"github.com/skiff-sh/skiff/internal/server/servertest"
	"github.com/skiff-sh/skiff/test/images"
)

// TestClusterDNSAndIngress runs a real node with cluster DNS and an
// Ingress listener on loopback, gives it a pod CIDR of the test's own
// (its pods are on the real bridge, skiff0) and checks: the node created
// kube-system/kube-dns at the cluster DNS address and published its pod
// gateway as the Service's endpoint; a ClusterFirst pod's resolv.conf
// names the cluster DNS server, the namespace's search list and ndots:5;
// from inside that pod, nslookup against the gateway resolves a Service
// the test created (the ClusterIP itself needs the service proxy); the
// gateway answers over UDP and TCP from the host too; and the Ingress
// proxy routes a Host to a pod behind that Service.
func TestClusterDNSAndIngress(t *testing.T) {
	critest.RequireRealNode(t, "/bin/busybox")
	critest.RequireBridge(t)
	s := servertest.Start(t, servertest.Options{})
	dir := critest.ShortDir(t, "skdns")
	if out, err := exec.Command("ip", "link", "show", cni.BridgeName).CombinedOutput(); err == nil {
		t.Skipf("%s exists (another node runs here); this test would share it:\n%s", cni.BridgeName, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", cni.BridgeName).Run() })
	// Cancelled last, after the pods' cleanups deleted them through the
	// node (whose containers would outlive it) and the node stopped.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	const clusterDNS = "10.43.0.10"
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	critest.RunNode(t, ctx, cri.NodeConfig{NodeName: "real-0", Client: s.Client, DataDir: dir,
		ClusterDNS: []string{clusterDNS}, ServeDNS: true, IngressHTTPAddress: httpAddr})
	critest.ImportTestImages(t, filepath.Join(dir, "containerd", "containerd.sock"), "testserver.tar", "busybox.tar")

	svc, err := s.Client.CoreV1().Services("kube-system").Get(ctx, cri.DNSServiceName, metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != clusterDNS || svc.Labels["k8s-app"] != "kube-dns" || len(svc.Spec.Ports) != 2 {
		t.Fatalf("kube-dns Service = %+v, %v", svc, err)
	}
	octet := os.Getpid() % 250
	gateway := fmt.Sprintf("10.196.%d.1", octet)
	setPodCIDR(t, ctx, s.Client, fmt.Sprintf("10.196.%d.0/24", octet))
	waitFor(t, ctx, "the node's kube-dns endpoint", func() bool {
		es, err := s.Client.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-real-0", metav1.GetOptions{})
		return err == nil && es.Labels[discoveryv1.LabelServiceName] == "kube-dns" &&
			len(es.Endpoints) == 1 && es.Endpoints[0].Addresses[0] == gateway && *es.Endpoints[0].Conditions.Ready
	})

	webIP := startWeb(t, ctx, s.Client)
	web := createWebService(t, ctx, s.Client, webIP)
	out := critest.ShortDir(t, "skdnsout")
	runDig(t, ctx, s.Client, out, gateway, web.Spec.ClusterIP)
	resolv, _ := os.ReadFile(filepath.Join(out, "resolv.conf"))
	for _, want := range []string{"nameserver " + clusterDNS + "\n", "search default.svc.cluster.local svc.cluster.local cluster.local", "options ndots:5\n"} {
		if !strings.Contains(string(resolv), want) {
			t.Errorf("pod resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
	ns, _ := os.ReadFile(filepath.Join(out, "nslookup"))
	if !strings.Contains(string(ns), web.Spec.ClusterIP) {
		t.Errorf("nslookup from the pod did not answer %s:\n%s", web.Spec.ClusterIP, ns)
	}
	t.Logf("the pod's resolv.conf:\n%s\nits nslookup:\n%s", resolv, ns)
	for _, proto := range []string{"udp", "tcp"} {
		m := new(mdns.Msg).SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
		r, _, err := (&mdns.Client{Net: proto}).ExchangeContext(ctx, m, net.JoinHostPort(gateway, "53"))
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != web.Spec.ClusterIP {
			t.Errorf("%s query to %s = %v, %v; want %s", proto, gateway, r, err, web.Spec.ClusterIP)
		}
	}
	checkIngress(t, ctx, s.Client, httpAddr)
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// setPodCIDR does node IPAM's job, which this test server does not run.
func setPodCIDR(t *testing.T, ctx context.Context, c kubernetes.Interface, cidr string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, cidr, cidr)
	if _, err := c.CoreV1().Nodes().Patch(ctx, "real-0", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createPodDeleted creates pod and deletes it when t ends, waiting until
// it is gone so its sandbox's network is torn down before the node stops.
func createPodDeleted(t *testing.T, ctx context.Context, c kubernetes.Interface, pod *corev1.Pod) {
	t.Helper()
	if _, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.CoreV1().Pods("default").Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)})
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := c.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
			return err != nil, nil
		})
		if err != nil {
			t.Errorf("pod %s not deleted: %v", pod.Name, err)
		}
	})
}

// startWeb runs the testserver on the pod network and returns its IP.
func startWeb(t *testing.T, ctx context.Context, c kubernetes.Interface) string {
	t.Helper()
	createPodDeleted(t, ctx, c, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "real-0", TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{Name: "web", Image: images.TestServerRef, ImagePullPolicy: corev1.PullIfNotPresent}}},
	})
	var ip string
	waitFor(t, ctx, "the web pod to run", func() bool {
		p, err := c.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning {
			return false
		}
		ip = p.Status.PodIP
		return ip != ""
	})
	return ip
}

// createWebService is a selector-less Service with the web pod as its
// endpoint, written here since this server runs no controllers.
func createWebService(t *testing.T, ctx context.Context, c kubernetes.Interface, podIP string) *corev1.Service {
	t.Helper()
	svc, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name, port := "http", int32(8080)
	_, err = c.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{podIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// runDig runs a ClusterFirst busybox pod that copies its resolv.conf and
// the output of nslookup of the web Service against the gateway into
// out, retrying until the answer holds the ClusterIP (the DNS server
// answers SERVFAIL until its caches synced).
func runDig(t *testing.T, ctx context.Context, c kubernetes.Interface, out, gateway, clusterIP string) {
	t.Helper()
	script := fmt.Sprintf(`cp /etc/resolv.conf /out/resolv.conf
for i in $(seq 30); do
  nslookup web.default.svc.cluster.local %s >/out/nslookup 2>&1
  grep -q %s /out/nslookup && exit 0
  sleep 1
done
exit 1`, gateway, clusterIP)
	createPodDeleted(t, ctx, c, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "dig", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "real-0", RestartPolicy: corev1.RestartPolicyNever, DNSPolicy: corev1.DNSClusterFirst,
			Containers: []corev1.Container{{Name: "dig", Image: images.BusyboxRef, ImagePullPolicy: corev1.PullIfNotPresent,
				Command:      []string{"/bin/sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "out", MountPath: "/out"}}}},
			Volumes: []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: out}}}},
		},
	})
	var phase corev1.PodPhase
	waitFor(t, ctx, "the dig pod to finish", func() bool {
		p, err := c.CoreV1().Pods("default").Get(ctx, "dig", metav1.GetOptions{})
		if err == nil {
			phase = p.Status.Phase
		}
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed
	})
	if phase != corev1.PodSucceeded {
		ns, _ := os.ReadFile(filepath.Join(out, "nslookup"))
		t.Errorf("dig pod %s; last nslookup:\n%s", phase, ns)
	}
}

// checkIngress routes Host web.test through the node's Ingress proxy to
// the web pod.
func checkIngress(t *testing.T, ctx context.Context, c kubernetes.Interface, addr string) {
	t.Helper()
	prefix := networkingv1.PathTypePrefix
	_, err := c.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.test",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var status int
	var body []byte
	waitFor(t, ctx, "the Ingress to route web.test", func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/hello", nil)
		req.Host = "web.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		status = resp.StatusCode
		body, _ = io.ReadAll(resp.Body)
		return status == http.StatusOK
	})
	if !strings.Contains(string(body), "/hello") {
		t.Errorf("through the Ingress: %d %s; want the testserver's echo of /hello", status, body)
	}
}
