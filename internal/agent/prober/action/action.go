package action

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Result is a probe's verdict, as the kubelet's probe results.
type Result int

const (
	// Unknown: the probe could not be run (a bad port name, a runtime
	// error); the prober ignores it rather than count it against the
	// container.
	Unknown Result = iota
	Success
	// Warning is a success with something worth an event (a redirect to
	// another host that was not followed).
	Warning
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Warning:
		return "warning"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// Execer runs a command in a container and waits for it; agent.Execer
// has the same method.
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error)
}

// Target is the container a handler acts on.
type Target struct {
	Container *corev1.Container
	// ContainerID is the runtime's ID of the running instance, for exec.
	ContainerID string
	// PodIP is where httpGet, tcpSocket and grpc connect unless the
	// handler names a host (the pod's primary IP, the node's for a
	// host-network pod).
	PodIP string
}

// maxOutput bounds the output a probe keeps for events and messages, as
// the kubelet keeps 10 KiB of a response body or command output.
const maxOutput = 10 << 10

// resolvePort turns a handler's port (a number or the name of one of the
// container's ports) into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if n := p.IntValue(); n > 0 && n < 65536 {
			return n, nil
		}
		return 0, fmt.Errorf("invalid port number %d", p.IntValue())
	}
	if c != nil {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	// Upstream accepts a number in string form too.
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n < 65536 {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port %q in the container's ports", p.StrVal)
}

func host(h, podIP string) string {
	if h != "" {
		return h
	}
	return podIP
}

func truncate(b []byte) string {
	if len(b) > maxOutput {
		b = b[:maxOutput]
	}
	return string(b)
}
