package apiserver_test

import (
	"bufio"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// TestTableWatch: `kubectl get -w` watches with Table output. Each event
// carries a Table of one row; only the first has the column definitions.
func TestTableWatch(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	for _, name := range []string{"a", "b"} {
		if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, configMap(name, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	body, err := s.Client.CoreV1().RESTClient().Get().Namespace("default").Resource("configmaps").
		Param("watch", "true").Param("resourceVersion", "0").Param("includeObject", "None").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json").Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	rows := map[string]bool{}
	for i := 0; i < 2 && sc.Scan(); i++ {
		var ev struct {
			Type   string
			Object metav1.Table
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, sc.Bytes())
		}
		if ev.Type != "ADDED" || ev.Object.Kind != "Table" || len(ev.Object.Rows) != 1 || ev.Object.ResourceVersion == "" {
			t.Fatalf("event %d = %s %+v, want ADDED with a one-row Table", i, ev.Type, ev.Object)
		}
		if hasColumns := len(ev.Object.ColumnDefinitions) > 0; hasColumns != (i == 0) {
			t.Errorf("event %d has %d column definitions; want them in the first event only", i, len(ev.Object.ColumnDefinitions))
		}
		if ev.Object.Rows[0].Object.Raw != nil {
			t.Errorf("event %d row carries an object despite includeObject=None", i)
		}
		rows[ev.Object.Rows[0].Cells[0].(string)] = true
	}
	if !rows["a"] || !rows["b"] {
		t.Errorf("rows seen: %v, want a and b", rows)
	}
}
