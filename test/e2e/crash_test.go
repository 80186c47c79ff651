package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSIGKILLDuringWriteBurstLosesNothing kills the server in the middle
// of concurrent creates and checks that every create the server
// acknowledged is there after a restart, intact.
func TestSIGKILLDuringWriteBurstLosesNothing(t *testing.T) {
	c := startCluster(t)
	client := c.client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("burst-%d-%d", w, i)
				payload := strings.Repeat(fmt.Sprintf("%d-%d;", w, i), 50)
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"payload": payload}}
				if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[name] = payload
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(1500 * time.Millisecond)
	c.kill()
	wg.Wait()
	cancel()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 100 {
		t.Fatalf("only %d writes acknowledged before the kill; the burst did not run", n)
	}

	c.start()
	list, err := c.client().CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, cm := range list.Items {
		stored[cm.Name] = cm.Data["payload"]
	}
	for name, payload := range acked {
		got, ok := stored[name]
		if !ok {
			t.Fatalf("acknowledged create %s lost after SIGKILL (%d acknowledged, %d stored)", name, n, len(stored))
		}
		if got != payload {
			t.Fatalf("%s stored with wrong data after SIGKILL", name)
		}
	}
	if strings.Contains(c.logs.String(), "undecodable") {
		t.Fatalf("server found corrupt objects after restart:\n%s", c.logs)
	}
	t.Logf("%d acknowledged creates, %d stored after SIGKILL and restart", n, len(stored))
}
