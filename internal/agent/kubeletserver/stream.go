package kubeletserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// streamOptions are exec's and attach's stream flags. The API server
// names them input, output, error and tty with "1" for true
// (corev1.ExecStdinParam and friends), as the kubelet reads them; the
// PodExecOptions names (stdin, stdout, stderr) and "true" are accepted
// too, for callers that pass the client's query through.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

func parseStreamOptions(q url.Values) (streamOptions, error) {
	flag := func(names ...string) bool {
		for _, name := range names {
			if v, _ := strconv.ParseBool(q.Get(name)); v {
				return true
			}
		}
		return false
	}
	o := streamOptions{
		stdin:  flag(corev1.ExecStdinParam, "stdin"),
		stdout: flag(corev1.ExecStdoutParam, "stdout"),
		stderr: flag(corev1.ExecStderrParam, "stderr"),
		tty:    flag(corev1.ExecTTYParam),
	}
	if o.tty {
		// A terminal merges stderr into stdout, as the kubelet does.
		o.stderr = false
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, fmt.Errorf("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// streamTarget resolves the pod and the runtime's streaming calls for a
// stream request, answering the request itself when it cannot.
func (s *Server) streamTarget(w http.ResponseWriter, r *http.Request, what string) (*corev1.Pod, Streamer, bool) {
	ns, name := r.PathValue("namespace"), r.PathValue("pod")
	pod, ok := s.cfg.Pods(ns, name)
	if !ok {
		writeError(w, http.StatusNotFound, "pod %q does not exist", name)
		return nil, nil, false
	}
	streamer, ok := s.cfg.Runtime.(Streamer)
	if !ok {
		writeError(w, http.StatusBadRequest, "%s", unsupported(what))
		return nil, nil, false
	}
	return pod, streamer, true
}

// runningContainer is the ID of the container's running instance, or
// answers the request with why there is none.
func (s *Server) runningContainer(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) (string, bool) {
	container := r.PathValue("container")
	if !hasContainer(pod, container) {
		writeError(w, http.StatusNotFound, "container %q not found in pod %q", container, pod.Name)
		return "", false
	}
	running, err := s.instances(r.Context(), pod, container, func(c agent.ContainerStatus) bool { return c.State == agent.ContainerRunning })
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return "", false
	}
	if len(running) == 0 {
		writeError(w, http.StatusBadRequest, "container %q in pod %q is not running", container, pod.Name)
		return "", false
	}
	return running[0].ID, true
}

// serveExec answers /exec/{namespace}/{pod}/{container}?command=...
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts, err := parseStreamOptions(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if len(q["command"]) == 0 {
		writeError(w, http.StatusBadRequest, "you must specify a command")
		return
	}
	pod, streamer, ok := s.streamTarget(w, r, "exec")
	if !ok {
		return
	}
	id, ok := s.runningContainer(w, r, pod)
	if !ok {
		return
	}
	resp, err := streamer.Exec(r.Context(), &runtimeapi.ExecRequest{
		ContainerId: id, Cmd: q["command"], Tty: opts.tty, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr,
	})
	if err != nil {
		writeError(w, statusForCRI(err), "%v", err)
		return
	}
	s.proxyStream(w, r, resp.GetUrl())
}

// serveAttach answers /attach/{namespace}/{pod}/{container}.
func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	opts, err := parseStreamOptions(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	pod, streamer, ok := s.streamTarget(w, r, "attach")
	if !ok {
		return
	}
	id, ok := s.runningContainer(w, r, pod)
	if !ok {
		return
	}
	resp, err := streamer.Attach(r.Context(), &runtimeapi.AttachRequest{
		ContainerId: id, Tty: opts.tty, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr,
	})
	if err != nil {
		writeError(w, statusForCRI(err), "%v", err)
		return
	}
	s.proxyStream(w, r, resp.GetUrl())
}

// servePortForward answers /portForward/{namespace}/{pod}. With SPDY the
// ports come in each stream's headers, read by the runtime's streaming
// server; the WebSocket form needs them in ?port=, which the API server
// sends comma-separated.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ports, err := parsePorts(r.URL.Query()[corev1.PortHeader])
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	pod, streamer, ok := s.streamTarget(w, r, "port forwarding")
	if !ok {
		return
	}
	sandboxes, err := s.cfg.Runtime.ListPodSandboxes(r.Context(), agent.SandboxFilter{PodUID: pod.UID})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "listing the sandboxes of pod %q: %v", pod.Name, err)
		return
	}
	var sandbox *agent.SandboxStatus
	for i := range sandboxes {
		sb := &sandboxes[i]
		if sb.State == agent.SandboxReady && (sandbox == nil || sb.CreatedAt.After(sandbox.CreatedAt)) {
			sandbox = sb
		}
	}
	if sandbox == nil {
		writeError(w, http.StatusBadRequest, "pod %q is not running", pod.Name)
		return
	}
	resp, err := streamer.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: sandbox.ID, Port: ports})
	if err != nil {
		writeError(w, statusForCRI(err), "%v", err)
		return
	}
	s.proxyStream(w, r, resp.GetUrl())
}

// parsePorts reads port=8080,9000 (and repeated port= parameters).
func parsePorts(values []string) ([]int32, error) {
	var ports []int32
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("invalid port %q", p)
			}
			ports = append(ports, int32(n))
		}
	}
	return ports, nil
}

// proxyStream hands the client's upgrade request to the runtime's
// streaming server and splices the two connections, as the kubelet does.
// The upgrade is SPDY or WebSocket, whichever the client asked for: the
// runtime's server speaks both.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, rawURL string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "runtime streaming URL %q: %v", rawURL, err)
		return
	}
	h := proxy.NewUpgradeAwareHandler(u, nil, false, true, proxyResponder{s})
	h.ServeHTTP(w, r)
}

type proxyResponder struct{ s *Server }

func (p proxyResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	p.s.cfg.Log.Debug("Kubelet API: stream proxy failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "%v", err)
}

// statusForCRI maps a runtime error (a wrapped gRPC status) to an HTTP
// status as the kubelet's streaming errors do.
func statusForCRI(err error) int {
	switch status.Code(err) {
	case codes.NotFound:
		return http.StatusNotFound
	case codes.FailedPrecondition, codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

func unsupported(what string) string {
	return fmt.Sprintf("%s is not supported by this node's container runtime (a simulated node runs no containers)", what)
}
