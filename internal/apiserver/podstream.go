package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/proxy"
	streamproxy "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// servePodStream serves pods/exec, pods/attach and pods/portforward: it
// finds the agent of the pod's node and proxies the upgraded connection to
// it, as upstream's API server proxies these to the kubelet.
//
// SPDY upgrades pass through unchanged. WebSocket requests speaking
// v5.channel.k8s.io (exec, attach) are translated to SPDY towards the
// agent, and port-forward WebSockets (SPDY tunnelled in WebSocket frames)
// are unwrapped, with upstream's translators: kubectl tries these first and
// falls back to plain SPDY only when the upgrade fails, so agents need to
// speak SPDY alone.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	if info.Verb != "get" && info.Verb != "create" {
		return methodNotAllowed(info.Verb, res.groupResource())
	}
	pod, err := s.streamPod(r, res, info)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	params := url.Values{}
	var path string
	var opts streamproxy.Options
	if info.Subresource == "portforward" {
		if err := portForwardParams(q, params); err != nil {
			return err
		}
		path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	} else {
		container, err := podContainer(pod, q.Get("container"))
		if err != nil {
			return err
		}
		opts = streamproxy.Options{Stdin: queryBool(q, "stdin"), Stdout: queryBool(q, "stdout"), Stderr: queryBool(q, "stderr"), Tty: queryBool(q, "tty")}
		execParams(opts, params)
		if info.Subresource == "exec" {
			params["command"] = q["command"]
		}
		path = fmt.Sprintf("/%s/%s/%s/%s", info.Subresource, pod.Namespace, pod.Name, container)
	}
	if pod.Spec.NodeName == "" {
		return badRequest("pod %s does not have a host assigned", pod.Name)
	}
	loc, err := s.agentURL(r.Context(), pod.Spec.NodeName)
	if err != nil {
		return err
	}
	loc.Path, loc.RawQuery = path, params.Encode()

	upgrade := proxy.NewUpgradeAwareHandler(loc, s.kubeletTransport, false, true, proxyErrorResponder{s})
	var h http.Handler = upgrade
	if info.Subresource == "portforward" {
		h = streamproxy.NewTranslatingHandler(upgrade, streamproxy.NewTunnelingHandler(upgrade), wsstream.IsWebSocketRequestWithTunnelingProtocol)
	} else {
		translator := streamproxy.NewStreamTranslatorHandler(loc, s.kubeletTransport, 0, opts)
		h = streamproxy.NewTranslatingHandler(upgrade, translator, wsstream.IsWebSocketRequestWithStreamCloseProtocol)
	}
	h.ServeHTTP(w, s.quietStreamLogger(withoutCredentials(r)))
	return nil
}

// streamPod reads the pod a streaming subresource names.
func (s *Server) streamPod(r *http.Request, res *resource, info requestInfo) (*corev1.Pod, error) {
	obj, _, err := s.current(r.Context(), res, res.key(info.Namespace, info.Name), false)
	if err != nil {
		return nil, storeError(err, res.groupResource(), info.Name)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("pod %q decoded as %T", info.Name, obj))
	}
	return pod, nil
}

// podContainer resolves the container a request names, as upstream does:
// a named container must exist (init and ephemeral containers count), and
// no name means the only container. The
// kubectl.kubernetes.io/default-container annotation is kubectl's to
// apply, not the server's: upstream ignores it here, and so do we.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	if name != "" {
		if !slices.Contains(allContainerNames(pod), name) {
			return "", badRequest("container %s is not valid for pod %s", name, pod.Name)
		}
		return name, nil
	}
	switch len(pod.Spec.Containers) {
	case 1:
		return pod.Spec.Containers[0].Name, nil
	case 0:
		return "", badRequest("a container name must be specified for pod %s", pod.Name)
	}
	return "", badRequest("a container name must be specified for pod %s, choose one of: %v", pod.Name, allContainerNames(pod))
}

// allContainerNames lists init, regular and ephemeral containers, in the
// order upstream's error message lists them.
func allContainerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

// queryBool reads a boolean query parameter the way upstream converts
// url.Values: absent is false, "0" or "false" is false, anything else
// (including an empty value) is true.
func queryBool(q url.Values, key string) bool {
	v, ok := q[key]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && !strings.EqualFold(v[0], "false")
}

// execParams writes stream flags in the kubelet's dialect: input, output,
// error and tty set to "1", not the API's stdin/stdout/stderr/tty.
func execParams(o streamproxy.Options, params url.Values) {
	set := func(on bool, key string) {
		if on {
			params.Set(key, "1")
		}
	}
	set(o.Stdin, corev1.ExecStdinParam)
	set(o.Stdout, corev1.ExecStdoutParam)
	set(o.Stderr, corev1.ExecStderrParam)
	set(o.Tty, corev1.ExecTTYParam)
}

// portForwardParams validates the optional ports parameter and passes it
// on as the kubelet's comma-separated "port".
func portForwardParams(q url.Values, params url.Values) error {
	var ports []string
	for _, v := range q["ports"] {
		for p := range strings.SplitSeq(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				return badRequest("invalid port %q: must be between 1 and 65535", p)
			}
			ports = append(ports, strconv.FormatUint(n, 10))
		}
	}
	if len(ports) > 0 {
		params.Set(corev1.PortHeader, strings.Join(ports, ","))
	}
	return nil
}

// withoutCredentials strips what authenticated the client to us before a
// request goes to an agent, as upstream's authentication filter does: a
// bearer token is for the API server, not for nodes.
func withoutCredentials(r *http.Request) *http.Request {
	if r.Header.Get("Authorization") == "" {
		return r
	}
	r = r.Clone(r.Context())
	r.Header.Del("Authorization")
	return r
}

// proxyErrorResponder reports a failure to reach the agent as a Status.
type proxyErrorResponder struct{ s *Server }

func (p proxyErrorResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		err = apierrors.NewInternalError(fmt.Errorf("reaching the node agent: %w", err))
	}
	p.s.writeError(w, r, err)
}

// quietStreamLogger is the logger the stream proxies find in the request
// context. They log a client or agent hanging up (a closed WebSocket, a
// reset connection) as an error; that is how every interactive session
// ends and nothing an operator can act on, so it is logged at debug level.
func (s *Server) quietStreamLogger(r *http.Request) *http.Request {
	sink := logr.FromSlogHandler(s.log.Handler()).GetSink()
	return r.WithContext(klog.NewContext(r.Context(), logr.New(demotedSink{sink})))
}

// demotedSink turns errors into V(1) info lines, which the slog bridge
// writes below slog.LevelInfo.
type demotedSink struct{ logr.LogSink }

func (d demotedSink) Error(err error, msg string, kv ...any) {
	if d.LogSink.Enabled(1) {
		d.LogSink.Info(1, msg, append(kv, "err", err)...)
	}
}

func (d demotedSink) WithValues(kv ...any) logr.LogSink {
	return demotedSink{d.LogSink.WithValues(kv...)}
}

func (d demotedSink) WithName(name string) logr.LogSink {
	return demotedSink{d.LogSink.WithName(name)}
}
