package ingress

import (
	"context"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first Accept the way a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failed bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorDoesNotStopListener checks that a failed Accept is
// retried rather than ending the frontend.
func TestAcceptErrorDoesNotStopListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := newFrontend(&Controller{}, &flakyListener{Listener: ln}, nil)
	served := make(chan error, 1)
	go func() { served <- f.serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		f.shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	rc := dialRaw(t, ln.Addr().String())
	rc.send("GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	// No routing table yet: 503, but answered.
	if resp, _ := rc.read("GET"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 from a frontend still serving", resp.StatusCode)
	}
}
