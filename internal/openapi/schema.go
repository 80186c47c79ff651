package openapi

import (
	"reflect"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Extension keys shared with kubectl and client-go.
const (
	extGVK           = "x-kubernetes-group-version-kind"
	extAction        = "x-kubernetes-action"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extIntOrString   = "x-kubernetes-int-or-string"
)

// The interfaces apimachinery's hand-written types (Quantity, IntOrString,
// Time, MicroTime, Duration) implement to describe their wire form, and
// the one openapi-gen adds to every generated type to name its model.
type (
	openAPITyped interface {
		OpenAPISchemaType() []string
		OpenAPISchemaFormat() string
	}
	openAPIV3OneOf    interface{ OpenAPIV3OneOfTypes() []string }
	openAPIModelNamer interface{ OpenAPIModelName() string }
)

// defBuilder turns Go types into named schema definitions by reflection.
// One builder produces one flavour of document: v2 refers to definitions
// as #/definitions/NAME, v3 as #/components/schemas/NAME and describes
// multi-typed values with oneOf.
type defBuilder struct {
	v3        bool
	refPrefix string
	// gvks lists, per Go type, the kinds it is registered as in the
	// served group versions (x-kubernetes-group-version-kind).
	gvks  map[reflect.Type][]schema.GroupVersionKind
	names map[reflect.Type]string
	defs  map[string]object
	// raw holds each definition serialized, once (see encode).
	raw map[string]rawJSON
	// deps holds the definitions each definition refers to directly, so a
	// v3 document can carry only what its paths reach.
	deps map[string][]string
	// cur collects the references of the definition being built.
	cur map[string]bool
}

func newDefBuilder(v3 bool, gvks map[reflect.Type][]schema.GroupVersionKind) *defBuilder {
	prefix := "#/definitions/"
	if v3 {
		prefix = "#/components/schemas/"
	}
	return &defBuilder{
		v3:        v3,
		refPrefix: prefix,
		gvks:      gvks,
		names:     map[reflect.Type]string{},
		defs:      map[string]object{},
		deps:      map[string][]string{},
	}
}

// knownGVKs maps every Go type of the scheme to the kinds it is
// registered as in the given group versions, sorted.
func knownGVKs(scheme *runtime.Scheme, served map[schema.GroupVersion]bool) map[reflect.Type][]schema.GroupVersionKind {
	out := map[reflect.Type][]schema.GroupVersionKind{}
	for gvk, t := range scheme.AllKnownTypes() {
		if served[gvk.GroupVersion()] {
			out[t] = append(out[t], gvk)
		}
	}
	for _, l := range out {
		sort.Slice(l, func(i, j int) bool {
			a, b := l[i], l[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return out
}

// typeName is the definition name upstream uses for a named Go type:
// the OpenAPIModelName the generated code declares, or the package path
// with its host reversed (k8s.io/api/core/v1.Pod -> io.k8s.api.core.v1.Pod).
func typeName(t reflect.Type) string {
	if n, ok := reflect.Zero(t).Interface().(openAPIModelNamer); ok {
		if name := n.OpenAPIModelName(); name != "" {
			return name
		}
	}
	parts := strings.Split(t.PkgPath(), "/")
	if strings.Contains(parts[0], ".") {
		host := strings.Split(parts[0], ".")
		for i, j := 0, len(host)-1; i < j; i, j = i+1, j-1 {
			host[i], host[j] = host[j], host[i]
		}
		parts[0] = strings.Join(host, ".")
	}
	return strings.Join(parts, ".") + "." + t.Name()
}

func (b *defBuilder) ref(name string) object {
	if b.cur != nil {
		b.cur[name] = true
	}
	return object{"$ref": b.refPrefix + name}
}

// define builds the definition of the named type t (a struct or a type
// with its own OpenAPI description) and returns its name.
func (b *defBuilder) define(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := b.names[t]; ok {
		return name
	}
	name := typeName(t)
	b.names[t] = name
	def := object{}
	b.defs[name] = def // before recursing: types may refer to themselves

	outer := b.cur
	b.cur = map[string]bool{}
	for k, v := range b.definition(t) {
		def[k] = v
	}
	deps := make([]string, 0, len(b.cur))
	for d := range b.cur {
		deps = append(deps, d)
	}
	sort.Strings(deps)
	b.deps[name] = deps
	b.cur = outer

	if gvks := b.gvks[t]; len(gvks) > 0 {
		list := make([]any, 0, len(gvks))
		for _, gvk := range gvks {
			list = append(list, gvkObject(gvk))
		}
		def[extGVK] = list
	}
	return name
}

func gvkObject(gvk schema.GroupVersionKind) object {
	return object{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

func (b *defBuilder) definition(t reflect.Type) object {
	zero := reflect.Zero(t).Interface()
	if typed, ok := zero.(openAPITyped); ok {
		s := object{}
		if f := typed.OpenAPISchemaFormat(); f != "" {
			s["format"] = f
		}
		if oneOf, ok := zero.(openAPIV3OneOf); ok && b.v3 {
			var list []any
			for _, typ := range oneOf.OpenAPIV3OneOfTypes() {
				list = append(list, object{"type": typ})
			}
			s["oneOf"] = list
			if s["format"] == "int-or-string" {
				s[extIntOrString] = true
			}
		} else if types := typed.OpenAPISchemaType(); len(types) == 1 {
			s["type"] = types[0]
		}
		return s
	}
	if t.Kind() != reflect.Struct {
		return b.inline(t)
	}
	props := object{}
	var required []string
	b.fields(t, props, &required)
	s := object{"type": "object"}
	// Upstream describes field-less structs (RawExtension, FieldsV1,
	// Patch) as a bare object, which clients read as "anything".
	if len(props) > 0 {
		s["properties"] = props
	}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}

// fields adds the JSON fields of struct t to props, following
// encoding/json: `json:"-"` is skipped, embedded structs without a name
// (or tagged ",inline") contribute their fields unless the outer struct
// has a field of the same name, and a field is required unless tagged
// omitempty or omitzero.
func (b *defBuilder) fields(t reflect.Type, props object, required *[]string) {
	var inlined []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := name == "" && (f.Anonymous || hasOpt(opts, "inline"))
		if !f.IsExported() && !(f.Anonymous && inline) {
			continue
		}
		if inline {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				inlined = append(inlined, ft)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		if k := f.Type.Kind(); k == reflect.Func || k == reflect.Chan {
			continue
		}
		props[name] = b.field(f)
		if !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
	for _, ft := range inlined {
		inner, innerRequired := object{}, []string(nil)
		b.fields(ft, inner, &innerRequired)
		for name, prop := range inner {
			if _, shadowed := props[name]; !shadowed {
				props[name] = prop
			}
		}
		for _, name := range innerRequired {
			if !slices.Contains(*required, name) {
				*required = append(*required, name)
			}
		}
	}
}

// field returns the schema of a struct field, carrying its patch
// strategy and merge key as the x-kubernetes-patch-* extensions.
func (b *defBuilder) field(f reflect.StructField) object {
	prop := b.inline(f.Type)
	strategy, mergeKey := f.Tag.Get("patchStrategy"), f.Tag.Get("patchMergeKey")
	if strategy == "" && mergeKey == "" {
		return prop
	}
	if _, isRef := prop["$ref"]; isRef && b.v3 {
		// v3 keeps $ref alone in its schema, as upstream does.
		prop = object{"allOf": []any{prop}}
	}
	if strategy != "" {
		prop[extPatchStrategy] = strategy
	}
	if mergeKey != "" {
		prop[extPatchMergeKey] = mergeKey
	}
	return prop
}

func hasOpt(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// inline returns the schema of a value of type t where it appears: a
// reference for named structs and self-describing types, an inline
// schema for everything else.
func (b *defBuilder) inline(t reflect.Type) object {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" && t.PkgPath() != "" {
		if _, ok := reflect.Zero(t).Interface().(openAPITyped); ok || t.Kind() == reflect.Struct {
			return b.ref(b.define(t))
		}
	}
	switch t.Kind() {
	case reflect.String:
		return object{"type": "string"}
	case reflect.Bool:
		return object{"type": "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int, reflect.Uint8, reflect.Uint16, reflect.Uint:
		return object{"type": "integer", "format": "int32"}
	case reflect.Int64, reflect.Uint32, reflect.Uint64:
		return object{"type": "integer", "format": "int64"}
	case reflect.Float32:
		return object{"type": "number", "format": "float"}
	case reflect.Float64:
		return object{"type": "number", "format": "double"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return object{"type": "string", "format": "byte"}
		}
		return object{"type": "array", "items": b.inline(t.Elem())}
	case reflect.Map:
		return object{"type": "object", "additionalProperties": b.inline(t.Elem())}
	case reflect.Struct:
		// An anonymous struct: described in place.
		return b.definition(t)
	}
	// Interfaces and anything else: any value.
	return object{}
}

// encode serializes every definition once; documents embed the bytes.
func (b *defBuilder) encode() {
	b.raw = make(map[string]rawJSON, len(b.defs))
	for name, def := range b.defs {
		b.raw[name] = appendJSON(nil, def)
	}
}

// closure returns the serialized definitions of roots and of every
// definition they reach.
func (b *defBuilder) closure(roots []string) object {
	out := object{}
	todo := append([]string(nil), roots...)
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if _, done := out[n]; done {
			continue
		}
		out[n] = b.raw[n]
		todo = append(todo, b.deps[n]...)
	}
	return out
}
