package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestPodDNS: with no cluster DNS, ClusterFirst falls back to the host's
// resolv.conf as Default does; None takes only the pod's dnsConfig; the
// pod's options replace the host's of the same name; limits apply.
func TestPodDNS(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	host := "# comment\ndomain old.example\nsearch a.example b.example\nnameserver 192.0.2.1\nnameserver 192.0.2.2 ; trailing\noptions ndots:1 edns0\n"
	if err := os.WriteFile(resolv, []byte(host), 0o644); err != nil {
		t.Fatal(err)
	}
	five := "5"
	podCfg := &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.3", "192.0.2.4"}, Searches: []string{"c.example"},
		Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &five}, {Name: "rotate"}}}
	hostDNS := &DNSConfig{Servers: []string{"192.0.2.1", "192.0.2.2"}, Searches: []string{"a.example", "b.example"}, Options: []string{"ndots:1", "edns0"}}
	tests := []struct {
		name       string
		resolvConf string
		policy     corev1.DNSPolicy
		cfg        *corev1.PodDNSConfig
		want       *DNSConfig
	}{
		{"ClusterFirst falls back to the host", resolv, corev1.DNSClusterFirst, nil, hostDNS},
		{"Default", resolv, corev1.DNSDefault, nil, hostDNS},
		{"merged, at most 3 nameservers", resolv, corev1.DNSClusterFirst, podCfg, &DNSConfig{
			Servers: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, Searches: []string{"a.example", "b.example", "c.example"},
			Options: []string{"ndots:5", "edns0", "rotate"}}},
		{"None", resolv, corev1.DNSNone, podCfg, &DNSConfig{
			Servers: []string{"192.0.2.3", "192.0.2.4"}, Searches: []string{"c.example"}, Options: []string{"ndots:5", "rotate"}}},
		{"no host file: the runtime's default", "", corev1.DNSClusterFirst, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Agent{cfg: Config{ResolvConf: tt.resolvConf}}
			pod := &corev1.Pod{Spec: corev1.PodSpec{DNSPolicy: tt.policy, DNSConfig: tt.cfg}}
			got, err := a.podDNS(pod)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("podDNS = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
