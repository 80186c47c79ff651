package ingress

import (
	"net"
	"testing"
	"time"
)

// TestPutConnClosesStaleIdle returns a connection to an endpoint whose
// oldest idle connections have outlived the idle timeout: those are
// closed and dropped, the fresh ones kept.
func TestPutConnClosesStaleIdle(t *testing.T) {
	e := newEndpoint("192.0.2.1:80")
	pipe := func(idle time.Duration) (*upstreamConn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &upstreamConn{ep: e, conn: a, idleSince: time.Now().Add(-idle)}, b
	}
	old1, peer1 := pipe(2 * upstreamIdleTimeout)
	old2, peer2 := pipe(upstreamIdleTimeout + time.Second)
	recent, peerRecent := pipe(time.Second)
	e.idle = []*upstreamConn{old1, old2, recent}

	back, _ := pipe(0)
	e.putConn(back)

	if len(e.idle) != 2 || e.idle[0] != recent || e.idle[1] != back {
		t.Fatalf("idle stack after putConn: %d connections, want the recent one and the returned one", len(e.idle))
	}
	for name, peer := range map[string]net.Conn{"oldest": peer1, "second oldest": peer2} {
		_ = peer.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := peer.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("%s idle connection not closed (read: %v)", name, err)
		}
	}
	_ = peerRecent.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := peerRecent.Read(make([]byte, 1)); !isTimeout(err) {
		t.Errorf("recent idle connection closed (read: %v)", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
