package watchcache

import (
	"sync"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Object is one cached version of a stored object. Obj is shared by every
// reader and must never be mutated; callers DeepCopy before changing it.
type Object struct {
	Key    string
	Rev    int64
	Obj    runtime.Object
	Labels labels.Set
	Fields fields.Set

	// encoded caches serialized forms keyed by a caller-chosen format name,
	// so a watch fanned out to many clients or a large list encodes each
	// object once.
	encodedMu sync.Mutex
	encoded   map[string][]byte
}

// Encoded returns the serialized form of the object in format, computing it
// with encode on first use.
func (o *Object) Encoded(format string, encode func(runtime.Object) ([]byte, error)) ([]byte, error) {
	o.encodedMu.Lock()
	defer o.encodedMu.Unlock()
	if b, ok := o.encoded[format]; ok {
		return b, nil
	}
	b, err := encode(o.Obj)
	if err != nil {
		return nil, err
	}
	if o.encoded == nil {
		o.encoded = make(map[string][]byte, 1)
	}
	o.encoded[format] = b
	return b, nil
}

// Decoder turns a stored value into a cached Object: it decodes the bytes,
// stamps the revision as resourceVersion and extracts labels and fields.
type Decoder func(key string, value []byte, rev int64) (*Object, error)

// Filter reports whether a watcher or list wants an object.
type Filter func(*Object) bool

// Everything matches all objects.
func Everything(*Object) bool { return true }
