package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-sh/skiff/internal/pki"
)

// AgentConfig is the real node `skiff server` runs unless --disable-agent.
type AgentConfig struct {
	// NodeName is the Node's name; empty means the lower-cased host name,
	// as the kubelet defaults it.
	NodeName string
	// ClusterCIDRs are the pod ranges (--cluster-cidr); with the service
	// range they get the node's blackhole routes.
	ClusterCIDRs []netip.Prefix
	// KubeletAddress is the listen address of the node's kubelet API
	// (logs, exec, attach, port-forward); empty means ":10250".
	KubeletAddress string
	// ClusterDNS is the cluster DNS Service's address, which the node
	// serves DNS for and gives ClusterFirst pods; empty means the 10th
	// address of the service range (10.43.0.10 by default), as k3s
	// chooses. ClusterDomain empty means cluster.local.
	ClusterDNS    string
	ClusterDomain string
	// IngressHTTPAddress and IngressHTTPSAddress are the node's Ingress
	// listeners; empty disables one, both empty the Ingress controller.
	IngressHTTPAddress, IngressHTTPSAddress string
	// Run runs the node until ctx ends and returns once it stopped,
	// containerd included. cmd/skiff passes one over cri.RunNode: this
	// package does not import the agent, whose dependencies (the
	// local-path provisioner's node cleaner) have tests that start a
	// server.
	Run func(ctx context.Context, node Node) error
}

// Node is what the server gives the node it runs.
type Node struct {
	Name   string
	Client kubernetes.Interface
	// DataDir is the server's: `skiff image` finds containerd's socket
	// at DATA_DIR/containerd/containerd.sock, as for `skiff agent`.
	DataDir string
	// ClusterCIDRs and ServiceCIDRs are the cluster's pod and service
	// ranges.
	ClusterCIDRs, ServiceCIDRs []netip.Prefix
	Recorder                   record.EventRecorder
	Log                        *slog.Logger
	// ClientCAs verify the API server's client certificate on the node's
	// kubelet API: the cluster CA. KubeletAddress is AgentConfig's.
	ClientCAs      *x509.CertPool
	KubeletAddress string
	// ClusterDNS (never empty) and the rest are AgentConfig's.
	ClusterDNS, ClusterDomain               string
	IngressHTTPAddress, IngressHTTPSAddress string
}

// ClusterDNSAddress is the cluster DNS Service's address k3s and kubeadm
// pick in a service range: its 10th address (10.43.0.10 in 10.43.0.0/16).
func ClusterDNSAddress(serviceCIDR netip.Prefix) (netip.Addr, error) {
	ip := serviceCIDR.Masked().Addr()
	for range 10 {
		ip = ip.Next()
	}
	if !serviceCIDR.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("service range %s is too small for a cluster DNS address", serviceCIDR)
	}
	return ip, nil
}

// nodeName is the configured name or the lower-cased host name.
func (c AgentConfig) nodeName() (string, error) {
	if c.NodeName != "" {
		return c.NodeName, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("node name: %w", err)
	}
	return strings.ToLower(host), nil
}

// startRealNode runs the node agent in the background; the returned
// channel is closed once it stopped, after ctx ends or on its own failure,
// which is logged.
func startRealNode(ctx context.Context, bundle *pki.Bundle, addr net.Addr, dataDir string, serviceCIDR netip.Prefix, ac AgentConfig, log *slog.Logger) (<-chan struct{}, error) {
	if ac.Run == nil {
		return nil, errors.New("server: AgentConfig.Run is required")
	}
	name, err := ac.nodeName()
	if err != nil {
		return nil, err
	}
	// The kubelet's identity, in the admin group until node authorization
	// exists.
	rc, err := loopbackConfig(bundle, addr, "system:node:"+name)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("node client: %w", err)
	}
	clusterDNS := ac.ClusterDNS
	if clusterDNS == "" {
		ip, err := ClusterDNSAddress(serviceCIDR)
		if err != nil {
			return nil, err
		}
		clusterDNS = ip.String()
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	node := Node{
		Name: name, Client: client, DataDir: dataDir,
		ClusterCIDRs: ac.ClusterCIDRs, ServiceCIDRs: []netip.Prefix{serviceCIDR},
		Recorder:       broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: name}),
		Log:            log.With("component", "agent"),
		ClientCAs:      bundle.CAPool,
		KubeletAddress: ac.KubeletAddress,
		ClusterDNS:     clusterDNS, ClusterDomain: ac.ClusterDomain,
		IngressHTTPAddress: ac.IngressHTTPAddress, IngressHTTPSAddress: ac.IngressHTTPSAddress,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer broadcaster.Shutdown()
		log.Info("Node agent starting", "node", name, "dataDir", dataDir)
		if err := ac.Run(ctx, node); err != nil {
			log.Error("Node agent stopped", "err", err)
			return
		}
		log.Info("Node agent stopped")
	}()
	return done, nil
}
