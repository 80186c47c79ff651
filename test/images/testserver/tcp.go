package main

import (
	"context"
	"errors"
	"io"
	"net"
)

// serveTCPEcho copies every connection's input back to it. When ctx ends
// it stops accepting; open connections live until the process exits.
func serveTCPEcho(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer conn.Close()
			_, _ = io.Copy(conn, conn)
		}()
	}
}
