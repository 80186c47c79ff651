package apiserver

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Objects are stored without a resourceVersion (the store keeps the
// revision), as upstream's etcd3 store does. To serve a stored protobuf
// object without decoding and re-encoding it, withResourceVersion splices
// metadata.resourceVersion into the encoded bytes:
//
//	"k8s\x00" + runtime.Unknown{ 1: TypeMeta, 2: raw object, ... }
//	raw object = { 1: ObjectMeta, 2: spec, 3: status, ... }
//	ObjectMeta.resourceVersion is field 6 (a string)
//
// Every top-level Kubernetes kind has its ObjectMeta at field 1, and a
// protobuf decoder accepts fields in any order, so appending field 6 to the
// ObjectMeta message (and fixing the enclosing lengths) yields exactly what
// decoding, setting the version and encoding again would mean.

// withResourceVersion returns the envelope and the bare object message with
// rv spliced in.
func withResourceVersion(stored []byte, rv string) (envelope, message []byte, err error) {
	if !bytes.HasPrefix(stored, []byte(protobufMagic)) {
		return nil, nil, fmt.Errorf("stored value has no protobuf envelope")
	}
	unknown := stored[len(protobufMagic):]
	var fields []protoField
	if fields, err = parseFields(unknown); err != nil {
		return nil, nil, fmt.Errorf("parsing envelope: %w", err)
	}
	env := make([]byte, 0, len(stored)+len(rv)+8)
	env = append(env, protobufMagic...)
	for _, f := range fields {
		if f.num != 2 || f.typ != protowire.BytesType {
			env = append(env, f.raw...)
			continue
		}
		if message, err = spliceObject(f.value, rv); err != nil {
			return nil, nil, err
		}
		env = protowire.AppendTag(env, 2, protowire.BytesType)
		env = protowire.AppendBytes(env, message)
	}
	if message == nil {
		return nil, nil, fmt.Errorf("stored value has no object")
	}
	return env, message, nil
}

// spliceObject appends resourceVersion to the object's ObjectMeta (field 1).
func spliceObject(obj []byte, rv string) ([]byte, error) {
	fields, err := parseFields(obj)
	if err != nil {
		return nil, fmt.Errorf("parsing object: %w", err)
	}
	out := make([]byte, 0, len(obj)+len(rv)+8)
	done := false
	for _, f := range fields {
		if f.num != 1 || f.typ != protowire.BytesType || done {
			out = append(out, f.raw...)
			continue
		}
		meta := make([]byte, 0, len(f.value)+len(rv)+2)
		meta = append(meta, f.value...)
		meta = protowire.AppendTag(meta, 6, protowire.BytesType)
		meta = protowire.AppendString(meta, rv)
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, meta)
		done = true
	}
	if !done {
		// No metadata at all: add one holding just the version.
		var meta []byte
		meta = protowire.AppendTag(meta, 6, protowire.BytesType)
		meta = protowire.AppendString(meta, rv)
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, meta)
	}
	return out, nil
}

// protoField is one top-level field of a protobuf message.
type protoField struct {
	num   protowire.Number
	typ   protowire.Type
	raw   []byte // tag and value as encoded
	value []byte // the payload of a bytes field
}

func parseFields(b []byte) ([]protoField, error) {
	var out []protoField
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		f := protoField{num: num, typ: typ, raw: b[:n+m]}
		if typ == protowire.BytesType {
			v, k := protowire.ConsumeBytes(b[n:])
			if k < 0 {
				return nil, protowire.ParseError(k)
			}
			f.value = v
		}
		out = append(out, f)
		b = b[n+m:]
	}
	return out, nil
}
