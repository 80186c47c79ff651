package cri

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// MaxPods is the kubelet's default maxPods.
const MaxPods = 110

// NodeCapacity measures this machine as the kubelet's cadvisor-based
// capacity does: every CPU, MemTotal from /proc/meminfo, the size of the
// filesystem holding dataDir as ephemeral storage, and MaxPods pods.
func NodeCapacity(dataDir string) (corev1.ResourceList, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return nil, fmt.Errorf("node capacity: %w", err)
	}
	defer f.Close()
	mem, err := memTotal(f)
	if err != nil {
		return nil, fmt.Errorf("node capacity: /proc/meminfo: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dataDir, &st); err != nil {
		return nil, fmt.Errorf("node capacity: statfs %s: %w", dataDir, err)
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(mem, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(MaxPods, resource.DecimalSI),
	}, nil
}

// memTotal reads "MemTotal:  16318376 kB" (kB meaning KiB) in bytes.
func memTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("MemTotal %q: %w", fields[1], err)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no MemTotal line")
}

// NodeAddresses returns the hostname and the InternalIP: the source
// address of the default route (found by "connecting" a UDP socket, which
// sends nothing), else the first global unicast IPv4 address, as the
// kubelet's fallback does.
func NodeAddresses(hostname string) ([]corev1.NodeAddress, error) {
	addrs := []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: hostname}}
	if conn, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		ip := conn.LocalAddr().(*net.UDPAddr).IP
		conn.Close()
		if ip.IsGlobalUnicast() {
			return append(addrs, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()}), nil
		}
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("node addresses: %w", err)
	}
	for _, a := range ifaddrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return append(addrs, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: n.IP.String()}), nil
		}
	}
	return nil, fmt.Errorf("node addresses: no global unicast IPv4 address on any interface")
}
