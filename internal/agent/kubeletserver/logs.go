package kubeletserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// serveLogs answers GET /containerLogs/{namespace}/{pod}/{container}.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := parseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	pod, ok := s.cfg.Pods(ns, name)
	if !ok {
		writeError(w, http.StatusNotFound, "pod %q does not exist", name)
		return
	}
	if !hasContainer(pod, container) {
		writeError(w, http.StatusNotFound, "container %q not found in pod %q", container, name)
		return
	}
	streamer, ok := s.cfg.Runtime.(Streamer)
	if !ok {
		writeError(w, http.StatusBadRequest, "%s", unsupported("container logs"))
		return
	}
	ctx := r.Context()
	id, err := s.logContainerID(ctx, pod, container, opts.previous)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	path, _, err := streamer.ContainerLog(ctx, id)
	if err != nil {
		writeError(w, statusForCRI(err), "container %q in pod %q: %v", container, name, err)
		return
	}
	follower := &logFollower{
		path: path,
		poll: s.cfg.LogPollInterval,
		running: func(ctx context.Context) bool {
			_, state, err := streamer.ContainerLog(ctx, id)
			// An unknown container (removed) writes no more; a transient
			// error keeps following.
			return (err == nil && state != agent.ContainerExited) || (err != nil && statusForCRI(err) != http.StatusNotFound)
		},
	}
	w.Header().Set("Content-Type", "text/plain")
	sw := &startWriter{w: w}
	if err := follower.read(ctx, sw, opts.logOptions); err != nil {
		if !sw.started {
			writeError(w, http.StatusInternalServerError, "container %q in pod %q: %v", container, name, err)
			return
		}
		s.cfg.Log.Debug("Kubelet API: log stream ended", "pod", ns+"/"+name, "container", container, "err", err)
	}
}

// startWriter notes whether the response has started, and flushes every
// write so a followed log reaches the client as it is written (the log
// reader buffers, and writes when it reaches the end of the file).
type startWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	s.started = true
	n, err := s.w.Write(p)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}

var _ io.Writer = (*startWriter)(nil)

// podLogRequest is a parsed log request.
type podLogRequest struct {
	logOptions
	previous bool
}

// parseLogOptions decodes the query as the API server's PodLogOptions and
// validates it as upstream does.
func parseLogOptions(q url.Values, now time.Time) (podLogRequest, error) {
	in, err := decodePodLogOptions(q)
	if err != nil {
		return podLogRequest{}, err
	}
	var errs []error
	if in.TailLines != nil && *in.TailLines < 0 {
		errs = append(errs, errors.New("tailLines: must be greater than or equal to 0"))
	}
	if in.LimitBytes != nil && *in.LimitBytes < 1 {
		errs = append(errs, errors.New("limitBytes: must be greater than 0"))
	}
	if in.SinceSeconds != nil && in.SinceTime != nil {
		errs = append(errs, errors.New("at most one of sinceTime or sinceSeconds may be specified"))
	}
	if in.SinceSeconds != nil && *in.SinceSeconds < 1 {
		errs = append(errs, errors.New("sinceSeconds: must be greater than 0"))
	}
	out := podLogRequest{previous: in.Previous, logOptions: logOptions{follow: in.Follow, timestamps: in.Timestamps, tailLines: -1}}
	if in.Stream != nil {
		switch *in.Stream {
		case corev1.LogStreamStdout, corev1.LogStreamStderr:
			out.stream = strings.ToLower(*in.Stream)
		case corev1.LogStreamAll:
		default:
			errs = append(errs, fmt.Errorf("stream: unsupported value %q: supported values: %q, %q, %q", *in.Stream, corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr))
		}
		if in.TailLines != nil && *in.Stream != corev1.LogStreamAll {
			errs = append(errs, errors.New("stream: tailLines can only be used with stream All"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return podLogRequest{}, err
	}
	if in.TailLines != nil {
		out.tailLines = *in.TailLines
	}
	if in.LimitBytes != nil {
		out.limitBytes = *in.LimitBytes
	}
	switch {
	case in.SinceSeconds != nil:
		out.since = now.Add(-time.Duration(*in.SinceSeconds) * time.Second)
	case in.SinceTime != nil:
		out.since = in.SinceTime.Time
	}
	return out, nil
}

// decodePodLogOptions reads the query parameters into PodLogOptions (the
// generated url.Values conversions live in k8s.io/kubernetes, not in
// k8s.io/api).
func decodePodLogOptions(q url.Values) (corev1.PodLogOptions, error) {
	var in corev1.PodLogOptions
	var errs []error
	flag := func(name string, dst *bool) {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			errs = append(errs, paramError(name, v, err))
			*dst = b
		}
	}
	number := func(name string) *int64 {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		errs = append(errs, paramError(name, v, err))
		return &n
	}
	flag("follow", &in.Follow)
	flag("previous", &in.Previous)
	flag("timestamps", &in.Timestamps)
	in.TailLines, in.LimitBytes, in.SinceSeconds = number("tailLines"), number("limitBytes"), number("sinceSeconds")
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		errs = append(errs, paramError("sinceTime", v, err))
		in.SinceTime = &metav1.Time{Time: t}
	}
	if v, ok := q["stream"]; ok && len(v) > 0 {
		in.Stream = &v[0]
	}
	return in, errors.Join(errs...)
}

func paramError(name, value string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: invalid value %q", name, value)
}

// hasContainer reports whether the pod spec names the container.
func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// logContainerID picks the container instance whose log to read, from the
// pod's status as the kubelet does (so a crash-looping container's
// current log is its last run's); before the status names the container,
// from the runtime: the newest instance that started, or for previous the
// one before it.
func (s *Server) logContainerID(ctx context.Context, pod *corev1.Pod, container string, previous bool) (string, error) {
	if st := findStatus(pod, container); st != nil {
		return containerIDFromStatus(pod.Name, st, previous)
	}
	started, err := s.instances(ctx, pod, container, func(c agent.ContainerStatus) bool { return c.State != agent.ContainerCreated })
	if err != nil {
		return "", err
	}
	i := 0
	if previous {
		i = 1
	}
	if len(started) <= i {
		if previous {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", container, pod.Name)
		}
		return "", fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", container, pod.Name)
	}
	return started[i].ID, nil
}

// instances lists the container's instances in the pod that keep returns
// true for, newest first.
func (s *Server) instances(ctx context.Context, pod *corev1.Pod, container string, keep func(agent.ContainerStatus) bool) ([]agent.ContainerStatus, error) {
	list, err := s.cfg.Runtime.ListContainers(ctx, agent.ContainerFilter{PodUID: pod.UID})
	if err != nil {
		return nil, fmt.Errorf("listing the containers of pod %q: %w", pod.Name, err)
	}
	list = slices.DeleteFunc(list, func(c agent.ContainerStatus) bool { return c.Name != container || !keep(c) })
	slices.SortFunc(list, func(a, b agent.ContainerStatus) int {
		return cmp.Or(cmp.Compare(b.Attempt, a.Attempt), b.CreatedAt.Compare(a.CreatedAt))
	})
	return list, nil
}

func findStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// containerIDFromStatus is the kubelet's choice of container for logs,
// with its error messages.
func containerIDFromStatus(podName string, st *corev1.ContainerStatus, previous bool) (string, error) {
	last := st.LastTerminationState.Terminated
	lastID := ""
	if last != nil {
		lastID = last.ContainerID
	}
	var id string
	switch {
	case previous:
		if lastID == "" {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", st.Name, podName)
		}
		id = lastID
	case st.State.Running != nil:
		id = st.ContainerID
	case st.State.Terminated != nil:
		// The next instance may not have started: its previous run then.
		id = cmp.Or(st.State.Terminated.ContainerID, st.ContainerID, lastID)
		if id == "" {
			return "", fmt.Errorf("container %q in pod %q is terminated", st.Name, podName)
		}
	case lastID != "":
		id = lastID
	case st.State.Waiting != nil:
		return "", fmt.Errorf("container %q in pod %q is waiting to start: %s", st.Name, podName, waitingReason(st.State.Waiting.Reason))
	default:
		return "", fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", st.Name, podName)
	}
	return trimRuntimeScheme(id), nil
}

func waitingReason(reason string) string {
	switch reason {
	case "ErrImagePull":
		return "image can't be pulled"
	case "ImagePullBackOff":
		return "trying and failing to pull image"
	}
	return reason
}

// trimRuntimeScheme turns the status's "containerd://ID" into CRI's ID.
func trimRuntimeScheme(id string) string {
	if _, after, ok := strings.Cut(id, "://"); ok {
		return after
	}
	return id
}
