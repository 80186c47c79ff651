// Package kubeletserver is the node's kubelet API, the HTTPS endpoint the
// API server proxies pods/log, pods/exec, pods/attach and pods/portforward
// to (https://<node InternalIP>:<status.daemonEndpoints.kubeletEndpoint.port>,
// 10250 by default), on the kubelet's paths:
//
//	GET      /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&tailLines=&sinceSeconds=&sinceTime=&timestamps=&limitBytes=&stream=
//	GET/POST /exec/{namespace}/{pod}/{container}?command=..&input=1&output=1&error=1&tty=1
//	GET/POST /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1&tty=1
//	GET/POST /portForward/{namespace}/{pod}[?port=8080,9000]
//
// (stdin=, stdout=, stderr= and "true" are accepted as well.)
//
// Logs are read from the container's CRI log file (the path CRI's
// ContainerStatus reports, "<RFC3339Nano> stdout|stderr F|P <msg>" lines)
// and followed by polling until the container exits or the client goes
// away. Exec, attach and port-forward ask CRI for a URL on the runtime's
// own streaming server (containerd's, on 127.0.0.1) and splice the
// client's upgraded connection (SPDY, or WebSocket: containerd's server
// speaks both) to it, as the kubelet does.
//
// Callers authenticate with a client certificate signed by the cluster CA
// (401 otherwise) and must be in system:masters (403 otherwise), which the
// API server's certificate is.
//
// # What it owns
//
// The listener and its serving certificate (self-signed at start unless
// one is given). It reads pods through the lookup it is given and
// containers through the runtime; it must not change either.
//
// # Differences from the kubelet
//
//   - Authorization is by group (system:masters) rather than a
//     SubjectAccessReview against the API server's RBAC.
//   - Only the paths the API server proxies are served: no /pods, /stats,
//     /metrics, /logs, /run, /checkpoint, and no /{podUID}/ path forms.
//   - --tail reads the log file forward once to find where the last lines
//     start (the kubelet reads backward from the end); Skiff does not
//     rotate container logs, but a followed log survives a rotation
//     (reopened when the path names a new file) or a truncation.
//   - Followed logs are polled every 100ms rather than watched with
//     inotify, and the container's state is checked about once a second.
//   - A runtime without streaming (the simulated one) answers 400.
package kubeletserver
