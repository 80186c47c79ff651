package scheduler

import (
	"maps"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// podSet is a set of cached pods.
type podSet map[*podInfo]struct{}

// schedCache is the scheduler's view of where pods run: every node with
// the sum of its pods' requests, and every placed pod, including pods the
// scheduler has assumed onto a node but whose binding the informer has not
// yet confirmed. Counting assumed pods is what stops two consecutive
// decisions from filling the same free space twice.
//
// Indexes by label, namespace and owner let the spreading and affinity
// plugins count matching pods without walking every pod in the cluster.
//
// The scheduling cycle holds mu for the whole of one decision, from the
// first filter to the assume, so a decision is made on one consistent
// state and informer updates wait at most that long (tens of
// microseconds on a 100-node cluster).
type schedCache struct {
	mu sync.Mutex

	nodes    map[string]*nodeInfo // every node, including ones only known through pods
	nodeList []*nodeInfo          // nodes with a Node object, in a stable order
	pods     map[types.UID]*podInfo

	byLabel     map[string]podSet // "key=value" -> pods carrying it
	byNamespace map[string]podSet
	byOwner     map[types.UID]podSet
	// ownerCounts counts, per controller and node, the pods that are not
	// terminating: the default spreading reads it without walking pods.
	ownerCounts map[types.UID]map[*nodeInfo]int64
	// withAffinity holds pods with any pod (anti-)affinity term: their own
	// terms bear on the pods scheduled after them.
	withAffinity podSet
	// withRequiredAnti is the subset with required anti-affinity, which
	// every incoming pod must respect.
	withRequiredAnti podSet
}

func newSchedCache() *schedCache {
	return &schedCache{
		nodes:            map[string]*nodeInfo{},
		pods:             map[types.UID]*podInfo{},
		byLabel:          map[string]podSet{},
		byNamespace:      map[string]podSet{},
		byOwner:          map[types.UID]podSet{},
		ownerCounts:      map[types.UID]map[*nodeInfo]int64{},
		withAffinity:     podSet{},
		withRequiredAnti: podSet{},
	}
}

// Label keys cannot contain '=', so "key=value" is unambiguous.
func labelIndexKey(k, v string) string { return k + "=" + v }

func (c *schedCache) setNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node.Name]
	if n == nil {
		n = newNodeInfo(node.Name)
		c.nodes[node.Name] = n
	}
	n.setNode(node)
	if n.index < 0 {
		n.index = len(c.nodeList)
		c.nodeList = append(c.nodeList, n)
	}
}

func (c *schedCache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[name]
	if n == nil {
		return
	}
	if n.index >= 0 {
		last := len(c.nodeList) - 1
		c.nodeList[n.index] = c.nodeList[last]
		c.nodeList[n.index].index = n.index
		c.nodeList[last] = nil
		c.nodeList = c.nodeList[:last]
		n.index = -1
	}
	n.node = nil
	// Pods still bound to the node keep it as a ghost until they go, so
	// their removal finds what to subtract from.
	if len(n.pods) == 0 {
		delete(c.nodes, name)
	}
}

// addPod records a pod the informer reports as bound to a node. When the
// scheduler had assumed it, this confirms the assumption.
func (c *schedCache) addPod(pod *corev1.Pod) {
	if isTerminal(pod) {
		c.removePod(pod.UID)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pods[pod.UID]; p != nil {
		// Confirming an assumed pod, the common case at high rates: the
		// spec that was assumed is the one that was bound, so only the
		// object is swapped unless labels or requests moved.
		if p.node != nil && p.node.name == pod.Spec.NodeName && maps.Equal(p.pod.Labels, pod.Labels) &&
			p.owner == controllerUID(pod) && (p.pod.DeletionTimestamp == nil) == (pod.DeletionTimestamp == nil) {
			p.pod = pod
			if p.assumed {
				// Requests were computed from this very spec at assume time.
				p.assumed = false
				return
			}
			c.unsafeRefreshRequests(p)
			return
		}
		c.unsafeRemove(p)
	}
	p, _ := newPodInfo(pod) // a term that fails to parse is left out, as upstream does
	c.unsafeAdd(p, pod.Spec.NodeName)
}

// unsafeRefreshRequests follows an in-place resize of a bound pod.
func (c *schedCache) unsafeRefreshRequests(p *podInfo) {
	req, nzCPU, nzMem := podRequests(p.pod)
	if req.milliCPU == p.req.milliCPU && req.memory == p.req.memory && req.ephemeral == p.req.ephemeral &&
		maps.Equal(req.scalar, p.req.scalar) && nzCPU == p.nonZeroCPU && nzMem == p.nonZeroMem {
		return
	}
	n := p.node
	n.addPod(p, -1)
	p.req, p.nonZeroCPU, p.nonZeroMem = req, nzCPU, nzMem
	n.addPod(p, 1)
}

// removePod drops a pod and reports whether the cache had it on a node.
func (c *schedCache) removePod(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pods[uid]
	if p != nil {
		c.unsafeRemove(p)
	}
	return p != nil
}

// forget drops an assumed pod whose binding failed.
func (c *schedCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pods[uid]; p != nil && p.assumed {
		c.unsafeRemove(p)
	}
}

// placed reports whether the cache has the pod on a node (assumed or
// bound), meaning the scheduler must not place it again.
func (c *schedCache) placed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pods[uid]
	return ok
}

// unsafeAssume places p on n before the API server has been told.
func (c *schedCache) unsafeAssume(p *podInfo, n *nodeInfo) {
	p.assumed = true
	c.unsafeAdd(p, n.name)
}

func (c *schedCache) unsafeAdd(p *podInfo, nodeName string) {
	n := c.nodes[nodeName]
	if n == nil {
		n = newNodeInfo(nodeName)
		c.nodes[nodeName] = n
	}
	c.pods[p.uid] = p
	n.addPod(p, 1)
	c.unsafeIndex(p, true)
}

func (c *schedCache) unsafeRemove(p *podInfo) {
	n := p.node
	delete(c.pods, p.uid)
	c.unsafeIndex(p, false)
	if n == nil {
		return
	}
	n.addPod(p, -1)
	if n.node == nil && len(n.pods) == 0 {
		delete(c.nodes, n.name)
	}
}

func (c *schedCache) unsafeIndex(p *podInfo, add bool) {
	for k, v := range p.pod.Labels {
		setMember(c.byLabel, labelIndexKey(k, v), p, add)
	}
	setMember(c.byNamespace, p.pod.Namespace, p, add)
	if p.owner != "" {
		setMember(c.byOwner, p.owner, p, add)
		if add {
			p.ownerCounted = !p.terminating() && p.node != nil
		}
		if p.ownerCounted {
			c.unsafeCountOwner(p, add)
		}
	}
	if p.hasAffinity() {
		if add {
			c.withAffinity[p] = struct{}{}
		} else {
			delete(c.withAffinity, p)
		}
	}
	if len(p.requiredAntiAffinity) > 0 {
		if add {
			c.withRequiredAnti[p] = struct{}{}
		} else {
			delete(c.withRequiredAnti, p)
		}
	}
}

func (c *schedCache) unsafeCountOwner(p *podInfo, add bool) {
	counts := c.ownerCounts[p.owner]
	if counts == nil {
		counts = map[*nodeInfo]int64{}
		c.ownerCounts[p.owner] = counts
	}
	if add {
		counts[p.node]++
		return
	}
	if counts[p.node]--; counts[p.node] <= 0 {
		delete(counts, p.node)
		if len(counts) == 0 {
			delete(c.ownerCounts, p.owner)
		}
	}
}

func setMember[K comparable](index map[K]podSet, key K, p *podInfo, add bool) {
	s := index[key]
	if add {
		if s == nil {
			s = podSet{}
			index[key] = s
		}
		s[p] = struct{}{}
		return
	}
	delete(s, p)
	if len(s) == 0 {
		delete(index, key)
	}
}

// unsafeCandidates calls fn with a superset of the cached pods that sel
// selects within namespaces (nil: every namespace); the caller checks each
// candidate. The index narrows the walk to the pods carrying the rarest
// label the selector requires (worked example: selector app=web,tier In
// (a,b) with 300 app=web pods and 40 tier=a plus 10 tier=b pods walks the
// 50 tier pods).
func (c *schedCache) unsafeCandidates(sel labels.Selector, namespaces []string, fn func(*podInfo)) {
	reqs, selectable := sel.Requirements()
	if !selectable {
		return // labels.Nothing
	}
	var best []podSet
	bestSize := -1
	for i := range reqs {
		r := &reqs[i]
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
		default:
			continue
		}
		var sets []podSet
		size := 0
		for _, v := range r.ValuesUnsorted() {
			if s := c.byLabel[labelIndexKey(r.Key(), v)]; len(s) > 0 {
				sets = append(sets, s)
				size += len(s)
			}
		}
		if bestSize < 0 || size < bestSize {
			best, bestSize = sets, size
		}
	}
	switch {
	case bestSize >= 0:
		for _, s := range best {
			for p := range s {
				fn(p)
			}
		}
	case namespaces != nil:
		for _, ns := range namespaces {
			for p := range c.byNamespace[ns] {
				fn(p)
			}
		}
	default:
		for _, p := range c.pods {
			fn(p)
		}
	}
}

func controllerUID(pod *corev1.Pod) types.UID {
	for i := range pod.OwnerReferences {
		if r := &pod.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r.UID
		}
	}
	return ""
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
