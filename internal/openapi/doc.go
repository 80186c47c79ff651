// Package openapi serves the OpenAPI documents clients read from the API
// server: /openapi/v2 (JSON, or protobuf as client-go asks for it) and
// /openapi/v3 with one document per group version (api/v1,
// apis/GROUP/VERSION).
//
// # Why it exists
//
// kubectl reads them on every apply and create:
//
//   - With --validate=strict (the default) kubectl asks the v3 document
//     of the object's group version whether the PATCH operation of its
//     kind (x-kubernetes-group-version-kind) declares the fieldValidation
//     query parameter (cli-runtime's QueryParamVerifierV3, falling back
//     to the v2 document). If it does, kubectl leaves unknown and
//     duplicate fields to the server; if not, it validates client-side
//     against the v2 definitions.
//   - kubectl apply builds a strategic merge patch from the v3 document
//     when the kind's PATCH accepts application/strategic-merge-patch+json,
//     using the definition that carries the kind's GVK and the
//     x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key of its
//     fields; otherwise it falls back to v2, then to compiled-in types.
//   - kubectl explain renders v3 (paths to find the kind, components to
//     describe it).
//
// # How the documents are built
//
// New builds everything once, from the served resources and the Go types
// the scheme registers for them, and keeps only the serialized bytes:
//
//   - Definitions come from reflection over the kind and list types and
//     the types the paths exchange (metav1 Status, DeleteOptions,
//     WatchEvent and Patch; autoscaling/v1 Scale; core/v1 Binding and
//     policy/v1 Eviction for pods). Struct fields follow encoding/json:
//     json tags name them, `json:"-"` drops them, embedded structs (and
//     ",inline") are flattened, a field without omitempty/omitzero is
//     required. Types describing themselves (Quantity, IntOrString,
//     Time, MicroTime, Duration) use their OpenAPISchemaType/Format, and
//     in v3 their OpenAPIV3OneOfTypes, as upstream's generated code does;
//     IntOrString also carries x-kubernetes-int-or-string in v3. []byte is
//     a byte-formatted string, maps have additionalProperties, field-less
//     structs (RawExtension, FieldsV1, Patch) are a bare object. The
//     patchStrategy and patchMergeKey struct tags become the
//     x-kubernetes-patch-* extensions. Names are the types'
//     OpenAPIModelName, or derived from the package path as upstream does
//     (k8s.io/api/core/v1.Pod is io.k8s.api.core.v1.Pod). A definition
//     lists every served kind its type is registered as in
//     x-kubernetes-group-version-kind.
//   - Paths are the collection, item, all-namespaces list and status /
//     scale subresource paths of each resource (plus pods/binding and
//     pods/eviction), with upstream's operation ids, x-kubernetes-action,
//     x-kubernetes-group-version-kind and query parameters (fieldValidation,
//     dryRun and fieldManager on writes, force on patches), and the four
//     patch media types on PATCH. A kind without a list kind (reviews,
//     bindings) is create-only.
//   - Each v3 document carries only the definitions its paths reach.
//   - The documents are trees of maps written by a small JSON writer (see
//     json.go) with sorted keys; definitions are serialized once and shared
//     by the documents that need them. This keeps New at a few tens of
//     milliseconds for the built-in resources. The protobuf forms (gnostic
//     parse, then proto.Marshal) cost about 100ms for v2 and are made on
//     first request, once.
//   - ETags are the SHA-512 of the JSON. The v3 index links each document
//     with ?hash=ETAG; such requests are answered with Cache-Control
//     "public, immutable", an outdated hash with a redirect, as upstream.
//
// # Known differences from upstream
//
//   - No descriptions: reflection does not see doc comments, so `kubectl
//     explain` shows fields, types and -required- marks but "<empty>" /
//     "<no description>" text. (The generated SwaggerDoc() methods of
//     k8s.io/api could supply them, at about three times the document size
//     and start-up work.)
//   - Markers only comments carry are missing: +listType/+listMapKey
//     (x-kubernetes-list-type, x-kubernetes-list-map-keys), +mapType,
//     +union, enums, defaults, +optional on fields without omitempty and
//     +required on fields with it.
//   - Connect subresources (pods/log, exec, attach, portforward, proxy),
//     the deprecated /watch/ paths, discovery paths and per-group
//     APIResourceList operations are not described; no document advertises
//     CBOR.
//   - Custom resources (unstructured kinds) are left out; their schemas
//     come from their CRDs.
package openapi
