package discovery

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apidiscoveryv2beta1 "k8s.io/api/apidiscovery/v2beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Handler serves the discovery documents. It is immutable after New and
// safe for concurrent use.
type Handler struct {
	// legacy holds the encoded legacy documents by URL path, except /api
	// which names the request's host and is encoded per request.
	legacy map[string]encoded
	// aggregated holds the aggregated documents of /api and /apis.
	aggregated map[string]*aggregatedDoc
	notFound   encoded
}

// encoded is one document in each wire format; YAML is derived from JSON
// when asked for, which is rare.
type encoded struct {
	json, protobuf []byte
}

type aggregatedDoc struct {
	etag    string // quoted, ready for the header
	v2      encoded
	v2beta1 encoded
}

var (
	scheme = func() *runtime.Scheme {
		s := runtime.NewScheme()
		metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
		utilruntime.Must(apidiscoveryv2.AddToScheme(s))
		utilruntime.Must(apidiscoveryv2beta1.AddToScheme(s))
		return s
	}()
	jsonSerializer  = jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme, scheme, jsonserializer.SerializerOptions{})
	protoSerializer = protobuf.NewSerializer(scheme, scheme)
)

// New builds every discovery document for resources. Resources listed
// twice (same GVR) are served once; the order of resources does not
// matter.
func New(resources []registry.Resource) *Handler {
	h, err := build(resources)
	if err != nil {
		// Only reachable through a bug in this package: every object
		// encoded here is a registered, protobuf-capable type.
		panic(fmt.Sprintf("discovery: %v", err))
	}
	return h
}

func build(resources []registry.Resource) (*Handler, error) {
	core, named := buildGroups(resources)
	if core == nil {
		core = &group{versions: []string{"v1"}, lists: map[string]*metav1.APIResourceList{
			"v1": {GroupVersion: "v1", APIResources: []metav1.APIResource{}},
		}}
	}
	h := &Handler{legacy: map[string]encoded{}, aggregated: map[string]*aggregatedDoc{}}
	var err error
	add := func(path string, obj runtime.Object) {
		if err == nil {
			h.legacy[path], err = encode(obj)
		}
	}

	// Upstream strips apiVersion from the core group's documents and from
	// /api (a 1.1 compatibility rule); /apis and the named groups' documents
	// come from the aggregator and kube-apiserver with apiVersion "v1".
	for _, v := range core.versions {
		list := core.lists[v]
		list.TypeMeta = metav1.TypeMeta{Kind: "APIResourceList"}
		add("/api/"+v, list)
	}
	groupList := &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups:   []metav1.APIGroup{},
	}
	for _, g := range named {
		ag := g.apiGroup()
		groupList.Groups = append(groupList.Groups, ag)
		ag.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
		add("/apis/"+g.name, &ag)
		for _, v := range g.versions {
			list := g.lists[v]
			list.TypeMeta = metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}
			add("/apis/"+g.name+"/"+v, list)
		}
	}
	add("/apis", groupList)
	if err != nil {
		return nil, err
	}

	for path, groups := range map[string][]*group{"/api": {core}, "/apis": named} {
		if h.aggregated[path], err = encodeAggregated(groups); err != nil {
			return nil, err
		}
	}

	h.notFound, err = encode(&metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  "the server could not find the requested resource",
		Reason:   metav1.StatusReasonNotFound,
		Details:  &metav1.StatusDetails{},
		Code:     http.StatusNotFound,
	})
	return h, err
}

func encode(obj runtime.Object) (encoded, error) {
	var j, p bytes.Buffer
	if err := jsonSerializer.Encode(obj, &j); err != nil {
		return encoded{}, err
	}
	if err := protoSerializer.Encode(obj, &p); err != nil {
		return encoded{}, err
	}
	return encoded{json: j.Bytes(), protobuf: p.Bytes()}, nil
}

func encodeAggregated(groups []*group) (*aggregatedDoc, error) {
	list, err := aggregatedList(groups)
	if err != nil {
		return nil, err
	}
	doc := &aggregatedDoc{}
	if doc.v2, err = encode(list); err != nil {
		return nil, err
	}
	if doc.v2beta1, err = encode(toV2beta1(list)); err != nil {
		return nil, err
	}
	// Like upstream, one ETag per document whatever the encoding: the
	// response varies on Accept, so caches keep encodings apart.
	doc.etag = strconv.Quote(fmt.Sprintf("%X", sha512.Sum512(doc.v2.json)))
	return doc, nil
}

// ServeHTTP answers GET and HEAD on the discovery paths.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
			fmt.Sprintf("the server does not allow the %s method on %s", r.Method, path))
		return
	}
	doc := h.aggregated[path]
	legacy, found := h.legacy[path]
	if doc == nil && !found {
		c, ok := negotiate(r.Header.Get("Accept"), false)
		if !ok {
			c = choice{format: formatJSON}
		}
		write(w, r, http.StatusNotFound, c, h.notFound)
		return
	}
	c, ok := negotiate(r.Header.Get("Accept"), doc != nil)
	if !ok {
		writeStatus(w, http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, notAcceptableMessage)
		return
	}
	switch {
	case c.aggregated != "":
		h.serveAggregated(w, r, doc, c)
	case path == "/api":
		body, err := encode(&metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		})
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
			return
		}
		write(w, r, http.StatusOK, c, body)
	default:
		write(w, r, http.StatusOK, c, legacy)
	}
}

func (h *Handler) serveAggregated(w http.ResponseWriter, r *http.Request, doc *aggregatedDoc, c choice) {
	w.Header().Set("ETag", doc.etag)
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Cache-Control", "public")
	if r.Header.Get("If-None-Match") == doc.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := doc.v2
	if c.aggregated == aggV2beta1 {
		body = doc.v2beta1
	}
	write(w, r, http.StatusOK, c, body)
}

// gzipThreshold is upstream's: smaller responses are sent as they are.
const gzipThreshold = 128 * 1024

func write(w http.ResponseWriter, r *http.Request, code int, c choice, e encoded) {
	var body []byte
	switch c.format {
	case formatProtobuf:
		body = e.protobuf
	case formatYAML:
		y, err := yaml.JSONToYAML(e.json)
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
			return
		}
		body = y
	default:
		body = e.json
	}
	w.Header().Set("Content-Type", c.contentType())
	if len(body) > gzipThreshold && acceptsGzip(r) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		_, _ = zw.Write(body)
		if zw.Close() == nil {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Add("Vary", "Accept-Encoding")
			body = buf.Bytes()
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				if k, v, ok := strings.Cut(p, "="); ok && strings.TrimSpace(k) == "q" {
					q, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
				}
			}
			return q > 0
		}
	}
	return false
}

// writeStatus writes a JSON metav1.Status, as upstream does for errors
// raised before content negotiation succeeded.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	var buf bytes.Buffer
	_ = jsonSerializer.Encode(&metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code),
	}, &buf)
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
