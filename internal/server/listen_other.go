//go:build !linux

package server

import (
	"context"
	"net"
)

// listenFreebind listens on addr; without Linux's IP_FREEBIND the address
// must already exist on the host.
func listenFreebind(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}
