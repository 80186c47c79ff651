package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Image pull events and waiting reasons, as the kubelet names them.
const (
	EventPulling = "Pulling"
	// EventErrImageNeverPull is both the event and the waiting reason of
	// an absent image with pull policy Never.
	EventErrImageNeverPull  = "ErrImageNeverPull"
	ReasonErrImageNeverPull = "ErrImageNeverPull"
	ReasonImagePullBackOff  = "ImagePullBackOff"
)

// ensureImage makes c's image available as the kubelet's image manager
// does and returns its reference by digest. On failure it returns the
// container's waiting reason, and an error whose text is the waiting
// message.
//
// Unlike the kubelet with KubeletEnsureSecretPulledImages (beta, on by
// default since 1.33), an image present because one pod pulled it with
// credentials is used under IfNotPresent by pods without them, as the
// kubelet did before.
//
// Pull back-off is per pod and image, in the agent's back-off table under
// a key of its own ("<uid>_<image>"; container keys are "<uid>/<name>"),
// so it has the same 10s-doubling-to-5m shape as crash back-off. Worked
// example: pulls fail at t=0 and t=10s; a sync at t=5s reports
// ImagePullBackOff without pulling, the one at t=10s pulls again and the
// window doubles to 20s, so the next pull is at t=30s.
func (a *Agent) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb *SandboxConfig) (ref, reason string, err error) {
	ref, present, err := a.runtime.ImageStatus(ctx, c.Image)
	if err != nil {
		msg := fmt.Sprintf("Failed to inspect image %q: %v", c.Image, err)
		a.event(pod, corev1.EventTypeWarning, "InspectFailed", "%s", msg)
		return "", "ImageInspectError", errors.New(msg)
	}
	switch policy := pullPolicy(c); {
	case policy == corev1.PullNever && !present:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		a.event(pod, corev1.EventTypeWarning, EventErrImageNeverPull, "%s", msg)
		return "", ReasonErrImageNeverPull, errors.New(msg)
	case present && policy != corev1.PullAlways:
		a.event(pod, corev1.EventTypeNormal, EventPulled, "Container image %q already present on machine", c.Image)
		return ref, "", nil
	}
	key := string(pod.UID) + "_" + c.Image
	if a.backOff.IsInBackOffSinceUpdate(key, a.cfg.Clock.Now()) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		a.event(pod, corev1.EventTypeNormal, EventBackOff, "%s", msg)
		return "", ReasonImagePullBackOff, errors.New(msg)
	}
	a.event(pod, corev1.EventTypeNormal, EventPulling, "Pulling image %q", c.Image)
	begin := time.Now()
	ref, err = a.pullImage(ctx, pod, c.Image, sb)
	if err != nil {
		a.event(pod, corev1.EventTypeWarning, EventFailed, "Failed to pull image %q: %v", c.Image, err)
		a.backOff.Next(key, a.cfg.Clock.Now())
		return "", ReasonErrImagePull, err
	}
	a.event(pod, corev1.EventTypeNormal, EventPulled, "Successfully pulled image %q in %v", c.Image, time.Since(begin).Truncate(time.Millisecond))
	return ref, "", nil
}

// pullPolicy is c's imagePullPolicy, defaulted as the API server does for
// pods that reach the agent without it (simulated tests build them by
// hand): Always for :latest or no tag, else IfNotPresent.
func pullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	if _, tag, digest := splitImage(c.Image); digest == "" && (tag == "" || tag == "latest") {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// pullImage pulls image with each credential the pod's pull secrets hold
// for its registry, returning at the first that works, or anonymously
// when they hold none, as the kubelet's runtime manager does.
func (a *Agent) pullImage(ctx context.Context, pod *corev1.Pod, image string, sb *SandboxConfig) (string, error) {
	secrets, err := a.pullSecrets(ctx, pod)
	if err != nil {
		return "", err
	}
	creds := newKeyring(secrets).lookup(image)
	if len(creds) == 0 {
		return a.runtime.PullImage(ctx, image, nil, sb)
	}
	var errs []error
	for i := range creds {
		ref, err := a.runtime.PullImage(ctx, image, &creds[i], sb)
		if err == nil {
			return ref, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// pullSecrets reads the pod's image pull secrets, or its service
// account's when the pod names none: upstream's ServiceAccount admission
// plugin copies them into the pod, which Skiff's API server does not. A
// missing secret or service account is skipped, as the kubelet skips a
// secret it cannot read, and the pull goes on with what is left.
func (a *Agent) pullSecrets(ctx context.Context, pod *corev1.Pod) ([]*corev1.Secret, error) {
	refs := pod.Spec.ImagePullSecrets
	if len(refs) == 0 {
		name := pod.Spec.ServiceAccountName
		if name == "" {
			name = "default"
		}
		sa, err := a.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("reading service account %s/%s for its image pull secrets: %w", pod.Namespace, name, err)
		}
		refs = sa.ImagePullSecrets
	}
	var out []*corev1.Secret
	for _, ref := range refs {
		s, err := a.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			a.log.Warn("Image pull secret not found; pulling without it", "pod", podDescription(pod), "secret", ref.Name)
		case err != nil:
			return nil, fmt.Errorf("reading image pull secret %s/%s: %w", pod.Namespace, ref.Name, err)
		default:
			out = append(out, s)
		}
	}
	return out, nil
}

// dockerConfigEntry is one registry's entry in a docker config file.
type dockerConfigEntry struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// keyring maps registry locations (host[:port][/path], host parts may be
// globs such as *.example.com) to credentials, most specific first.
type keyring struct {
	keys  []string
	creds map[string][]ImageAuth
}

// defaultRegistryKey is where Docker Hub's credentials live in docker
// config files ("https://index.docker.io/v1/" parses to it).
const defaultRegistryKey = "index.docker.io"

// newKeyring reads the credentials of kubernetes.io/dockerconfigjson and
// kubernetes.io/dockercfg secrets; other types and unreadable ones are
// skipped, as the kubelet skips them.
func newKeyring(secrets []*corev1.Secret) *keyring {
	k := &keyring{creds: map[string][]ImageAuth{}}
	for _, s := range secrets {
		var entries map[string]dockerConfigEntry
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			var cfg struct {
				Auths map[string]dockerConfigEntry `json:"auths"`
			}
			if json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg) != nil {
				continue
			}
			entries = cfg.Auths
		case corev1.SecretTypeDockercfg:
			if json.Unmarshal(s.Data[corev1.DockerConfigKey], &entries) != nil {
				continue
			}
		default:
			continue
		}
		// Sorted so that equally specific keys keep a stable order.
		locs := make([]string, 0, len(entries))
		for loc := range entries {
			locs = append(locs, loc)
		}
		sort.Strings(locs)
		for _, loc := range locs {
			k.add(loc, entries[loc])
		}
	}
	// Longest first: a key with a path beats its bare host.
	sort.SliceStable(k.keys, func(i, j int) bool { return len(k.keys[i]) > len(k.keys[j]) })
	return k
}

func (k *keyring) add(loc string, e dockerConfigEntry) {
	auth := ImageAuth{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
	if e.Auth != "" {
		// As docker does, "auth" wins over username and password.
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		user, pass, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return
		}
		auth.Username, auth.Password = user, pass
	}
	u, err := parseLocation(loc)
	if err != nil {
		return
	}
	// Docker treats /v1/ and /v2/ as the registry itself.
	p := strings.TrimSuffix(u.Path, "/")
	for _, v := range []string{"/v1", "/v2"} {
		if p == v || strings.HasPrefix(p, v+"/") {
			p = strings.TrimPrefix(p, v)
		}
	}
	key := u.Host + p
	if _, seen := k.creds[key]; !seen {
		k.keys = append(k.keys, key)
	}
	k.creds[key] = append(k.creds[key], auth)
}

// lookup returns the credentials for image's repository: those of every
// key that matches it, most specific first, else Docker Hub's for a Hub
// image.
func (k *keyring) lookup(image string) []ImageAuth {
	repo, _, _ := splitImage(image)
	if isDockerHub(repo) {
		repo = hubRepository(repo)
	}
	var out []ImageAuth
	for _, key := range k.keys {
		if locationMatches(key, repo) {
			out = append(out, k.creds[key]...)
		}
	}
	if len(out) == 0 && isDockerHub(repo) {
		out = k.creds[defaultRegistryKey]
	}
	return out
}

func parseLocation(loc string) (*url.URL, error) {
	if !strings.HasPrefix(loc, "https://") && !strings.HasPrefix(loc, "http://") {
		loc = "https://" + loc
	}
	return url.Parse(loc)
}

// locationMatches reports whether key (host[:port][/path], host parts
// globs) covers repo: the same number of host parts, each matching its
// glob, the same port, and key's path a prefix of repo's. So
// "*.example.com" matches "a.example.com/x" but not "example.com/x", and
// "example.com:5000" does not match "example.com/x".
func locationMatches(key, repo string) bool {
	k, err1 := parseLocation(key)
	r, err2 := parseLocation(repo)
	if err1 != nil || err2 != nil || k.Port() != r.Port() {
		return false
	}
	kp, rp := strings.Split(k.Hostname(), "."), strings.Split(r.Hostname(), ".")
	if len(kp) != len(rp) {
		return false
	}
	for i := range kp {
		if ok, err := path.Match(kp[i], rp[i]); err != nil || !ok {
			return false
		}
	}
	return strings.HasPrefix(r.Path, k.Path)
}

// isDockerHub reports whether repo lives on Docker Hub: no registry host
// before its first slash (a host has a dot or a port, or is localhost).
func isDockerHub(repo string) bool {
	first, _, found := strings.Cut(repo, "/")
	if !found || first == "docker.io" || first == "index.docker.io" {
		return true
	}
	return !strings.ContainsAny(first, ".:") && first != "localhost"
}

// hubRepository spells a Docker Hub repository in full, as credential
// keys name it: "nginx" is "docker.io/library/nginx".
func hubRepository(repo string) string {
	first, rest, found := strings.Cut(repo, "/")
	switch {
	case !found:
		return "docker.io/library/" + repo
	case first == "docker.io" || first == "index.docker.io":
		if !strings.Contains(rest, "/") {
			rest = "library/" + rest
		}
		return "docker.io/" + rest
	}
	return "docker.io/" + repo
}

// splitImage splits an image reference into repository, tag and digest;
// "example.com:5000/app:1" is ("example.com:5000/app", "1", "").
func splitImage(image string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}
