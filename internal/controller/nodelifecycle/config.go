package nodelifecycle

import "time"

// Upstream's defaults (kube-controller-manager flags of the same names).
const (
	DefaultNodeMonitorPeriod      = 5 * time.Second
	DefaultNodeMonitorGracePeriod = 50 * time.Second // 40s before Kubernetes 1.32
	DefaultNodeStartupGracePeriod = time.Minute
	// DefaultNodeEvictionRate is in nodes per second per zone: one node is
	// tainted for eviction every 10s at most.
	DefaultNodeEvictionRate          float32 = 0.1
	DefaultSecondaryNodeEvictionRate float32 = 0.01
	DefaultLargeClusterSizeThreshold int32   = 50
	DefaultUnhealthyZoneThreshold    float32 = 0.55
)

// Config tunes the node lifecycle controller; zero values mean upstream's
// defaults.
type Config struct {
	// NodeMonitorPeriod is how often every node's health is checked.
	NodeMonitorPeriod time.Duration
	// NodeMonitorGracePeriod is how long a node may go without renewing
	// its lease or posting status before it is marked Unknown.
	NodeMonitorGracePeriod time.Duration
	// NodeStartupGracePeriod replaces NodeMonitorGracePeriod for a node
	// that never posted a Ready condition, counted from its creation.
	NodeStartupGracePeriod time.Duration
	// NodeEvictionRate is how many nodes per second a healthy zone may
	// have NoExecute-tainted (which evicts their pods).
	NodeEvictionRate float32
	// SecondaryNodeEvictionRate applies to a partially disrupted zone of
	// more than LargeClusterSizeThreshold nodes; smaller ones stop.
	SecondaryNodeEvictionRate float32
	LargeClusterSizeThreshold int32
	// UnhealthyZoneThreshold is the share of not-Ready nodes (at least 3)
	// from which a zone counts as partially disrupted.
	UnhealthyZoneThreshold float32
}

func (c Config) withDefaults() Config {
	if c.NodeMonitorPeriod <= 0 {
		c.NodeMonitorPeriod = DefaultNodeMonitorPeriod
	}
	if c.NodeMonitorGracePeriod <= 0 {
		c.NodeMonitorGracePeriod = DefaultNodeMonitorGracePeriod
	}
	if c.NodeStartupGracePeriod <= 0 {
		c.NodeStartupGracePeriod = DefaultNodeStartupGracePeriod
	}
	if c.NodeEvictionRate <= 0 {
		c.NodeEvictionRate = DefaultNodeEvictionRate
	}
	if c.SecondaryNodeEvictionRate <= 0 {
		c.SecondaryNodeEvictionRate = DefaultSecondaryNodeEvictionRate
	}
	if c.LargeClusterSizeThreshold <= 0 {
		c.LargeClusterSizeThreshold = DefaultLargeClusterSizeThreshold
	}
	if c.UnhealthyZoneThreshold <= 0 {
		c.UnhealthyZoneThreshold = DefaultUnhealthyZoneThreshold
	}
	return c
}
