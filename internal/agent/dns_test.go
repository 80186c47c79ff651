package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

// TestPodDNS: the kubelet's GetPodDNS for each policy, with and without
// cluster DNS: ClusterFirst gets the cluster's nameserver, the namespace's
// search list then the host's, and ndots:5 (host options dropped); a
// host-network pod needs ClusterFirstWithHostNet for that; without cluster
// DNS ClusterFirst falls back to the host's resolv.conf as Default does;
// None takes only the pod's dnsConfig; the pod's options replace those of
// the same name; limits apply.
func TestPodDNS(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	host := "# comment\ndomain old.example\nsearch a.example. b.example . a.example\nnameserver 192.0.2.1\nnameserver 192.0.2.2 ; trailing\noptions ndots:1 edns0\n"
	if err := os.WriteFile(resolv, []byte(host), 0o644); err != nil {
		t.Fatal(err)
	}
	five := "5"
	podCfg := &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.3", "192.0.2.4"}, Searches: []string{"c.example"},
		Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &five}, {Name: "rotate"}}}
	hostDNS := &DNSConfig{Servers: []string{"192.0.2.1", "192.0.2.2"}, Searches: []string{"a.example", "b.example"}, Options: []string{"ndots:1", "edns0"}}
	clusterSearch := []string{"ns1.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	clusterDNS := &DNSConfig{Servers: []string{"10.43.0.10"}, Searches: append(clusterSearch, "a.example", "b.example"), Options: []string{"ndots:5"}}
	cluster := []string{"10.43.0.10"}
	tests := []struct {
		name       string
		resolvConf string
		clusterDNS []string
		policy     corev1.DNSPolicy
		hostNet    bool
		cfg        *corev1.PodDNSConfig
		want       *DNSConfig
	}{
		{"ClusterFirst", resolv, cluster, corev1.DNSClusterFirst, false, nil, clusterDNS},
		{"empty policy is ClusterFirst", resolv, cluster, "", false, nil, clusterDNS},
		{"ClusterFirst on the host network is Default", resolv, cluster, corev1.DNSClusterFirst, true, nil, hostDNS},
		{"ClusterFirstWithHostNet", resolv, cluster, corev1.DNSClusterFirstWithHostNet, true, nil, clusterDNS},
		{"ClusterFirstWithHostNet off the host network", resolv, cluster, corev1.DNSClusterFirstWithHostNet, false, nil, clusterDNS},
		{"ClusterFirst without a host file", "", cluster, corev1.DNSClusterFirst, false, nil,
			&DNSConfig{Servers: cluster, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{"ClusterFirst merged with dnsConfig", resolv, cluster, corev1.DNSClusterFirst, false, podCfg, &DNSConfig{
			Servers:  []string{"10.43.0.10", "192.0.2.3", "192.0.2.4"},
			Searches: append(append([]string(nil), clusterDNS.Searches...), "c.example"),
			Options:  []string{"ndots:5", "rotate"}}},
		{"Default ignores cluster DNS", resolv, cluster, corev1.DNSDefault, false, nil, hostDNS},
		{"None ignores cluster DNS", resolv, cluster, corev1.DNSNone, false, podCfg, &DNSConfig{
			Servers: []string{"192.0.2.3", "192.0.2.4"}, Searches: []string{"c.example"}, Options: []string{"ndots:5", "rotate"}}},
		{"no cluster DNS: ClusterFirst falls back to the host", resolv, nil, corev1.DNSClusterFirst, false, nil, hostDNS},
		{"no cluster DNS, merged, at most 3 nameservers", resolv, nil, corev1.DNSClusterFirst, false, podCfg, &DNSConfig{
			Servers: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, Searches: []string{"a.example", "b.example", "c.example"},
			Options: []string{"ndots:5", "edns0", "rotate"}}},
		{"no cluster DNS, no host file: the runtime's default", "", nil, corev1.DNSClusterFirst, false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Agent{cfg: Config{ResolvConf: tt.resolvConf, ClusterDNS: tt.clusterDNS}}
			pod := &corev1.Pod{Spec: corev1.PodSpec{DNSPolicy: tt.policy, DNSConfig: tt.cfg, HostNetwork: tt.hostNet}}
			pod.Namespace = "ns1"
			got, err := a.podDNS(pod)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("podDNS = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestPodDNSSearchLimits: the cluster domain roots the search list; past
// 32 domains, domains longer than 253 characters and domains that take
// the line past 2048 characters are dropped, with a DNSConfigForming
// event, as the kubelet does.
func TestPodDNSSearchLimits(t *testing.T) {
	long := strings.Repeat("a", 254)
	label := strings.Repeat("b", 62) + ".example" // 70 characters
	var many []string
	for i := range 40 {
		many = append(many, string(rune('a'+i%26))+strings.Repeat("x", i/26)+".example")
	}
	var wide []string
	for i := range 28 { // 31 domains in all: under the count limit
		wide = append(wide, string(rune('a'+i%26))+strings.Repeat("z", i/26)+label)
	}
	tests := []struct {
		name     string
		searches []string
		check    func([]string) bool
	}{
		{"32 domains at most", many, func(s []string) bool { return len(s) == 32 && s[0] == "ns1.svc.corp.test" && s[31] == many[28] }},
		{"too long a domain", []string{"x.example", long, "y.example"}, func(s []string) bool {
			return reflect.DeepEqual(s, []string{"ns1.svc.corp.test", "svc.corp.test", "corp.test", "x.example", "y.example"})
		}},
		{"2048 characters", wide, func(s []string) bool {
			line := strings.Join(s, " ")
			return len(line) <= 2048 && len(line) > 2048-75 && len(s) == 30 && s[29] == wide[26]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(4)
			a := &Agent{cfg: Config{ClusterDNS: []string{"10.0.0.10"}, ClusterDomain: "corp.test", Recorder: rec}}
			pod := &corev1.Pod{Spec: corev1.PodSpec{DNSConfig: &corev1.PodDNSConfig{Searches: tt.searches}}}
			pod.Namespace = "ns1"
			got, err := a.podDNS(pod)
			if err != nil || !tt.check(got.Searches) {
				t.Fatalf("searches = %q (%d), %v", got.Searches, len(got.Searches), err)
			}
			select {
			case e := <-rec.Events:
				if !strings.Contains(e, ReasonDNSConfigForming) {
					t.Errorf("event = %q", e)
				}
			default:
				t.Error("no DNSConfigForming event")
			}
		})
	}
}
