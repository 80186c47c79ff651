package cri

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

func TestCPUConversions(t *testing.T) {
	for _, tc := range []struct{ milli, shares, quota int64 }{
		{0, 2, 0},
		{1, 2, 1000}, // both floors
		{250, 256, 25000},
		{1000, 1024, 100000},
		{2500, 2560, 250000},
	} {
		if got := milliCPUToShares(tc.milli); got != tc.shares {
			t.Errorf("shares(%dm) = %d, want %d", tc.milli, got, tc.shares)
		}
		if got := milliCPUToQuota(tc.milli); got != tc.quota {
			t.Errorf("quota(%dm) = %d, want %d", tc.milli, got, tc.quota)
		}
	}
	res := linuxResources(&agent.Resources{CPURequestMilli: 500, CPULimitMilli: 1000, MemoryLimitBytes: 1 << 30})
	if res.CpuShares != 512 || res.CpuQuota != 100000 || res.CpuPeriod != 100000 || res.MemoryLimitInBytes != 1<<30 {
		t.Errorf("resources = %+v", res)
	}
	if res := linuxResources(&agent.Resources{CPURequestMilli: 100}); res.CpuQuota != 0 || res.CpuPeriod != 0 {
		t.Errorf("no limit should set no quota: %+v", res)
	}
}

func TestSecurityContext(t *testing.T) {
	uid, no := int64(1000), false
	sc := securityContext(&agent.SecurityContext{RunAsUser: &uid, AllowPrivilegeEscalation: &no, CapDrop: []string{"ALL"}}, runtimeapi.NamespaceMode_POD)
	if sc.RunAsUser.GetValue() != 1000 || !sc.NoNewPrivs || sc.Capabilities.DropCapabilities[0] != "ALL" || len(sc.MaskedPaths) == 0 {
		t.Errorf("security context = %+v", sc)
	}
	if sc.NamespaceOptions.Pid != runtimeapi.NamespaceMode_CONTAINER {
		t.Errorf("pid namespace = %v, want CONTAINER (the kubelet's default)", sc.NamespaceOptions.Pid)
	}
	priv := securityContext(&agent.SecurityContext{Privileged: true}, runtimeapi.NamespaceMode_NODE)
	if !priv.Privileged || priv.MaskedPaths != nil || priv.ReadonlyPaths != nil || priv.NoNewPrivs {
		t.Errorf("privileged = %+v", priv)
	}
	if def := securityContext(nil, runtimeapi.NamespaceMode_POD); def.NoNewPrivs || def.RunAsUser != nil {
		t.Errorf("default = %+v", def)
	}
}

func TestSandboxConfig(t *testing.T) {
	r := &Runtime{cfg: Config{LogDir: "/data/pod-logs", CgroupDriver: "systemd"}}
	cfg := r.sandboxConfig(&agent.SandboxConfig{
		PodUID: "u1", PodName: "web", PodNamespace: "ns", Attempt: 2, Hostname: "web", HostNetwork: true,
		Labels: map[string]string{"app": "web"},
		DNS:    &agent.DNSConfig{Servers: []string{"10.96.0.10"}},
		Ports:  []agent.PortMapping{{Protocol: "UDP", ContainerPort: 53, HostPort: 5353}},
	})
	if cfg.LogDirectory != "/data/pod-logs/ns_web_u1" || cfg.Metadata.Attempt != 2 {
		t.Errorf("config = %+v", cfg)
	}
	if cfg.Hostname != "" || cfg.Linux.SecurityContext.NamespaceOptions.Network != runtimeapi.NamespaceMode_NODE {
		t.Errorf("host network: hostname %q, namespaces %+v", cfg.Hostname, cfg.Linux.SecurityContext.NamespaceOptions)
	}
	if cfg.Labels["app"] != "web" || cfg.Labels[podUIDLabel] != "u1" || cfg.Labels[managedLabel] != "true" {
		t.Errorf("labels = %v", cfg.Labels)
	}
	if cfg.DnsConfig.Servers[0] != "10.96.0.10" || cfg.PortMappings[0].Protocol != runtimeapi.Protocol_UDP || cfg.PortMappings[0].HostPort != 5353 {
		t.Errorf("dns %+v ports %+v", cfg.DnsConfig, cfg.PortMappings)
	}
	if cfg.Linux.CgroupParent != "system.slice" {
		t.Errorf("cgroup parent = %q", cfg.Linux.CgroupParent)
	}
	cc := r.containerConfig(cfg, &agent.ContainerConfig{Name: "app", Attempt: 4, Image: "img:1", ImageRef: "sha256:abc",
		Mounts: []agent.Mount{{ContainerPath: "/data", HostPath: "/h", ReadOnly: true, Propagation: corev1.MountPropagationHostToContainer}}})
	if cc.LogPath != "app/4.log" || cc.Image.Image != "sha256:abc" || cc.Image.UserSpecifiedImage != "img:1" || cc.Annotations[imageAnnotation] != "img:1" {
		t.Errorf("container config = %+v", cc)
	}
	if m := cc.Mounts[0]; !m.Readonly || m.Propagation != runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER {
		t.Errorf("mount = %+v", m)
	}
}

func TestMemTotal(t *testing.T) {
	got, err := memTotal(strings.NewReader("MemFree: 1 kB\nMemTotal:       16318376 kB\n"))
	if err != nil || got != 16318376*1024 {
		t.Errorf("memTotal = %d, %v", got, err)
	}
	if _, err := memTotal(strings.NewReader("nothing\n")); err == nil {
		t.Error("no error without a MemTotal line")
	}
}

func TestContainerStatusClampsFinishedAt(t *testing.T) {
	c := &runtimeapi.Container{Id: "c", Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Labels: map[string]string{podUIDLabel: "u"}}
	st := &runtimeapi.ContainerStatus{State: runtimeapi.ContainerState_CONTAINER_EXITED, StartedAt: 2000, FinishedAt: 1000, ExitCode: 3, Reason: "Error"}
	got := containerStatus(c, st)
	if !got.FinishedAt.Equal(got.StartedAt) || got.ExitCode != 3 || got.PodUID != "u" || got.State != agent.ContainerExited {
		t.Errorf("status = %+v", got)
	}
	st.State, st.FinishedAt = runtimeapi.ContainerState_CONTAINER_RUNNING, 0
	if got := containerStatus(c, st); !got.FinishedAt.IsZero() || got.State != agent.ContainerRunning {
		t.Errorf("running status = %+v", got)
	}
}
