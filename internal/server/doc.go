// Package server assembles `skiff server`: certificates, the store, the API
// server, the controllers and scheduler (behind leader election),
// optionally simulated nodes, and, unless Config.Agent is nil
// (--disable-agent), the real node: AgentConfig.Run, which cmd/skiff points
// at internal/agent/cri.RunNode (the agent on containerd through CRI), under
// the same data dir. (This package does not import the agent: tests of the
// agent's dependencies start servers.) It runs them until
// the context ends; Run returns only once the node stopped, containerd
// included (containers keep running, as across a kubelet restart).
//
// The node is named after the lower-cased host name unless
// AgentConfig.NodeName says otherwise, and talks to the API server over the
// loopback listener as system:node:<name> (in the admin group until node
// authorization exists). It installs blackhole routes for the cluster and
// service ranges at start and removes them at stop.
//
// The server also owns Service default/kubernetes, its Endpoints and its
// EndpointSlice (kubernetesservice.go, as upstream's bootstrap controller
// and endpoint reconciler), and the advertise address they publish
// (advertise.go): --advertise-address, else the own node's pod gateway
// once node IPAM assigned its pod CIDR, else the bind address unless it is
// loopback. The API server also listens on the advertise address
// (IP_FREEBIND: the bridge gets the gateway only with the first pod) and
// its serving certificate is extended to cover it while serving. It knowingly
// differs from upstream in publishing only itself (no lease per API server).
package server
