package openapi

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/internal/registry"
)

// infoVersion is the Kubernetes release whose API types are served
// (k8s.io/api v0.37.x).
const infoVersion = "v1.37.2"

// Media types of the documents. client-go asks for the v2 protobuf as
// mimeV2ProtoDeprecated; upstream answers with mimeV2Proto.
const (
	mimeJSON              = "application/json"
	mimeV2Proto           = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mimeV2ProtoDeprecated = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mimeV3Proto           = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	mimeV3ProtoDeprecated = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
)

// Handler serves /openapi/v2, /openapi/v3 and /openapi/v3/<group
// version> from documents built once by New.
type Handler struct {
	modTime time.Time
	v2      *document
	v3Index *document
	v3      map[string]*document // keyed by "api/v1", "apis/apps/v1", ...
}

// document is one served document: its JSON, the ETag of that JSON and
// its protobuf form, converted on first request.
type document struct {
	json    []byte
	etag    string
	toProto func([]byte) ([]byte, error)
	once    sync.Once
	proto   []byte
	err     error
}

func newDocument(v object, toProto func([]byte) ([]byte, error)) *document {
	data := appendJSON(make([]byte, 0, 64<<10), v)
	sum := sha512.Sum512(data)
	return &document{json: data, etag: strings.ToUpper(hex.EncodeToString(sum[:])), toProto: toProto}
}

func (d *document) protobuf() ([]byte, error) {
	d.once.Do(func() { d.proto, d.err = d.toProto(d.json) })
	return d.proto, d.err
}

func v2ToProto(data []byte) ([]byte, error) {
	doc, err := openapi_v2.ParseDocument(data)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(doc)
}

func v3ToProto(data []byte) ([]byte, error) {
	doc, err := openapi_v3.ParseDocument(data)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(doc)
}

// Types every document refers to besides the resources' own kinds.
var (
	statusType        = reflect.TypeFor[metav1.Status]()
	deleteOptionsType = reflect.TypeFor[metav1.DeleteOptions]()
	watchEventType    = reflect.TypeFor[metav1.WatchEvent]()
	patchType         = reflect.TypeFor[metav1.Patch]()
	scaleType         = reflect.TypeFor[autoscalingv1.Scale]()
	bindingType       = reflect.TypeFor[corev1.Binding]()
	evictionType      = reflect.TypeFor[policyv1.Eviction]()
)

// New builds the OpenAPI v2 and v3 documents of resources, whose kinds
// must be registered in scheme. Resources whose kind is not a typed Go
// struct (unstructured custom resources) are left out.
func New(resources []registry.Resource, scheme *runtime.Scheme) (*Handler, error) {
	served := map[schema.GroupVersion]bool{}
	for _, r := range resources {
		served[r.GVR.GroupVersion()] = true
	}
	gvks := knownGVKs(scheme, served)
	for t, gvk := range map[reflect.Type]schema.GroupVersionKind{
		scaleType:    {Group: "autoscaling", Version: "v1", Kind: "Scale"},
		bindingType:  {Version: "v1", Kind: "Binding"},
		evictionType: {Group: "policy", Version: "v1", Kind: "Eviction"},
	} {
		if !containsGVK(gvks[t], gvk) {
			gvks[t] = append(gvks[t], gvk)
		}
	}
	b2, b3 := newDefBuilder(false, gvks), newDefBuilder(true, gvks)
	define := func(t reflect.Type) string {
		b2.define(t)
		return b3.define(t)
	}
	common := []string{define(statusType), define(deleteOptionsType), define(watchEventType), define(patchType)}

	items := map[schema.GroupVersion][]pathItem{}
	roots := map[schema.GroupVersion][]string{}
	for _, r := range resources {
		gv := r.GVR.GroupVersion()
		obj, err := scheme.New(r.GroupVersionKind())
		if err != nil {
			return nil, fmt.Errorf("openapi: resource %s: %w", r.GVR, err)
		}
		t := reflect.TypeOf(obj)
		if _, ok := obj.(runtime.Unstructured); ok || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
			continue
		}
		ri := resourceInfo{
			gvr: r.GVR, kind: r.Kind, namespaced: r.Namespaced, hasStatus: r.HasStatus,
			kindDef: define(t.Elem()),
		}
		gvRoots := []string{ri.kindDef}
		if list, err := scheme.New(gv.WithKind(r.Kind + "List")); err == nil {
			ri.listDef = define(reflect.TypeOf(list).Elem())
			gvRoots = append(gvRoots, ri.listDef)
		}
		if r.Scale != nil {
			ri.scaleDef = define(scaleType)
			gvRoots = append(gvRoots, ri.scaleDef)
		}
		if r.GVR == corev1.SchemeGroupVersion.WithResource("pods") {
			ri.bindingDef, ri.evictDef = define(bindingType), define(evictionType)
			gvRoots = append(gvRoots, ri.bindingDef, ri.evictDef)
		}
		items[gv] = append(items[gv], resourcePaths(ri)...)
		roots[gv] = append(roots[gv], gvRoots...)
	}

	b2.encode()
	b3.encode()
	h := &Handler{modTime: time.Now(), v3: map[string]*document{}}
	h.v2 = newDocument(v2Document(b2, items, infoVersion), v2ToProto)
	index := object{}
	for gv, list := range items {
		key := gvPrefix(gv)
		d := newDocument(v3Document(b3, gv, list, append(roots[gv], common...), infoVersion), v3ToProto)
		h.v3[key] = d
		index[key] = object{"serverRelativeURL": serverRelativeURL(key, d.etag)}
	}
	// The index is handler3.OpenAPIV3Discovery.
	h.v3Index = newDocument(object{"paths": index}, nil)
	return h, nil
}

func containsGVK(list []schema.GroupVersionKind, gvk schema.GroupVersionKind) bool {
	for _, g := range list {
		if g == gvk {
			return true
		}
	}
	return false
}

func serverRelativeURL(key, etag string) string {
	return "/openapi/v3/" + key + "?" + url.Values{"hash": {etag}}.Encode()
}

// ServeHTTP serves GET and HEAD of /openapi/v2, /openapi/v3 and
// /openapi/v3/<api/v1 | apis/GROUP/VERSION>.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/openapi/v2":
		h.serve(w, r, h.v2, mimeV2Proto, mimeV2ProtoDeprecated)
	case p == "/openapi/v3" || p == "/openapi/v3/":
		h.serveBytes(w, r, mimeJSON, h.v3Index.etag, h.v3Index.json)
	case strings.HasPrefix(p, "/openapi/v3/"):
		key := strings.TrimPrefix(p, "/openapi/v3/")
		d := h.v3[key]
		if d == nil {
			http.Error(w, fmt.Sprintf("no OpenAPI v3 document for %q", key), http.StatusNotFound)
			return
		}
		if hash := r.URL.Query().Get("hash"); hash != "" {
			if hash != d.etag {
				// An outdated link: send the client to the current one.
				http.Redirect(w, r, serverRelativeURL(key, d.etag), http.StatusMovedPermanently)
				return
			}
			w.Header().Set("Cache-Control", "public, immutable")
			w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
		}
		h.serve(w, r, d, mimeV3Proto, mimeV3ProtoDeprecated)
	default:
		http.NotFound(w, r)
	}
}

// serve writes d as JSON or protobuf, whichever the Accept header
// prefers (JSON for */*), or 406.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, d *document, protoTypes ...string) {
	w.Header().Add("Vary", "Accept")
	offers := append([]string{mimeJSON}, protoTypes...)
	switch negotiate(r.Header.Get("Accept"), offers) {
	case "":
		http.Error(w, "only "+strings.Join(offers, ", ")+" can be served", http.StatusNotAcceptable)
	case mimeJSON:
		h.serveBytes(w, r, mimeJSON, d.etag, d.json)
	default:
		data, err := d.protobuf()
		if err != nil {
			http.Error(w, "converting the OpenAPI document to protobuf: "+err.Error(), http.StatusInternalServerError)
			return
		}
		// The ETag of the JSON serves both: responses vary by Accept.
		h.serveBytes(w, r, protoTypes[0], d.etag, data)
	}
}

func (h *Handler) serveBytes(w http.ResponseWriter, r *http.Request, contentType, etag string, data []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Etag", strconv.Quote(etag))
	http.ServeContent(w, r, "", h.modTime, bytes.NewReader(data))
}

// negotiate returns the offer the Accept header prefers, "" when it
// accepts none. Clauses are ranked by q (highest first, ties in header
// order); within a clause, offers are tried in order.
func negotiate(accept string, offers []string) string {
	if strings.TrimSpace(accept) == "" {
		return offers[0]
	}
	type clause struct {
		typ string
		q   float64
	}
	var clauses []clause
	for _, part := range strings.Split(accept, ",") {
		typ, rest, _ := strings.Cut(part, ";")
		c := clause{typ: strings.ToLower(strings.TrimSpace(typ)), q: 1}
		for _, p := range strings.Split(rest, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if k == "q" {
				if q, err := strconv.ParseFloat(v, 64); err == nil {
					c.q = q
				}
			}
		}
		if c.q > 0 && c.typ != "" {
			clauses = append(clauses, c)
		}
	}
	sort.SliceStable(clauses, func(i, j int) bool { return clauses[i].q > clauses[j].q })
	for _, c := range clauses {
		for _, o := range offers {
			major, _, _ := strings.Cut(o, "/")
			if c.typ == o || c.typ == "*/*" || c.typ == major+"/*" {
				return o
			}
		}
	}
	return ""
}
