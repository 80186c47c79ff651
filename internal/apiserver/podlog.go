package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxAgentErrorBody caps how much of an agent's error answer is read into
// the Status message.
const maxAgentErrorBody = 64 << 10

// podLog serves pods/log by streaming the agent's /containerLogs answer.
// With follow, every chunk is flushed as it arrives, so `kubectl logs -f`
// sees lines when the container writes them.
func (s *Server) podLog(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	if info.Verb != "get" {
		return methodNotAllowed(info.Verb, res.groupResource())
	}
	q := r.URL.Query()
	params, err := logParams(q, info.Name)
	if err != nil {
		return err
	}
	pod, err := s.streamPod(r, res, info)
	if err != nil {
		return err
	}
	container, err := podContainer(pod, q.Get("container"))
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		// Upstream answers an unscheduled pod's logs with an empty stream.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	loc, err := s.agentURL(r.Context(), pod.Spec.NodeName)
	if err != nil {
		return err
	}
	loc.Path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container)
	loc.RawQuery = params.Encode()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	resp, err := s.kubeletClient.Do(req)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("reaching the agent of node %s: %w", pod.Spec.NodeName, err))
	}
	defer resp.Body.Close()
	if err := agentError(resp, res, pod.Name); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	copyFlushing(w, resp.Body, params.Get("follow") == "true")
	return nil
}

// copyFlushing copies body to w, flushing after each read when flush is
// set. Errors end the copy silently: the status line is already sent, and
// the client sees the stream end.
func copyFlushing(w http.ResponseWriter, body io.Reader, flush bool) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flush {
				if rc.Flush() != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// agentError turns a non-2xx agent answer into the Status upstream
// returns for it: the agent's text becomes the message.
func agentError(resp *http.Response, res *resource, name string) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 206 {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAgentErrorBody))
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("reading the agent's answer: %w", err))
	}
	text := string(body)
	switch resp.StatusCode {
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(fmt.Errorf("%s", text))
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(text)
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", res.groupResource(), name, text, 0, false)
}

// logParams validates PodLogOptions from the query as upstream does and
// returns them in the form the agent's /containerLogs takes.
// insecureSkipTLSVerifyBackend is accepted and has no effect: agents'
// certificates are never verified (see newKubeletTransport).
func logParams(q url.Values, name string) (url.Values, error) {
	out := url.Values{}
	for _, key := range []string{"follow", "previous", "timestamps"} {
		if queryBool(q, key) {
			out.Set(key, "true")
		}
	}
	var errs field.ErrorList
	ints := map[string]int64{"sinceSeconds": 1, "tailLines": 0, "limitBytes": 1}
	for _, key := range []string{"sinceSeconds", "tailLines", "limitBytes"} {
		v := q.Get(key)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badRequest("invalid %s %q: %v", key, v, err)
		}
		if n < ints[key] {
			msg := "must be greater than 0"
			if ints[key] == 0 {
				msg = "must be greater than or equal to 0"
			}
			errs = append(errs, field.Invalid(field.NewPath(key), n, msg))
		}
		out.Set(key, strconv.FormatInt(n, 10))
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, badRequest("invalid sinceTime %q: %v", v, err)
		}
		if out.Has("sinceSeconds") {
			errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
		}
		out.Set("sinceTime", metav1.NewTime(t).UTC().Format(time.RFC3339))
	}
	if v := q.Get("stream"); v != "" {
		switch v {
		case corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr:
			out.Set("stream", v)
		default:
			errs = append(errs, field.NotSupported(field.NewPath("stream"), v, []string{corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr}))
		}
		if v != corev1.LogStreamAll && out.Has("tailLines") {
			errs = append(errs, field.Forbidden(field.NewPath(""), "`tailLines` and specific `stream` are mutually exclusive for now"))
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("PodLogOptions").GroupKind(), name, errs)
	}
	return out, nil
}
