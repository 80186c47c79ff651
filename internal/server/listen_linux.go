package server

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenFreebind listens on addr even when the host does not have its IP
// yet. The node's pod gateway is assigned to the bridge only when CNI sets
// up the first pod, long after the API server started; IP_FREEBIND lets the
// socket bind now and accept as soon as the address appears.
func listenFreebind(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, _ string, c syscall.RawConn) error {
		level, opt := unix.IPPROTO_IP, unix.IP_FREEBIND
		if network == "tcp6" {
			level, opt = unix.IPPROTO_IPV6, unix.IPV6_FREEBIND
		}
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, 1) }); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setting FREEBIND: %w", serr)
		}
		return nil
	}}
	return lc.Listen(ctx, "tcp", addr)
}
