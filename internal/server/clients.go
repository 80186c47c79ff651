package server

import (
	"fmt"
	"net"

	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/pki"
)

// loopbackConfig is a client config for components inside this process
// (controllers, scheduler, simulated nodes): they reach the API server
// over its own TLS listener with a certificate of their own, exactly as
// they would reach a remote upstream server.
func loopbackConfig(bundle *pki.Bundle, addr net.Addr, user string) (*rest.Config, error) {
	certPEM, keyPEM, err := bundle.ClientCert(user, []string{pki.AdminGroup})
	if err != nil {
		return nil, fmt.Errorf("issuing client certificate for %s: %w", user, err)
	}
	return &rest.Config{
		Host: "https://" + addr.String(),
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   bundle.CAPEM(),
			CertData: certPEM,
			KeyData:  keyPEM,
		},
		// Protobuf is what upstream's own components speak; it is cheaper
		// to encode and decode than JSON.
		ContentConfig: rest.ContentConfig{
			ContentType:        "application/vnd.kubernetes.protobuf",
			AcceptContentTypes: "application/vnd.kubernetes.protobuf,application/json",
		},
		// In-process components are not throttled client-side: the
		// server's own capacity is the limit.
		QPS:       -1,
		UserAgent: "skiff/" + user,
	}, nil
}
