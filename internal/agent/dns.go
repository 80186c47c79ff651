package agent

import (
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Upstream's resolv.conf limits (the kubelet's: at most 3 nameservers; at
// most 32 search domains of at most 253 characters each, 2048 characters
// in all; more are dropped with a DNSConfigForming event).
const (
	maxDNSNameservers      = 3
	maxDNSSearches         = 32
	maxDNSSearchChars      = 2048
	maxDNSSearchDomain     = 253
	ReasonDNSConfigForming = "DNSConfigForming"
	// DefaultClusterDomain is the kubelet's --cluster-domain default.
	DefaultClusterDomain = "cluster.local"
)

// podDNS computes the sandbox's resolv.conf as the kubelet's GetPodDNS
// does. ClusterFirst (for pods off the host network) and
// ClusterFirstWithHostNet get the cluster DNS servers, the namespace's
// search list followed by the host's, and ndots:5; without cluster DNS
// (Config.ClusterDNS empty) they fall back to Default, the host's
// resolv.conf (Config.ResolvConf). None uses only the pod's dnsConfig,
// which the other policies merge in. nil leaves the runtime's default
// (the host's file): unlike the kubelet, which then points pods at
// 127.0.0.1, an empty ResolvConf means "unknown", not "disabled".
func (a *Agent) podDNS(pod *corev1.Pod) (*DNSConfig, error) {
	var dns DNSConfig
	if pod.Spec.DNSPolicy != corev1.DNSNone {
		if a.cfg.ResolvConf != "" {
			host, err := readResolvConf(a.cfg.ResolvConf)
			if err != nil {
				return nil, err
			}
			dns = host
		}
		if a.usesClusterDNS(pod) {
			dns = DNSConfig{
				Servers:  append([]string(nil), a.cfg.ClusterDNS...),
				Searches: appendUnique(clusterSearches(pod.Namespace, a.cfg.ClusterDomain), dns.Searches...),
				Options:  []string{"ndots:5"},
			}
		} else if a.cfg.ResolvConf == "" && pod.Spec.DNSConfig == nil {
			return nil, nil
		}
	}
	if pc := pod.Spec.DNSConfig; pc != nil {
		dns.Servers = appendUnique(dns.Servers, pc.Nameservers...)
		dns.Searches = appendUnique(dns.Searches, pc.Searches...)
		dns.Options = mergeDNSOptions(dns.Options, pc.Options)
	}
	if len(dns.Servers) > maxDNSNameservers {
		a.event(pod, corev1.EventTypeWarning, ReasonDNSConfigForming,
			"Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s",
			strings.Join(dns.Servers[:maxDNSNameservers], " "))
		dns.Servers = dns.Servers[:maxDNSNameservers]
	}
	if searches, cut := fitSearches(dns.Searches); cut {
		a.event(pod, corev1.EventTypeWarning, ReasonDNSConfigForming,
			"Search Line limits were exceeded, some search paths have been omitted, the applied search line is: %s",
			strings.Join(searches, " "))
		dns.Searches = searches
	}
	return &dns, nil
}

// usesClusterDNS is the kubelet's choice of the cluster type: a
// host-network pod needs ClusterFirstWithHostNet, as its ClusterFirst
// means the host's resolver.
func (a *Agent) usesClusterDNS(pod *corev1.Pod) bool {
	if len(a.cfg.ClusterDNS) == 0 {
		return false
	}
	switch pod.Spec.DNSPolicy {
	case corev1.DNSClusterFirstWithHostNet:
		return true
	case corev1.DNSClusterFirst, "":
		return !pod.Spec.HostNetwork
	}
	return false
}

// clusterSearches is the search list a ClusterFirst pod starts with.
func clusterSearches(namespace, domain string) []string {
	if domain == "" {
		domain = DefaultClusterDomain
	}
	return []string{namespace + ".svc." + domain, "svc." + domain, domain}
}

// fitSearches drops what the kubelet drops: domains past the 32nd, any
// longer than a DNS name may be (glibc aborts on them), then domains from
// the end until the line fits in 2048 characters. It reports whether
// anything was dropped.
func fitSearches(searches []string) ([]string, bool) {
	cut := false
	if len(searches) > maxDNSSearches {
		searches, cut = searches[:maxDNSSearches], true
	}
	kept := searches[:0:0]
	for _, s := range searches {
		if len(s) > maxDNSSearchDomain {
			cut = true
			continue
		}
		kept = append(kept, s)
	}
	for len(kept) > 0 && len(strings.Join(kept, " ")) > maxDNSSearchChars {
		kept, cut = kept[:len(kept)-1], true
	}
	if !cut {
		return searches, false
	}
	return kept, true
}

// readResolvConf parses the nameserver, search (and domain) and options
// lines of a resolv.conf, as the kubelet's parseResolvConf does: search
// domains lose a trailing dot, so "a." and "a" count once, and "." goes.
func readResolvConf(path string) (DNSConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return DNSConfig{}, fmt.Errorf("reading the host's resolv.conf: %w", err)
	}
	var dns DNSConfig
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			dns.Servers = append(dns.Servers, f[1])
		case "domain", "search":
			// The last of search and domain wins, as in resolv.conf(5).
			dns.Searches = nil
			for _, s := range f[1:] {
				if s = strings.TrimSuffix(s, "."); s != "" {
					dns.Searches = appendUnique(dns.Searches, s)
				}
			}
		case "options":
			dns.Options = mergeDNSOptions(dns.Options, nil, f[1:]...)
		}
	}
	return dns, nil
}

func appendUnique(list []string, add ...string) []string {
	for _, s := range add {
		dup := false
		for _, have := range list {
			dup = dup || have == s
		}
		if !dup {
			list = append(list, s)
		}
	}
	return list
}

// mergeDNSOptions adds options ("ndots:5", "edns0") to opts; an option of
// the same name replaces the earlier one, as the kubelet merges the pod's
// over the host's.
func mergeDNSOptions(opts []string, pod []corev1.PodDNSConfigOption, raw ...string) []string {
	for _, o := range pod {
		v := o.Name
		if o.Value != nil {
			v += ":" + *o.Value
		}
		raw = append(raw, v)
	}
	for _, o := range raw {
		name, _, _ := strings.Cut(o, ":")
		replaced := false
		for i, have := range opts {
			if n, _, _ := strings.Cut(have, ":"); n == name {
				opts[i], replaced = o, true
			}
		}
		if !replaced {
			opts = append(opts, o)
		}
	}
	return opts
}
