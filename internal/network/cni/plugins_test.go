package cni

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/skiff-sh/skiff/internal/network/netnstest"
)

// testPod is one pod's network namespace, attached through the plugins.
type testPod struct {
	ns *netnstest.NetNS
	rt *libcni.RuntimeConf
	ip netip.Addr
}

// TestPluginsConnectPodsOnTheBridge runs Debian's real bridge, host-local
// and portmap plugins with the generated configuration, as containerd
// would, for two pods. Everything happens in namespaces the test makes: a
// "node" namespace holding the bridge and the iptables rules, and one per
// pod, so the machine's own network is never touched.
func TestPluginsConnectPodsOnTheBridge(t *testing.T) {
	netnstest.RequireRoot(t)
	if missing := MissingPlugins(BinDir()); len(missing) > 0 {
		t.Skipf("CNI plugins %v missing from %s (scripts/install-deps.sh installs containernetworking-plugins)", missing, BinDir())
	}
	dataDir := t.TempDir()
	podCIDR := netip.MustParsePrefix("10.42.7.0/24")
	if _, err := Write(dataDir, podCIDR.String(), Options{}); err != nil {
		t.Fatal(err)
	}
	list, err := libcni.ConfListFromFile(ConfPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	cninet := libcni.NewCNIConfigWithCacheDir([]string{BinDir()}, filepath.Join(dataDir, "cache"), nil)
	node := netnstest.New(t, "node")

	pods := make([]*testPod, 2)
	for i := range pods {
		pods[i] = addPod(t, cninet, list, node, fmt.Sprintf("pod%d", i), podCIDR, i == 1)
	}
	if pods[0].ip == pods[1].ip {
		t.Fatalf("both pods got %s", pods[0].ip)
	}
	// Pod to pod across the bridge, both ways, unNATed: the receiver sees
	// the sender's own IP.
	expectConnect(t, pods[0].ns, pods[1].ns, netip.AddrPortFrom(pods[1].ip, 8080), pods[1].ip, pods[0].ip)
	expectConnect(t, pods[1].ns, pods[0].ns, netip.AddrPortFrom(pods[0].ip, 8080), pods[0].ip, pods[1].ip)
	// hostPort 18080 -> pod1:8080 through portmap's DNAT, dialled on the
	// node at the gateway address (the bridge's).
	gw := podCIDR.Addr().Next()
	expectConnect(t, node, pods[1].ns, netip.AddrPortFrom(gw, 18080), pods[1].ip, netip.Addr{})

	for _, p := range pods {
		if err := node.Do(func() error { return cninet.DelNetworkList(context.Background(), list, p.rt) }); err != nil {
			t.Fatalf("DEL %s: %v", p.rt.ContainerID, err)
		}
	}
	// host-local keeps one file per allocated IP: none may be left.
	for _, p := range pods {
		if _, err := os.Stat(filepath.Join(IPAMDataDir(dataDir), NetworkName, p.ip.String())); !os.IsNotExist(err) {
			t.Errorf("host-local still holds %s after DEL (stat: %v)", p.ip, err)
		}
	}
}

// addPod makes a pod namespace and runs ADD for it from the node
// namespace; withHostPort asks portmap for hostPort 18080 -> 8080.
func addPod(t *testing.T, cninet *libcni.CNIConfig, list *libcni.NetworkConfigList, node *netnstest.NetNS, id string, podCIDR netip.Prefix, withHostPort bool) *testPod {
	t.Helper()
	ns := netnstest.New(t, id)
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: ns.Path(), IfName: "eth0"}
	if withHostPort {
		rt.CapabilityArgs = map[string]any{"portMappings": []map[string]any{
			{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"},
		}}
	}
	var res *types100.Result
	err := node.Do(func() error {
		r, err := cninet.AddNetworkList(context.Background(), list, rt)
		if err != nil {
			return err
		}
		res, err = types100.NewResultFromResult(r)
		return err
	})
	if err != nil {
		t.Fatalf("ADD %s: %v", id, err)
	}
	t.Cleanup(func() { _ = node.Do(func() error { return cninet.DelNetworkList(context.Background(), list, rt) }) })
	if len(res.IPs) != 1 {
		t.Fatalf("ADD %s: IPs = %v, want one", id, res.IPs)
	}
	ip, _ := netip.AddrFromSlice(res.IPs[0].Address.IP.To4())
	if !podCIDR.Contains(ip) || ip == podCIDR.Addr().Next() {
		t.Fatalf("ADD %s: IP %s not a pod address of %s", id, ip, podCIDR)
	}
	if gw := res.IPs[0].Gateway.String(); gw != podCIDR.Addr().Next().String() {
		t.Fatalf("ADD %s: gateway %s, want %s", id, gw, podCIDR.Addr().Next())
	}
	return &testPod{ns: ns, rt: rt, ip: ip}
}

// expectConnect listens on listenIP:8080 in to's namespace, dials target
// from from's namespace and checks the connection arrives, carrying a
// byte, from wantSource when that is valid.
func expectConnect(t *testing.T, from, to *netnstest.NetNS, target netip.AddrPort, listenIP, wantSource netip.Addr) {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(listenIP, 8080).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	err := from.Do(func() error {
		c, err := net.DialTimeout("tcp", target.String(), 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte{42})
		return err
	})
	if err != nil {
		t.Fatalf("dialling %s from %s: %v", target, from.Name, err)
	}
	select {
	case c, ok := <-accepted:
		if !ok {
			t.Fatal("accept failed")
		}
		defer c.Close()
		b := make([]byte, 1)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 42 {
			t.Fatalf("reading from %s: %v", target, err)
		}
		src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if wantSource.IsValid() && src != wantSource {
			t.Fatalf("connection to %s came from %s, want %s", target, src, wantSource)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("no connection arrived for %s", target)
	}
}
