package action

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// userAgent is what the kubelet sends, with the Kubernetes version Skiff
// speaks (client-go v0.37 is Kubernetes 1.37).
const userAgent = "kube-probe/1.37"

// maxRedirects is how many same-host redirects a probe follows.
const maxRedirects = 10

// transport is shared by every probe and hook. Keep-alives are off, as
// the kubelet has them: a probe must open a fresh connection each time,
// or a dead listener behind a pooled connection would go unnoticed (and
// each pod IP would pin an idle connection). Certificates are not
// verified: the container's own TLS is not the node's to judge.
var transport = &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet's probes
	DisableKeepAlives: true,
	Proxy:             nil,
	DialContext:       (&net.Dialer{}).DialContext,
}

// HTTPGet runs an httpGet probe: a 2xx or 3xx answer within timeout
// passes. Redirects are followed only to the same host (up to 10); one to
// another host is not followed and counts as a Warning, which passes, as
// upstream's probes treat it.
func HTTPGet(ctx context.Context, a *corev1.HTTPGetAction, t Target, timeout time.Duration) (Result, string) {
	req, err := httpRequest(ctx, a, t)
	if err != nil {
		return Unknown, err.Error()
	}
	resp, err := client(timeout).Do(req)
	if err != nil {
		return Failure, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if err != nil {
		return Failure, fmt.Sprintf("reading the response: %v", err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return Success, truncate(body)
	case code >= 300 && code < 400:
		return Warning, "Probe terminated redirects, Response body: " + truncate(body)
	default:
		return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", code)
	}
}

// HTTPGetHook runs an httpGet lifecycle hook. As upstream's handler, it
// fails only when no answer comes; the status code is not judged.
func HTTPGetHook(ctx context.Context, a *corev1.HTTPGetAction, t Target) error {
	req, err := httpRequest(ctx, a, t)
	if err != nil {
		return err
	}
	resp, err := client(0).Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxOutput))
	return resp.Body.Close()
}

func client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: sameHostRedirects}
}

// sameHostRedirects follows a redirect to the host first asked (any
// scheme or port) and stops at one elsewhere, returning that response.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// httpRequest builds the GET an httpGet handler describes: scheme (HTTP
// by default), host (the pod IP by default), port by number or name,
// path (which may carry a query) and headers, where a Host header sets
// the request's host.
func httpRequest(ctx context.Context, a *corev1.HTTPGetAction, t Target) (*http.Request, error) {
	port, err := resolvePort(a.Port, t.Container)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := a.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("invalid path %q: %w", a.Path, err)
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host(a.Host, t.PodIP), strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	for _, h := range a.HTTPHeaders {
		if http.CanonicalHeaderKey(h.Name) == "Host" {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	}
	return req, nil
}
