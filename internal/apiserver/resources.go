package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/storage/watchcache"
)

// resource is a registry.Resource with what serving it needs precomputed.
type resource struct {
	registry.Resource
	gvk        schema.GroupVersionKind // served
	listGVK    schema.GroupVersionKind
	storageGVK schema.GroupVersionKind
	// converted is set when objects are stored as another version.
	converted bool
	prefix    string // store key prefix, ending in "/"
	cache     *watchcache.Resource
	// fieldNames are the field-selector fields the kind supports.
	fieldNames sets.Set[string]
}

func (s *Server) newResource(r registry.Resource) (*resource, error) {
	res := &resource{Resource: r, gvk: r.GroupVersionKind()}
	res.listGVK = res.gvk.GroupVersion().WithKind(r.Kind + "List")
	sgvr := r.Storage()
	res.storageGVK = sgvr.GroupVersion().WithKind(r.Kind)
	res.converted = sgvr != r.GVR
	group := sgvr.Group
	if group == "" {
		group = "core"
	}
	res.prefix = keyPrefix + group + "/" + sgvr.Resource + "/"
	for _, gvk := range []schema.GroupVersionKind{res.gvk, res.listGVK, res.storageGVK} {
		if !s.scheme.Recognizes(gvk) {
			return nil, fmt.Errorf("resource %s: kind %s is not in the scheme", r.GVR, gvk)
		}
	}
	res.fieldNames = sets.New("metadata.name", "metadata.namespace")
	if r.Strategy.Fields != nil {
		zero, _ := s.scheme.New(res.storageGVK)
		for f := range r.Strategy.Fields(zero) {
			res.fieldNames.Insert(f)
		}
	}
	return res, nil
}

// key is the store key of one object.
func (res *resource) key(namespace, name string) string {
	if res.Namespaced {
		return res.prefix + namespace + "/" + name
	}
	return res.prefix + name
}

// listPrefix is the store prefix of a namespace's objects ("" = all).
func (res *resource) listPrefix(namespace string) string {
	if res.Namespaced && namespace != "" {
		return res.prefix + namespace + "/"
	}
	return res.prefix
}

func (res *resource) groupResource() schema.GroupResource { return res.GVR.GroupResource() }

// newServed returns an empty object of the served kind.
func (s *Server) newServed(res *resource) runtime.Object {
	obj, err := s.scheme.New(res.gvk)
	if err != nil {
		panic(fmt.Sprintf("kind %s vanished from the scheme: %v", res.gvk, err))
	}
	return obj
}

// decoder makes the watch cache's Decoder for a storage resource.
func (s *Server) decoder(res *resource) watchcache.Decoder {
	return func(key string, value []byte, rev int64) (*watchcache.Object, error) {
		obj, err := s.decodeStored(res, value, rev)
		if err != nil {
			return nil, err
		}
		acc, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		f := fields.Set{"metadata.name": acc.GetName(), "metadata.namespace": acc.GetNamespace()}
		if res.Strategy.Fields != nil {
			for k, v := range res.Strategy.Fields(obj) {
				f[k] = v
			}
		}
		decode := func() (runtime.Object, error) { return s.decodeStored(res, value, rev) }
		return watchcache.NewObject(key, rev, value, acc.GetLabels(), f, decode), nil
	}
}

// decodeStored decodes a stored value of res's storage kind and stamps rev
// as its resourceVersion (the store keeps revisions outside the value).
func (s *Server) decodeStored(res *resource, value []byte, rev int64) (runtime.Object, error) {
	into, err := s.scheme.New(res.storageGVK)
	if err != nil {
		return nil, err
	}
	obj, _, err := s.codecs.protobuf.Decode(value, nil, into)
	if err != nil {
		return nil, fmt.Errorf("decoding stored %s: %w", res.storageGVK.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(res.storageGVK)
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}

// encodeForStore converts obj (served kind) to the storage kind and
// serializes it without a resourceVersion.
func (s *Server) encodeForStore(res *resource, obj runtime.Object) ([]byte, error) {
	stored, err := s.toStorage(res, obj)
	if err != nil {
		return nil, err
	}
	acc, err := meta.Accessor(stored)
	if err != nil {
		return nil, err
	}
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	defer acc.SetResourceVersion(rv)
	var buf bytes.Buffer
	if err := s.codecs.protobuf.Encode(stored, &buf); err != nil {
		return nil, fmt.Errorf("encoding %s for storage: %w", res.storageGVK.Kind, err)
	}
	return buf.Bytes(), nil
}

// toStorage returns obj as the storage kind (obj itself when they agree).
func (s *Server) toStorage(res *resource, obj runtime.Object) (runtime.Object, error) {
	if !res.converted {
		obj.GetObjectKind().SetGroupVersionKind(res.gvk)
		return obj, nil
	}
	out, err := s.scheme.New(res.storageGVK)
	if err != nil {
		return nil, err
	}
	if err := s.scheme.Convert(obj, out, nil); err != nil {
		return nil, fmt.Errorf("converting %s to %s: %w", res.gvk, res.storageGVK, err)
	}
	out.GetObjectKind().SetGroupVersionKind(res.storageGVK)
	return out, nil
}

// toServed returns a stored object as the served kind. The result may be
// the shared cached object: callers must not mutate it.
func (s *Server) toServed(res *resource, obj runtime.Object) (runtime.Object, error) {
	if !res.converted {
		return obj, nil
	}
	out := s.newServed(res)
	if err := s.scheme.Convert(obj, out, nil); err != nil {
		return nil, fmt.Errorf("converting %s to %s: %w", res.storageGVK, res.gvk, err)
	}
	out.GetObjectKind().SetGroupVersionKind(res.gvk)
	return out, nil
}

// encodeCached serializes a cached object for a response, reusing the
// cached bytes when no conversion is involved.
func (s *Server) encodeCached(res *resource, o *watchcache.Object, media string) ([]byte, error) {
	if res.converted {
		obj, err := s.served(res, o)
		if err != nil {
			return nil, err
		}
		return s.codecs.encode(media, obj)
	}
	if media == mediaProtobuf {
		env, _, err := withResourceVersion(o.Value, strconv.FormatInt(o.Rev, 10))
		return env, err
	}
	return o.Encoded(media, func() ([]byte, error) {
		obj, err := o.Decode()
		if err != nil {
			return nil, err
		}
		return s.codecs.encode(media, obj)
	})
}

// served decodes a cached object as the served kind; the caller owns it.
func (s *Server) served(res *resource, o *watchcache.Object) (runtime.Object, error) {
	obj, err := o.Decode()
	if err != nil {
		return nil, err
	}
	return s.toServed(res, obj)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, code, mediaJSON, body)
}
