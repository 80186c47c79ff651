package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/internal/storage/watchcache"
)

// How long a read asking for a revision the cache has not reached yet may
// wait before it fails with "Too large resource version".
const waitForRevision = 3 * time.Second

// parseRV reads a resourceVersion parameter; "" and "0" have their own
// meanings and are returned as -1 and 0.
func parseRV(v string) (int64, error) {
	if v == "" {
		return -1, nil
	}
	rv, err := strconv.ParseInt(v, 10, 64)
	if err != nil || rv < 0 {
		return 0, badRequest("invalid resource version: %q", v)
	}
	return rv, nil
}

// awaitRV makes the cache at least as fresh as a read at resourceVersion rv
// requires: rv -1 (unset) means a consistent read, 0 means any state.
func (s *Server) awaitRV(ctx context.Context, rv int64) error {
	var err error
	switch {
	case rv < 0:
		err = s.cache.WaitForFresh(ctx)
	case rv > 0:
		err = s.cache.WaitForRevision(ctx, rv, waitForRevision)
	}
	if err != nil {
		return tooLargeRV(err)
	}
	return nil
}

func tooLargeRV(err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	st := apierrors.NewTimeoutError("Too large resource version", 1)
	st.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: err.Error()}}
	return st
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	m, err := negotiate(r.Header.Get("Accept"))
	if err != nil {
		return err
	}
	rv, err := parseRV(r.URL.Query().Get("resourceVersion"))
	if err != nil {
		return err
	}
	if err := s.awaitRV(r.Context(), rv); err != nil {
		return err
	}
	o, _, ok := res.cache.Get(res.key(info.Namespace, info.Name))
	if !ok {
		return apierrors.NewNotFound(res.groupResource(), info.Name)
	}
	switch m.As {
	case "Table":
		return s.writeTable(w, r, res, []*watchcache.Object{o}, metav1.ListMeta{}, m)
	case "PartialObjectMetadata":
		obj, err := o.Decode()
		if err != nil {
			return err
		}
		return s.writePartial(w, res, obj, m)
	case "PartialObjectMetadataList":
		return badRequest("PartialObjectMetadataList is only served for lists")
	}
	body, err := s.encodeCached(res, o, m.Type)
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, m.Type, body)
	return nil
}

// selector is a parsed label and field selector.
type selector struct {
	labels labels.Selector
	fields fields.Selector
	// name is set when the field selector pins metadata.name, which lets
	// lists and watches narrow to one key.
	name string
}

func (sel selector) filter(o *watchcache.Object) bool {
	return sel.labels.Matches(o.Labels) && sel.fields.Matches(o.Fields)
}

func parseSelection(res *resource, q url.Values) (selector, error) {
	var sel selector
	var err error
	if sel.labels, err = labels.Parse(q.Get("labelSelector")); err != nil {
		return sel, badRequest("unable to parse requirement: %v", err)
	}
	if sel.fields, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
		return sel, badRequest("invalid field selector: %v", err)
	}
	for _, req := range sel.fields.Requirements() {
		if !res.fieldNames.Has(req.Field) {
			return sel, badRequest("field label not supported: %s", req.Field)
		}
		if req.Field == "metadata.name" && (req.Operator == selection.Equals || req.Operator == selection.DoubleEquals) {
			sel.name = req.Value
		}
	}
	return sel, nil
}

// prefix is the narrowest key prefix a namespace and selection allow.
func (sel selector) prefix(res *resource, namespace string) string {
	if sel.name != "" && (namespace != "" || !res.Namespaced) {
		return res.key(namespace, sel.name)
	}
	return res.listPrefix(namespace)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	q := r.URL.Query()
	m, err := negotiate(r.Header.Get("Accept"))
	if err != nil {
		return err
	}
	sel, err := parseSelection(res, q)
	if err != nil {
		return err
	}
	page, err := s.listPage(r.Context(), res, info.Namespace, sel, q)
	if err != nil {
		return err
	}
	switch m.As {
	case "Table":
		return s.writeTable(w, r, res, page.items, page.meta, m)
	case "PartialObjectMetadataList":
		return s.writePartialList(w, res, page.items, page.meta, m)
	case "PartialObjectMetadata":
		return badRequest("PartialObjectMetadata is only served for single objects")
	}
	return s.writeList(w, res, page.items, page.meta, m.Type)
}

// writeList streams a list, splicing each item's cached encoding into the
// envelope so a large list costs a copy, not a re-encode.
func (s *Server) writeList(w http.ResponseWriter, res *resource, items []*watchcache.Object, lm metav1.ListMeta, media string) error {
	if media == mediaProtobuf {
		return s.writeProtoList(w, res, items, lm)
	}
	var buf bytes.Buffer
	head, err := json.Marshal(lm)
	if err != nil {
		return err
	}
	buf.WriteString(`{"kind":"` + res.listGVK.Kind + `","apiVersion":"` + res.listGVK.GroupVersion().String() + `","metadata":`)
	buf.Write(head)
	buf.WriteString(`,"items":[`)
	for i, o := range items {
		body, err := s.encodeCached(res, o, mediaJSON)
		if err != nil {
			return err
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(bytes.TrimRight(body, "\n"))
	}
	buf.WriteString("]}\n")
	out := buf.Bytes()
	if media == mediaYAML {
		if out, err = yaml.JSONToYAML(out); err != nil {
			return err
		}
	}
	writeBody(w, http.StatusOK, media, out)
	return nil
}

// writeProtoList builds a protobuf list from each item's cached protobuf
// message, the way the generated Marshal would lay it out: ListMeta is
// field 1 and each item a length-delimited field 2, wrapped in the
// runtime.Unknown envelope with the "k8s\x00" magic prefix.
func (s *Server) writeProtoList(w http.ResponseWriter, res *resource, items []*watchcache.Object, lm metav1.ListMeta) error {
	listMeta, err := lm.Marshal()
	if err != nil {
		return err
	}
	body := make([]byte, 0, 64+len(items)*1024)
	body = protowire.AppendTag(body, 1, protowire.BytesType)
	body = protowire.AppendBytes(body, listMeta)
	for _, o := range items {
		raw, err := s.protoMessage(res, o)
		if err != nil {
			return err
		}
		body = protowire.AppendTag(body, 2, protowire.BytesType)
		body = protowire.AppendBytes(body, raw)
	}
	unk := runtime.Unknown{
		TypeMeta: runtime.TypeMeta{APIVersion: res.listGVK.GroupVersion().String(), Kind: res.listGVK.Kind},
		Raw:      body,
	}
	env, err := unk.Marshal()
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, mediaProtobuf, append([]byte(protobufMagic), env...))
	return nil
}

// protobufMagic prefixes every Kubernetes protobuf envelope.
const protobufMagic = "k8s\x00"

// protoMessage is an object's bare protobuf message (no envelope), cached
// on the object unless a conversion is involved.
func (s *Server) protoMessage(res *resource, o *watchcache.Object) ([]byte, error) {
	marshal := func(obj runtime.Object) ([]byte, error) {
		m, ok := obj.(interface{ Marshal() ([]byte, error) })
		if !ok {
			return nil, fmt.Errorf("%T has no protobuf form", obj)
		}
		return m.Marshal()
	}
	if res.converted {
		obj, err := s.served(res, o)
		if err != nil {
			return nil, err
		}
		return marshal(obj)
	}
	_, msg, err := withResourceVersion(o.Value, strconv.FormatInt(o.Rev, 10))
	return msg, err
}

// partialMeta returns the PartialObjectMetadata form of an object.
func partialMeta(obj runtime.Object, version string) (*metav1.PartialObjectMetadata, error) {
	oma, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil, badRequest("object has no standard metadata")
	}
	om, ok := oma.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, badRequest("object has no standard metadata")
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/" + version, Kind: "PartialObjectMetadata"},
		ObjectMeta: *om,
	}, nil
}

func (s *Server) writePartial(w http.ResponseWriter, res *resource, obj runtime.Object, m mediaType) error {
	pm, err := partialMeta(obj, m.AsVersion)
	if err != nil {
		return err
	}
	s.writeEncoded(w, http.StatusOK, m.Type, pm)
	return nil
}

func (s *Server) writePartialList(w http.ResponseWriter, res *resource, items []*watchcache.Object, lm metav1.ListMeta, m mediaType) error {
	list := &metav1.PartialObjectMetadataList{
		TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + m.AsVersion, Kind: "PartialObjectMetadataList"},
		ListMeta: lm,
		Items:    make([]metav1.PartialObjectMetadata, 0, len(items)),
	}
	for _, o := range items {
		obj, err := o.Decode()
		if err != nil {
			return err
		}
		pm, err := partialMeta(obj, m.AsVersion)
		if err != nil {
			return err
		}
		list.Items = append(list.Items, *pm)
	}
	s.writeEncoded(w, http.StatusOK, m.Type, list)
	return nil
}
