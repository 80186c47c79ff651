package openapi

import (
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// This file renders the operations of paths.go as OpenAPI v2 (one
// document for the server) and v3 (one document per group version).

var statusText = map[int]string{200: "OK", 201: "Created", 202: "Accepted", 401: "Unauthorized"}

// Parameters never change: each is encoded once per OpenAPI version.
var v2Params, v3Params = map[string]rawJSON{}, map[string]rawJSON{}

func init() {
	for name, p := range params {
		v2 := object{"name": p.name, "in": p.in, "description": p.desc, "type": p.typ, "uniqueItems": true}
		v3 := object{"name": p.name, "in": p.in, "description": p.desc,
			"schema": object{"type": p.typ, "uniqueItems": true}}
		if p.in == "path" {
			v2["required"], v3["required"] = true, true
		}
		v2Params[name], v3Params[name] = appendJSON(nil, v2), appendJSON(nil, v3)
	}
}

func paramList(enc map[string]rawJSON, names []string) []any {
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, enc[n])
	}
	return out
}

func sortedCodes(m map[int]string) []int {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	return codes
}

func (op operation) common(tag string) object {
	return object{
		"description": op.desc,
		"operationId": op.id,
		"tags":        []string{tag},
		extAction:     op.action,
		extGVK:        gvkObject(op.gvk),
	}
}

func v2Operation(op operation, tag string, b *defBuilder) object {
	o := op.common(tag)
	o["schemes"] = []string{"https"}
	o["consumes"] = []string{"*/*"}
	o["produces"] = produces
	if op.watch {
		o["produces"] = producesWatch
	}
	if op.patch {
		o["consumes"] = patchTypes
	}
	var ps []any
	if op.body != "" {
		body := object{"name": "body", "in": "body", "schema": b.ref(op.body)}
		if op.bodyRequired {
			body["required"] = true
		}
		ps = append(ps, body)
	}
	if ps = append(ps, paramList(v2Params, op.query)...); len(ps) > 0 {
		o["parameters"] = ps
	}
	responses := object{"401": object{"description": statusText[401]}}
	for _, code := range sortedCodes(op.responses) {
		responses[strconv.Itoa(code)] = object{"description": statusText[code], "schema": b.ref(op.responses[code])}
	}
	o["responses"] = responses
	return o
}

var security = []any{object{"BearerToken": []string{}}}

func bearerScheme() object {
	return object{"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication"}
}

// v2Document assembles the server's OpenAPI v2 document.
func v2Document(b *defBuilder, items map[schema.GroupVersion][]pathItem, version string) object {
	paths := object{}
	for gv, list := range items {
		_, tag := gvIDs(gv)
		for _, it := range list {
			pi := object{"parameters": paramList(v2Params, it.params)}
			for _, op := range it.ops {
				pi[op.method] = v2Operation(op, tag, b)
			}
			paths[it.path] = pi
		}
	}
	defs := object{}
	for name, raw := range b.raw {
		defs[name] = raw
	}
	return object{
		"swagger":             "2.0",
		"info":                object{"title": "Kubernetes", "version": version},
		"paths":               paths,
		"definitions":         defs,
		"securityDefinitions": object{"BearerToken": bearerScheme()},
		"security":            security,
	}
}

func v3Content(types []string, schema object) object {
	out := make(object, len(types))
	for _, t := range types {
		out[t] = object{"schema": schema}
	}
	return out
}

func v3Operation(op operation, tag string, b *defBuilder) object {
	o := op.common(tag)
	if len(op.query) > 0 {
		o["parameters"] = paramList(v3Params, op.query)
	}
	if op.body != "" {
		types := []string{"*/*"}
		if op.patch {
			types = patchTypes
		}
		body := object{"content": v3Content(types, b.ref(op.body))}
		if op.bodyRequired {
			body["required"] = true
		}
		o["requestBody"] = body
	}
	types := produces
	if op.watch {
		types = producesWatch
	}
	responses := object{"401": object{"description": statusText[401]}}
	for _, code := range sortedCodes(op.responses) {
		responses[strconv.Itoa(code)] = object{
			"description": statusText[code],
			"content":     v3Content(types, b.ref(op.responses[code])),
		}
	}
	o["responses"] = responses
	return o
}

// v3Document assembles the OpenAPI v3 document of one group version,
// carrying the definitions its operations reach from roots.
func v3Document(b *defBuilder, gv schema.GroupVersion, items []pathItem, roots []string, version string) object {
	_, tag := gvIDs(gv)
	paths := object{}
	for _, it := range items {
		p := object{"parameters": paramList(v3Params, it.params)}
		for _, op := range it.ops {
			p[op.method] = v3Operation(op, tag, b)
		}
		paths[it.path] = p
	}
	return object{
		"openapi": "3.0.0",
		"info":    object{"title": "Kubernetes", "version": version},
		"paths":   paths,
		"components": object{
			"schemas":         b.closure(roots),
			"securitySchemes": object{"BearerToken": bearerScheme()},
		},
		"security": security,
	}
}
