package watchcache

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// Object is one cached version of a stored object. The cache keeps the
// stored bytes rather than the decoded object, because a decoded Go object
// is several times larger (a typical pod: about 1 KB stored, 5 KB decoded);
// the labels and fields that filters need are extracted once.
type Object struct {
	Key    string
	Rev    int64
	Labels Pairs
	Fields Pairs
	// Value is the object as stored; treat it as read-only.
	Value []byte

	decode func() (runtime.Object, error)

	// encoded caches serialized forms keyed by a caller-chosen format name,
	// so a watch fanned out to many clients or a large list encodes each
	// object version once.
	encodedMu sync.Mutex
	encoded   map[string][]byte
}

// NewObject builds a cached object; decode turns value into a new object.
func NewObject(key string, rev int64, value []byte, lbls, flds map[string]string, decode func() (runtime.Object, error)) *Object {
	return &Object{Key: key, Rev: rev, Value: value, Labels: NewPairs(lbls), Fields: NewPairs(flds), decode: decode}
}

// Decode returns a freshly decoded object, which the caller owns.
func (o *Object) Decode() (runtime.Object, error) {
	return o.decode()
}

// Encoded returns a serialized form of the object, computing it with encode
// on first use.
func (o *Object) Encoded(format string, encode func() ([]byte, error)) ([]byte, error) {
	o.encodedMu.Lock()
	defer o.encodedMu.Unlock()
	if b, ok := o.encoded[format]; ok {
		return b, nil
	}
	b, err := encode()
	if err != nil {
		return nil, err
	}
	if o.encoded == nil {
		o.encoded = make(map[string][]byte, 1)
	}
	o.encoded[format] = b
	return b, nil
}

// Decoder turns a stored value into a cached Object: it extracts labels and
// fields and keeps what is needed to decode the object on demand, with rev
// as its resourceVersion.
type Decoder func(key string, value []byte, rev int64) (*Object, error)

// Filter reports whether a watcher or list wants an object.
type Filter func(*Object) bool

// Everything matches all objects.
func Everything(*Object) bool { return true }
