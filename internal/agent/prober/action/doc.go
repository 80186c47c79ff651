// Package action runs one probe or lifecycle-hook handler against a
// container, as the kubelet's prober and lifecycle handlers do: httpGet,
// tcpSocket, exec (through the runtime's ExecSync) and grpc (the
// grpc.health.v1 Health service). The prober package builds its
// startup/readiness/liveness workers on it and the agent core runs
// postStart and preStop hooks with it, so both follow the same rules.
//
// It owns nothing but the handler calls: no timing, thresholds, events or
// container state, and it must not import the agent (the agent imports
// it). Execer matches agent.Execer method for method, so the runtime
// passes as either.
//
// Where it knowingly differs from upstream: the probe's User-Agent names
// Skiff's Kubernetes version the way the kubelet's does (kube-probe/1.37),
// and a grpc probe's connection is made anew on every probe, without
// upstream's dial options for keepalive.
package action
