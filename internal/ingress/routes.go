package ingress

import "net"

// RoutesTo reports whether the proxy would send a new request to ip now:
// whether any backend's current endpoint list holds it. The node agent
// asks before it signals a deleted pod's containers, and waits while this
// holds, so that the pod leaves the rotation first.
func (c *Controller) RoutesTo(ip string) bool {
	t := c.table.Load()
	if t == nil {
		return false
	}
	for _, backends := range t.backends {
		for _, b := range backends {
			set := b.eps.Load()
			if set == nil {
				continue
			}
			for _, ep := range set.list {
				if host, _, err := net.SplitHostPort(ep.addr); err == nil && host == ip {
					return true
				}
			}
		}
	}
	return false
}
