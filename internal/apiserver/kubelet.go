package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// defaultKubeletPort is where an agent is assumed to listen when its Node
// does not say (status.daemonEndpoints.kubeletEndpoint.port is 0), as
// upstream's API server assumes for kubelets.
const defaultKubeletPort = 10250

// nodeAddressTypes is the order in which a Node's addresses are tried to
// reach its agent. Upstream's default starts with Hostname; this is the
// order kubeadm configures (--kubelet-preferred-address-types), because a
// node's hostname often does not resolve from the control plane while its
// InternalIP always routes.
var nodeAddressTypes = []corev1.NodeAddressType{
	corev1.NodeInternalIP,
	corev1.NodeExternalIP,
	corev1.NodeHostName,
	corev1.NodeInternalDNS,
	corev1.NodeExternalDNS,
}

// newKubeletTransport is the connection to node agents: TLS with the API
// server's client certificate, which agents check against the cluster CA.
//
// The agent's serving certificate is not verified. Upstream does the same
// unless --kubelet-certificate-authority is set, and Skiff's agents serve a
// self-signed certificate: the channel is encrypted, and the agent
// authenticates the API server, but the API server does not authenticate
// the agent.
func newKubeletTransport(cert *tls.Certificate) *http.Transport {
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // agents serve self-signed certificates; see above.
		MinVersion:         tls.VersionTLS12,
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		// Agents are reached directly, never through an environment proxy.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 10,
	}
}

// kubeletClient is the plain-HTTP client for agent endpoints that do not
// upgrade (container logs). Redirects are refused as upstream refuses
// them: a compromised agent must not turn the API server into a proxy to
// arbitrary addresses.
func newKubeletClient(t *http.Transport) *http.Client {
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// agentURL returns https://ADDRESS:PORT of the agent on node nodeName.
func (s *Server) agentURL(ctx context.Context, nodeName string) (*url.URL, error) {
	nodes := s.resources[corev1.SchemeGroupVersion.WithResource("nodes")]
	if nodes == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("nodes are not served"))
	}
	obj, _, err := s.current(ctx, nodes, nodes.key("", nodeName), false)
	if err != nil {
		return nil, storeError(err, nodes.groupResource(), nodeName)
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("node %q decoded as %T", nodeName, obj))
	}
	host := nodeAddress(node)
	if host == "" {
		return nil, apierrors.NewInternalError(fmt.Errorf(
			"node %q reports no address to reach its agent at: status.addresses has no InternalIP, ExternalIP or Hostname", nodeName))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = defaultKubeletPort
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}

// nodeAddress picks the node's first address of the most preferred type.
func nodeAddress(node *corev1.Node) string {
	for _, t := range nodeAddressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}
