package apiserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/watchcache"
)

// Upstream ends watches after a randomized time so clients spread their
// reconnects; a client may ask for less with timeoutSeconds.
const minWatchTimeout = 30 * time.Minute

func (s *Server) watch(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	q := r.URL.Query()
	m, err := negotiate(r.Header.Get("Accept"))
	if err != nil {
		return err
	}
	if m.As != "" && m.As != "PartialObjectMetadata" && m.As != "Table" {
		return badRequest("watch does not support %s output", m.As)
	}
	include, err := includeObject(r)
	if err != nil {
		return err
	}
	sel, err := parseSelection(res, q)
	if err != nil {
		return err
	}
	if info.Name != "" {
		// GET .../pods/NAME?watch=true watches one object.
		sel.name = info.Name
	}
	rv, err := parseRV(q.Get("resourceVersion"))
	if err != nil {
		return err
	}
	opts := watchcache.WatchOptions{
		Bookmarks: isTrue(q.Get("allowWatchBookmarks")),
		Prefix:    sel.prefix(res, info.Namespace),
		Filter:    sel.filter,
	}
	if sel.name != "" {
		name := sel.name
		inner := sel.filter
		opts.Filter = func(o *watchcache.Object) bool { return o.Fields.Get("metadata.name") == name && inner(o) }
	}
	sendInitial := q.Get("sendInitialEvents")
	switch {
	case sendInitial == "true":
		if q.Get("resourceVersionMatch") != string(metav1.ResourceVersionMatchNotOlderThan) {
			return badRequest("sendInitialEvents is forbidden unless resourceVersionMatch is NotOlderThan")
		}
		if !opts.Bookmarks {
			return badRequest("sendInitialEvents requires allowWatchBookmarks=true")
		}
		opts.Initial, opts.InitialEndBookmark = true, true
	case rv <= 0 && sendInitial != "false":
		// Unset and "0" start with the current state as ADDED events.
		opts.Initial = true
	default:
		opts.FromRev = rv
	}
	if opts.Initial || rv > 0 {
		if err := s.awaitRV(r.Context(), rv); err != nil {
			return err
		}
	} else if rv < 0 {
		// sendInitialEvents=false with no version: changes from now on.
		opts.FromRev = s.cache.Revision()
	}

	timeout := minWatchTimeout + time.Duration(rand.Int64N(int64(minWatchTimeout)))
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n < 0 {
			return badRequest("invalid timeoutSeconds: %q", ts)
		}
		timeout = time.Duration(n) * time.Second
	}
	ctx := r.Context()
	watcher, err := res.cache.Watch(ctx, opts)
	if errors.Is(err, watchcache.ErrTooOld) {
		watcher, err = res.cache.WatchStore(ctx, opts)
	}
	if errors.Is(err, storage.ErrCompacted) || errors.Is(err, watchcache.ErrTooOld) {
		// Upstream answers a watch from a compacted revision with an ERROR
		// event rather than an HTTP error; client-go relists on it.
		stream := newWatchStream(s, w, res, m, include)
		stream.writeError(apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", rv, s.cache.Revision())))
		return nil
	}
	if err != nil {
		return storeError(err, res.groupResource(), "")
	}
	defer watcher.Stop()

	stream := newWatchStream(s, w, res, m, include)
	stream.flush()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				if err := watcher.Err(); err != nil && !errors.Is(err, watchcache.ErrTooSlow) {
					stream.writeError(storeError(err, res.groupResource(), ""))
				}
				return nil
			}
			if err := stream.send(ev); err != nil {
				return nil // the client went away
			}
			// Flush once a burst is written, not per event.
			if len(watcher.ResultChan()) == 0 {
				stream.flush()
			}
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// watchStream writes watch events in the negotiated framing: newline
// delimited JSON, or length-prefixed protobuf WatchEvents.
type watchStream struct {
	s       *Server
	w       http.ResponseWriter
	flusher http.Flusher
	res     *resource
	media   mediaType
	// include and columnsSent serve Table watches (kubectl get -w): one
	// row per event, the column definitions in the first event only.
	include     metav1.IncludeObjectPolicy
	columnsSent bool
}

func newWatchStream(s *Server, w http.ResponseWriter, res *resource, m mediaType, include metav1.IncludeObjectPolicy) *watchStream {
	ct := mediaJSON
	if m.Type == mediaProtobuf {
		ct = mediaProtobuf + ";stream=watch"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &watchStream{s: s, w: w, flusher: f, res: res, media: m, include: include}
}

func (ws *watchStream) flush() {
	if ws.flusher != nil {
		ws.flusher.Flush()
	}
}

func (ws *watchStream) send(ev watchcache.Event) error {
	var obj []byte
	var err error
	switch {
	case ev.Type == watchcache.Bookmark:
		obj, err = ws.encode(ws.bookmarkObject(ev))
	case ws.media.As == "Table":
		var t *metav1.Table
		if t, err = ws.s.table(ws.res, []*watchcache.Object{ev.Object}, ws.include, ws.media.AsVersion, !ws.columnsSent); err == nil {
			ws.columnsSent = true
			t.ResourceVersion = strconv.FormatInt(ev.Rev, 10)
			obj, err = ws.encode(t)
		}
	case ws.media.As == "PartialObjectMetadata":
		var decoded runtime.Object
		var pm *metav1.PartialObjectMetadata
		if decoded, err = ev.Object.Decode(); err == nil {
			if pm, err = partialMeta(decoded, ws.media.AsVersion); err == nil {
				obj, err = ws.encode(pm)
			}
		}
	default:
		obj, err = ws.s.encodeCached(ws.res, ev.Object, ws.wireType())
	}
	if err != nil {
		return err
	}
	return ws.writeFrame(string(ev.Type), obj)
}

func (ws *watchStream) wireType() string {
	if ws.media.Type == mediaProtobuf {
		return mediaProtobuf
	}
	return mediaJSON
}

func (ws *watchStream) encode(obj runtime.Object) ([]byte, error) {
	return ws.s.codecs.encode(ws.wireType(), obj)
}

// bookmarkObject is an empty object of the watched kind carrying only the
// revision, as upstream sends.
func (ws *watchStream) bookmarkObject(ev watchcache.Event) runtime.Object {
	var obj runtime.Object
	switch ws.media.As {
	case "PartialObjectMetadata":
		obj = &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + ws.media.AsVersion, Kind: "PartialObjectMetadata"}}
	case "Table":
		t := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + ws.media.AsVersion, Kind: "Table"}}
		t.ResourceVersion = strconv.FormatInt(ev.Rev, 10)
		return t
	default:
		obj = ws.s.newServed(ws.res)
		obj.GetObjectKind().SetGroupVersionKind(ws.res.gvk)
	}
	acc, _ := meta.Accessor(obj)
	acc.SetResourceVersion(strconv.FormatInt(ev.Rev, 10))
	if ev.InitialEnd {
		acc.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	return obj
}

func (ws *watchStream) writeError(err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	status := st.Status()
	status.Kind, status.APIVersion = "Status", "v1"
	body, encErr := ws.encode(&status)
	if encErr == nil {
		_ = ws.writeFrame("ERROR", body)
		ws.flush()
	}
}

func (ws *watchStream) writeFrame(eventType string, obj []byte) error {
	obj = bytes.TrimRight(obj, "\n")
	var frame []byte
	if ws.media.Type == mediaProtobuf {
		ev := metav1.WatchEvent{Type: eventType, Object: runtime.RawExtension{Raw: obj}}
		body, err := ev.Marshal()
		if err != nil {
			return err
		}
		frame = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
		frame = append(frame, body...)
	} else {
		var err error
		frame, err = json.Marshal(struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}{eventType, obj})
		if err != nil {
			return err
		}
		frame = append(frame, '\n')
	}
	_, err := ws.w.Write(frame)
	return err
}
