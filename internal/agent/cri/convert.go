package cri

import (
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// The kubelet's CPU conversions (pkg/kubelet/cm, MilliCPUToShares and
// MilliCPUToQuota).
const (
	minShares      = 2
	sharesPerCPU   = 1024
	quotaPeriod    = 100000 // µs: 100ms
	minQuotaPeriod = 1000   // µs
)

// milliCPUToShares: a request of 250m is 250*1024/1000 = 256 shares; no
// request gets the minimum, 2, so best-effort containers yield to others.
func milliCPUToShares(milli int64) int64 {
	if milli == 0 {
		return minShares
	}
	return max(milli*sharesPerCPU/1000, minShares)
}

// milliCPUToQuota: a limit of 500m is 500*100000/1000 = 50000µs per
// 100000µs period; no limit is no quota (0). The kernel rejects quotas
// under 1ms.
func milliCPUToQuota(milli int64) int64 {
	if milli == 0 {
		return 0
	}
	return max(milli*quotaPeriod/1000, minQuotaPeriod)
}

func linuxResources(res *agent.Resources) *runtimeapi.LinuxContainerResources {
	if res == nil {
		return &runtimeapi.LinuxContainerResources{CpuShares: minShares}
	}
	out := &runtimeapi.LinuxContainerResources{
		CpuShares:          milliCPUToShares(res.CPURequestMilli),
		MemoryLimitInBytes: res.MemoryLimitBytes,
	}
	if q := milliCPUToQuota(res.CPULimitMilli); q != 0 {
		out.CpuQuota, out.CpuPeriod = q, quotaPeriod
	}
	return out
}

// The kubelet's default masked and read-only /proc and /sys paths
// (pkg/securitycontext), applied to every unprivileged container.
var (
	defaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

func securityContext(sc *agent.SecurityContext, network runtimeapi.NamespaceMode) *runtimeapi.LinuxContainerSecurityContext {
	out := &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{
			Network: network, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
		},
		MaskedPaths:   defaultMaskedPaths,
		ReadonlyPaths: defaultReadonlyPaths,
	}
	if sc == nil {
		return out
	}
	out.Privileged = sc.Privileged
	out.ReadonlyRootfs = sc.ReadOnlyRootFilesystem
	if sc.RunAsUser != nil {
		out.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
	}
	if sc.RunAsGroup != nil {
		out.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
	}
	// allowPrivilegeEscalation: false is no_new_privs; unset allows it.
	out.NoNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	if len(sc.CapAdd)+len(sc.CapDrop) > 0 {
		out.Capabilities = &runtimeapi.Capability{AddCapabilities: sc.CapAdd, DropCapabilities: sc.CapDrop}
	}
	if sc.Privileged {
		out.MaskedPaths, out.ReadonlyPaths = nil, nil
	}
	return out
}

func mounts(ms []agent.Mount) []*runtimeapi.Mount {
	var out []*runtimeapi.Mount
	for _, m := range ms {
		prop := runtimeapi.MountPropagation_PROPAGATION_PRIVATE
		switch m.Propagation {
		case corev1.MountPropagationHostToContainer:
			prop = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		case corev1.MountPropagationBidirectional:
			prop = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: m.ContainerPath, HostPath: m.HostPath, Readonly: m.ReadOnly, Propagation: prop})
	}
	return out
}
