package action

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
)

// GRPC runs a grpc probe: grpc.health.v1.Health/Check for the named
// service (empty: the server as a whole) on the pod IP, without TLS, as
// upstream; SERVING within timeout passes.
func GRPC(ctx context.Context, a *corev1.GRPCAction, t Target, timeout time.Duration) (Result, string) {
	addr := net.JoinHostPort(t.PodIP, strconv.Itoa(int(a.Port)))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(userAgent))
	if err != nil {
		return Unknown, fmt.Sprintf("connecting to %s: %v", addr, err)
	}
	defer conn.Close()
	service := ""
	if a.Service != nil {
		service = *a.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(true))
	switch {
	case err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
		return Success, ""
	case err == nil:
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus())
	case status.Code(err) == codes.Unimplemented:
		return Failure, fmt.Sprintf("this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", status.Convert(err).Message())
	case ctx.Err() != nil:
		return Failure, fmt.Sprintf("timeout: health rpc did not complete within %s", timeout)
	}
	return Failure, fmt.Sprintf("health rpc probe failed: %v", err)
}
