package action

import (
	"context"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TCPSocket runs a tcpSocket probe: it passes when a connection opens
// within timeout, and the connection is closed at once.
func TCPSocket(ctx context.Context, a *corev1.TCPSocketAction, t Target, timeout time.Duration) (Result, string) {
	port, err := resolvePort(a.Port, t.Container)
	if err != nil {
		return Unknown, err.Error()
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host(a.Host, t.PodIP), strconv.Itoa(port)))
	if err != nil {
		return Failure, err.Error()
	}
	_ = conn.Close()
	return Success, ""
}
