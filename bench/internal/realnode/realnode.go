// Package realnode starts what the real-node benchmarks measure: `skiff
// server` with a node on containerd (in the server's process, or as a
// separate `skiff agent` whose own memory and CPU can then be read), the
// test images imported, and a client once the node is Ready. It needs
// root. Stop removes what it started, the pod bridge included when it
// created it; logs stay in the directory when a run failed.
package realnode

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/bench/internal/proc"
	"github.com/skiff-sh/skiff/internal/network/cni"
)

// Options say how to start the node.
type Options struct {
	// Bin is the skiff binary; ImageDir holds the test image archives
	// (make images).
	Bin, ImageDir string
	// SeparateAgent runs the node as `skiff agent --runtime=cri` next to
	// `skiff server --disable-agent`. The agent runs from its own copy of
	// the binary, as on a machine of its own: run from the server's file,
	// the kernel's fault-around maps into it the neighbours of every page
	// it touches that the server keeps cached, and its RSS measures the
	// server's working set as much as its own.
	SeparateAgent bool
	// ServerArgs are added to the server's flags.
	ServerArgs []string
}

// Node is a running control plane and node.
type Node struct {
	Dir           string
	Server, Agent *exec.Cmd
	Config        *rest.Config
	Client        kubernetes.Interface
	// NodeName is the node's, once Ready.
	NodeName      string
	bridgeExisted bool
}

// Start starts the node and waits until it is Ready with the test images.
func Start(ctx context.Context, o Options) (n *Node, err error) {
	dir, err := os.MkdirTemp("", "skbn") // short: containerd's socket path
	if err != nil {
		return nil, err
	}
	n = &Node{Dir: dir, bridgeExisted: linkExists(cni.BridgeName)}
	started := n // the error returns below set n to nil
	defer func() {
		if err != nil {
			started.Stop(false)
		}
	}()
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"server", "--data-dir", filepath.Join(dir, "server"), "--https-port", strconv.Itoa(port),
		"--cluster-cidr", "10.199.0.0/16", "--service-cidr", "10.198.0.0/16"}
	if o.SeparateAgent {
		args = append(args, "--disable-agent")
	}
	n.Server = exec.Command(o.Bin, append(args, o.ServerArgs...)...)
	n.Server.Stderr = n.logFile("server.log")
	if err := n.Server.Start(); err != nil {
		return nil, fmt.Errorf("starting the server: %w", err)
	}
	kubeconfig := filepath.Join(dir, "server", "kubeconfig.yaml")
	if err := proc.WaitFor(20*time.Second, func() bool { _, err := os.Stat(kubeconfig); return err == nil }); err != nil {
		return nil, fmt.Errorf("waiting for the kubeconfig: %w", err)
	}
	socket := filepath.Join(dir, "server", "containerd", "containerd.sock")
	if o.SeparateAgent {
		agentBin := filepath.Join(dir, "skiff-agent")
		if err := copyCold(o.Bin, agentBin); err != nil {
			return nil, err
		}
		n.Agent = exec.Command(agentBin, "agent", "--runtime=cri", "--kubeconfig", kubeconfig, "--node-name", "bench-node")
		n.Agent.Env = append(os.Environ(), "SKIFF_DATA_DIR="+filepath.Join(dir, "agent"))
		n.Agent.Stderr = n.logFile("agent.log")
		if err := n.Agent.Start(); err != nil {
			return nil, fmt.Errorf("starting the agent: %w", err)
		}
		socket = filepath.Join(dir, "agent", "containerd", "containerd.sock")
	}
	if err := n.importImages(o, socket); err != nil {
		return nil, err
	}
	if n.Config, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		return nil, err
	}
	n.Config.QPS, n.Config.Burst = -1, 0
	if n.Client, err = kubernetes.NewForConfig(n.Config); err != nil {
		return nil, err
	}
	if err := proc.WaitFor(time.Minute, func() bool { return n.ready(ctx) }); err != nil {
		return nil, fmt.Errorf("waiting for the node to be Ready: %w", err)
	}
	return n, nil
}

func (n *Node) importImages(o Options, socket string) error {
	if err := proc.WaitFor(30*time.Second, func() bool { _, err := os.Stat(socket); return err == nil }); err != nil {
		return fmt.Errorf("waiting for containerd: %w", err)
	}
	archives, _ := filepath.Glob(filepath.Join(o.ImageDir, "*.tar"))
	if len(archives) == 0 {
		return fmt.Errorf("no image archives in %s (make images)", o.ImageDir)
	}
	if out, err := exec.Command(o.Bin, append([]string{"image", "import", "--container-runtime-endpoint", socket}, archives...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("skiff image import: %w\n%s", err, out)
	}
	return nil
}

// ready reports whether the (only) node is Ready with a pod CIDR, and
// records its name.
func (n *Node) ready(ctx context.Context) bool {
	nodes, err := n.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 || nodes.Items[0].Spec.PodCIDR == "" {
		return false
	}
	node := &nodes.Items[0]
	n.NodeName = node.Name
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// logFile is where a process's log goes.
func (n *Node) logFile(name string) *os.File {
	f, err := os.Create(filepath.Join(n.Dir, name))
	if err != nil {
		return nil
	}
	return f
}

// Stop ends the agent and the server by the PIDs it started, removes the
// pod bridge if it created it, and the directory unless keepLogs (its
// path is then printed).
func (n *Node) Stop(keepLogs bool) {
	n.deleteWorkloads()
	for _, c := range []*exec.Cmd{n.Agent, n.Server} {
		if c != nil && c.Process != nil {
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
	}
	if !n.bridgeExisted && linkExists(cni.BridgeName) {
		_ = exec.Command("ip", "link", "delete", cni.BridgeName).Run()
	}
	if keepLogs {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", n.Dir)
		return
	}
	os.RemoveAll(n.Dir)
}

// deleteWorkloads deletes the benchmark's Deployments and pods in
// default and waits (up to a minute) until the pods are gone: a stopped
// node leaves its containers running, as a stopped kubelet does.
func (n *Node) deleteWorkloads() {
	if n.Client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = n.Client.AppsV1().Deployments("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = n.Client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = proc.WaitFor(time.Minute, func() bool {
		pods, err := n.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	})
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// copyCold copies the binary at src to dst and leaves none of the copy in
// the page cache, like a binary installed on a node some time ago.
func copyCold(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := unix.Fadvise(int(out.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		out.Close()
		return fmt.Errorf("evicting %s from the page cache: %w", dst, err)
	}
	return out.Close()
}
