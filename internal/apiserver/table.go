package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/storage/watchcache"
)

// defaultColumns is upstream's table for kinds without their own printer.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func defaultRow(obj runtime.Object) ([]any, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	return []any{acc.GetName(), acc.GetCreationTimestamp().UTC().Format(time.RFC3339)}, nil
}

// writeTable answers a request for server-side Table output, which is what
// `kubectl get` prints.
func (s *Server) writeTable(w http.ResponseWriter, r *http.Request, res *resource, items []*watchcache.Object, lm metav1.ListMeta, m mediaType) error {
	include, err := includeObject(r)
	if err != nil {
		return err
	}
	table, err := s.table(res, items, include, m.AsVersion, true)
	if err != nil {
		return err
	}
	table.ListMeta = lm
	s.writeEncoded(w, http.StatusOK, mediaJSON, table)
	return nil
}

// includeObject is the request's includeObject policy (default Metadata).
func includeObject(r *http.Request) (metav1.IncludeObjectPolicy, error) {
	include := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject"))
	switch include {
	case "":
		return metav1.IncludeMetadata, nil
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
		return include, nil
	}
	return "", badRequest("includeObject: Unsupported value: %q", include)
}

// table renders items as a Table with a row each; the column definitions
// are left out when withColumns is false (watch events after the first,
// as upstream sends them).
func (s *Server) table(res *resource, items []*watchcache.Object, include metav1.IncludeObjectPolicy, asVersion string, withColumns bool) (*metav1.Table, error) {
	columns, row := res.Strategy.Columns, res.Strategy.Row
	if row == nil {
		columns, row = defaultColumns, defaultRow
	}
	if !withColumns {
		columns = nil
	}
	table := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/" + asVersion, Kind: "Table"},
		ColumnDefinitions: columns,
		Rows:              make([]metav1.TableRow, 0, len(items)),
	}
	for _, o := range items {
		obj, err := s.served(res, o)
		if err != nil {
			return nil, err
		}
		cells, err := row(obj)
		if err != nil {
			return nil, err
		}
		tr := metav1.TableRow{Cells: cells}
		switch include {
		case metav1.IncludeMetadata:
			pm, err := partialMeta(obj, asVersion)
			if err != nil {
				return nil, err
			}
			if tr.Object.Raw, err = json.Marshal(pm); err != nil {
				return nil, err
			}
		case metav1.IncludeObject:
			raw, err := s.encodeCached(res, o, mediaJSON)
			if err != nil {
				return nil, err
			}
			tr.Object.Raw = bytes.TrimRight(raw, "\n")
		}
		table.Rows = append(table.Rows, tr)
	}
	return table, nil
}
