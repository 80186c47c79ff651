package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"

	"github.com/skiff-sh/skiff/internal/network/netnstest"
)

// kernelTable is a proxy table in a throwaway namespace, for benchmarks
// that include nft and the kernel.
func kernelTable(b *testing.B) *familyTable {
	netnstest.RequireRoot(b)
	ns := netnstest.New(b, "pxb")
	nft, err := newNSNFT(ns, knftables.IPv4Family, itTable)
	if err != nil {
		b.Skipf("nftables unusable: %v", err)
	}
	return &familyTable{
		gen:          generator{fam: familyV4, clusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}},
		nft:          nft,
		serviceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")},
		applied:      map[string]*objects{},
	}
}

// BenchmarkKernelFullSync is one full sync of 1,000 services with 10
// endpoints each into a table that already holds them (the periodic
// resync), through nft into the kernel.
func BenchmarkKernelFullSync(b *testing.B) {
	t := kernelTable(b)
	desired := benchObjects(&t.gen, 1000, 10)
	ctx := context.Background()
	if _, err := t.sync(ctx, desired, true); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := t.sync(ctx, desired, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKernelEndpointChange is the partial sync after one service
// loses or regains an endpoint, in tables of 10 and 1,000 services with
// 10 endpoints each: the time from the proxy seeing an EndpointSlice
// change to the kernel having it. The difference between the sizes is
// what the kernel's whole-table validation of jumps costs.
func BenchmarkKernelEndpointChange(b *testing.B) {
	for _, services := range []int{10, 1000} {
		b.Run(fmt.Sprintf("services=%d", services), func(b *testing.B) {
			t := kernelTable(b)
			ctx := context.Background()
			if _, err := t.sync(ctx, benchObjects(&t.gen, services, 10), true); err != nil {
				b.Fatal(err)
			}
			ten, nine := benchObjects(&t.gen, 1, 10), benchObjects(&t.gen, 1, 9)
			i := 0
			for b.Loop() {
				next := nine
				if i%2 == 1 {
					next = ten
				}
				i++
				if _, err := t.sync(ctx, next, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// notifyNFT reports each transaction that reached the kernel.
type notifyNFT struct {
	knftables.Interface
	ran chan string
}

func (n *notifyNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	err := n.Interface.Run(ctx, tx)
	if err == nil {
		select {
		case n.ran <- tx.String():
		default: // nobody is waiting (the final table delete)
		}
	}
	return err
}

// BenchmarkEndpointChangeToKernel is the whole path with 1,000 services
// of 10 endpoints: an EndpointSlice update through the API client, the
// informer, the sync loop and nft, until the transaction is in the
// kernel. The target is 100ms.
func BenchmarkEndpointChangeToKernel(b *testing.B) {
	netnstest.RequireRoot(b)
	ns := netnstest.New(b, "pxe")
	var objs []runtime.Object
	for i := range 1000 {
		name := fmt.Sprintf("svc-%d", i)
		objs = append(objs, service("bench", name, fmt.Sprintf("10.96.%d.%d", i>>8, i&0xff), []v1.ServicePort{tcpPort("http", 80, 8080)}),
			benchSlice(name, i, 10))
	}
	client := fake.NewClientset(objs...)
	nft := &notifyNFT{ran: make(chan string, 16)}
	p, err := New(Config{
		NodeName: testNode, ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")},
		Client:       client, Informers: informers.NewSharedInformerFactory(client, 0), TableName: itTable,
		Conntrack: nsConntrack(b, ns),
		NewNFT: func(f knftables.Family, table string) (knftables.Interface, error) {
			inner, err := newNSNFT(ns, f, table)
			nft.Interface = inner
			return nft, err
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case <-p.Synced():
	case err := <-done:
		b.Fatalf("Run ended before the first sync: %v", err)
	case <-time.After(5 * time.Minute):
		b.Fatal("first sync never completed")
	}
	for len(nft.ran) > 0 {
		<-nft.ran
	}
	i := 0
	for b.Loop() {
		i++
		s := benchSlice("svc-0", 0, 10-i%2) // 9, 10, 9, ...: every update changes something
		if _, err := client.DiscoveryV1().EndpointSlices("bench").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		waitForTx(b, nft.ran, "bench/svc-0/")
	}
}

func benchSlice(svc string, i, endpoints int) *discoveryv1.EndpointSlice {
	var eps []ep
	for j := range endpoints {
		eps = append(eps, ep{ip: fmt.Sprintf("10.244.%d.%d", i%200, j+2)})
	}
	return slice("bench", svc, svc+"-1", map[string]int32{"http": 8080}, eps...)
}

// waitForTx waits for a transaction mentioning what; the deadline only
// turns a hang into a failure.
func waitForTx(b *testing.B, ran <-chan string, what string) {
	for {
		select {
		case tx := <-ran:
			if strings.Contains(tx, what) {
				return
			}
		case <-time.After(time.Minute):
			b.Fatalf("no transaction touching %s reached the kernel", what)
		}
	}
}
