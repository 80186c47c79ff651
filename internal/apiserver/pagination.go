package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/storage/watchcache"
)

// continueToken is the opaque value clients pass back to get the next page:
// the revision the first page was served at and the last key returned.
// Same shape as upstream's so that it reads the same in logs.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func encodeContinue(rev int64, lastKey string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: lastKey})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.APIVersion != "meta.k8s.io/v1" || t.ResourceVersion <= 0 {
		return t, badRequest("continue key is not valid")
	}
	return t, nil
}

type listPage struct {
	items []*watchcache.Object
	meta  metav1.ListMeta
}

// listPage serves one page of a list with upstream's resourceVersion
// rules: unset is a consistent read, "0" any cached state, N with
// NotOlderThan at least N, and Exact (or a continue token older than the
// cache) is answered from the store's history at exactly that revision.
func (s *Server) listPage(ctx context.Context, res *resource, namespace string, sel selector, q url.Values) (listPage, error) {
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return listPage{}, err
	}
	rv, err := parseRV(q.Get("resourceVersion"))
	if err != nil {
		return listPage{}, err
	}
	match := metav1.ResourceVersionMatch(q.Get("resourceVersionMatch"))
	prefix := sel.prefix(res, namespace)

	var exactRev int64
	var startAfter string
	if c := q.Get("continue"); c != "" {
		if rv >= 0 {
			return listPage{}, badRequest("specifying resource version is not allowed when using continue")
		}
		tok, err := decodeContinue(c)
		if err != nil {
			return listPage{}, err
		}
		exactRev, startAfter = tok.ResourceVersion, tok.StartKey
	} else {
		switch match {
		case "", metav1.ResourceVersionMatchNotOlderThan:
			if match != "" && rv < 0 {
				return listPage{}, badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
			}
		case metav1.ResourceVersionMatchExact:
			if rv <= 0 {
				return listPage{}, badRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\" or unset")
			}
			exactRev = rv
		default:
			return listPage{}, badRequest("resourceVersionMatch: Unsupported value: %q", match)
		}
	}

	var items []*watchcache.Object
	var rev int64
	if exactRev > 0 && exactRev != s.cache.Revision() {
		items, rev, err = s.listFromStore(ctx, res, prefix, exactRev, sel)
		if err != nil {
			return listPage{}, err
		}
	} else {
		if exactRev == 0 {
			if err := s.awaitRV(ctx, rv); err != nil {
				return listPage{}, err
			}
		}
		items, rev = res.cache.List(prefix, sel.filter)
	}
	if startAfter != "" {
		i := sort.Search(len(items), func(i int) bool { return items[i].Key > startAfter })
		items = items[i:]
	}
	page := listPage{items: items, meta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10)}}
	if limit > 0 && int64(len(items)) > limit {
		page.items = items[:limit]
		page.meta.Continue = encodeContinue(rev, page.items[limit-1].Key)
		if sel.labels.Empty() && sel.fields.Empty() {
			remaining := int64(len(items)) - limit
			page.meta.RemainingItemCount = &remaining
		}
	}
	return page, nil
}

// listFromStore reads a prefix at an older revision from the store.
func (s *Server) listFromStore(ctx context.Context, res *resource, prefix string, rev int64, sel selector) ([]*watchcache.Object, int64, error) {
	kvs, listRev, err := s.store.List(ctx, prefix, rev)
	if err != nil {
		return nil, 0, storeError(err, res.groupResource(), "")
	}
	out := make([]*watchcache.Object, 0, len(kvs))
	for _, kv := range kvs {
		o, err := res.cache.Decode(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			return nil, 0, err
		}
		if sel.filter(o) {
			out = append(out, o)
		}
	}
	return out, listRev, nil
}

func parseLimit(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("invalid limit: %q", v)
	}
	return n, nil
}
