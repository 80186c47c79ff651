package scheduler

// pluginSet names the scheduler's plugins as bits, so the queue can
// remember which plugins rejected a pod and wake it only for cluster
// events that could change their answer (upstream's queueing hints, in
// their simplest form).
type pluginSet uint16

// The plugins, in upstream's default filter order.
const (
	pluginNodeUnschedulable pluginSet = 1 << iota
	pluginTaintToleration
	pluginNodeAffinity
	pluginNodePorts
	pluginNodeResourcesFit
	pluginPodTopologySpread
	pluginInterPodAffinity

	allPlugins = pluginNodeUnschedulable | pluginTaintToleration | pluginNodeAffinity | pluginNodePorts |
		pluginNodeResourcesFit | pluginPodTopologySpread | pluginInterPodAffinity
)

// Score weights of upstream's default profile (MultiPoint weights in
// kube-scheduler's getDefaultPlugins). ImageLocality (weight 1) is not
// implemented: the scheduler does not see node image lists.
const (
	maxNodeScore             int64 = 100
	weightTaintToleration    int64 = 3
	weightNodeAffinity       int64 = 2
	weightPodTopologySpread  int64 = 2
	weightInterPodAffinity   int64 = 2
	weightNodeResourcesFit   int64 = 1
	weightBalancedAllocation int64 = 1
)

// Filter failure reasons, worded as upstream's plugins word them: users
// and tools match on these strings in events and pod conditions.
const (
	reasonNodeUnschedulable        = "node(s) were unschedulable"
	reasonNodeAffinity             = "node(s) didn't match Pod's node affinity/selector"
	reasonNodePorts                = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods              = "Too many pods"
	reasonInsufficientCPU          = "Insufficient cpu"
	reasonInsufficientMemory       = "Insufficient memory"
	reasonInsufficientEphemeral    = "Insufficient ephemeral-storage"
	reasonSpreadConstraints        = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissingLabel       = reasonSpreadConstraints + " (missing required label)"
	reasonAffinityRules            = "node(s) didn't match pod affinity rules"
	reasonAntiAffinityRules        = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinityRule = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// verdict is one filter's answer for one node. The zero value passes.
// Reasons are shared, never modified slices, so rejecting a node costs no
// allocation in the common cases.
type verdict struct {
	plugin  pluginSet
	reasons []string
}

func (v verdict) passed() bool { return v.plugin == 0 }

func rejection(p pluginSet, reason string) verdict {
	return verdict{plugin: p, reasons: []string{reason}}
}

var (
	rejectNodeUnschedulable    = rejection(pluginNodeUnschedulable, reasonNodeUnschedulable)
	rejectNodeAffinity         = rejection(pluginNodeAffinity, reasonNodeAffinity)
	rejectNodePorts            = rejection(pluginNodePorts, reasonNodePorts)
	rejectTooManyPods          = rejection(pluginNodeResourcesFit, reasonTooManyPods)
	rejectCPU                  = rejection(pluginNodeResourcesFit, reasonInsufficientCPU)
	rejectMemory               = rejection(pluginNodeResourcesFit, reasonInsufficientMemory)
	rejectEphemeral            = rejection(pluginNodeResourcesFit, reasonInsufficientEphemeral)
	rejectSpread               = rejection(pluginPodTopologySpread, reasonSpreadConstraints)
	rejectSpreadMissingLabel   = rejection(pluginPodTopologySpread, reasonSpreadMissingLabel)
	rejectAffinity             = rejection(pluginInterPodAffinity, reasonAffinityRules)
	rejectAntiAffinity         = rejection(pluginInterPodAffinity, reasonAntiAffinityRules)
	rejectExistingAntiAffinity = rejection(pluginInterPodAffinity, reasonExistingAntiAffinityRule)
)
