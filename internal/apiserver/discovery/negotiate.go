package discovery

import (
	"sort"
	"strconv"
	"strings"
)

// Media types the discovery endpoints produce, in upstream's preference
// order for a wildcard Accept.
const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

type format int

const (
	formatJSON format = iota
	formatYAML
	formatProtobuf
)

var formats = []struct {
	format           format
	typ, subtype     string
	mediaType        string
	streamSerializer bool
}{
	{formatJSON, "application", "json", mediaJSON, true},
	{formatYAML, "application", "yaml", mediaYAML, false},
	{formatProtobuf, "application", "vnd.kubernetes.protobuf", mediaProtobuf, true},
}

const notAcceptableMessage = "only the following media types are accepted: " +
	mediaJSON + ", " + mediaYAML + ", " + mediaProtobuf

// Aggregated discovery versions, as named in the Accept "v" parameter.
const (
	aggV2      = "v2"
	aggV2beta1 = "v2beta1"
)

const (
	aggGroup = "apidiscovery.k8s.io"
	aggKind  = "APIGroupDiscoveryList"
)

// choice is the outcome of content negotiation: the format to write and,
// for aggregated discovery, the apidiscovery version ("" for the legacy
// documents).
type choice struct {
	format     format
	aggregated string
}

// contentType is the Content-Type header for the choice. Aggregated
// responses echo the conversion parameters, ordered g, v, as like upstream.
func (c choice) contentType() string {
	mt := formats[c.format].mediaType
	if c.aggregated == "" {
		return mt
	}
	return mt + ";g=" + aggGroup + ";v=" + c.aggregated + ";as=" + aggKind
}

type acceptClause struct {
	typ, subtype string
	q            float64
	params       map[string]string
}

// parseAccept splits an Accept header into clauses sorted like upstream's
// (github.com/munnerz/goautoneg): by q, then concrete before wildcard
// types, keeping the header order otherwise.
func parseAccept(header string) []acceptClause {
	var clauses []acceptClause
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, rest, _ := strings.Cut(part, ";")
		c := acceptClause{q: 1}
		typ, sub, hasSub := strings.Cut(mt, "/")
		c.typ = strings.TrimSpace(typ)
		switch {
		case !hasSub && c.typ == "*":
			c.subtype = "*"
		case !hasSub || strings.Contains(sub, "/"):
			continue
		default:
			c.subtype = strings.TrimSpace(sub)
		}
		for p := range strings.SplitSeq(rest, ";") {
			k, v, ok := strings.Cut(p, "=")
			if !ok || strings.Contains(v, "=") {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if k == "q" {
				c.q, _ = strconv.ParseFloat(v, 32)
				continue
			}
			if c.params == nil {
				c.params = map[string]string{}
			}
			c.params[k] = v
		}
		clauses = append(clauses, c)
	}
	sort.SliceStable(clauses, func(i, j int) bool {
		a, b := clauses[i], clauses[j]
		if a.q > b.q {
			return true
		}
		if a.typ != "*" && b.typ == "*" {
			return true
		}
		return a.subtype != "*" && b.subtype == "*"
	})
	return clauses
}

// negotiate picks the response form for a discovery request. When
// aggregatedAllowed (the /api and /apis roots), a clause asking for an
// APIGroupDiscoveryList wins over any plain clause, as upstream's wrapper
// handler checks for it first; otherwise only clauses without a conversion
// are acceptable. ok is false when nothing in the header is acceptable.
func negotiate(accept string, aggregatedAllowed bool) (c choice, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return choice{format: formatJSON}, true
	}
	clauses := parseAccept(accept)
	if aggregatedAllowed {
		if c, ok := match(clauses, true); ok {
			return c, true
		}
	}
	return match(clauses, false)
}

func match(clauses []acceptClause, aggregated bool) (choice, bool) {
	for _, cl := range clauses {
		for _, f := range formats {
			if !(cl.typ == f.typ && (cl.subtype == f.subtype || cl.subtype == "*") ||
				cl.typ == "*" && cl.subtype == "*") {
				continue
			}
			if c, ok := acceptParams(cl.params, f.format, f.streamSerializer, aggregated); ok {
				return c, true
			}
		}
	}
	return choice{}, false
}

// acceptParams applies upstream's media type parameter rules: g/v/as ask
// for a conversion, which only aggregated discovery offers; stream needs a
// streaming serializer; sv is never allowed; anything else is ignored.
func acceptParams(params map[string]string, f format, canStream, aggregated bool) (choice, bool) {
	convert := false
	for k, v := range params {
		switch k {
		case "g", "v", "as":
			convert = true
		case "stream":
			if v != "" && (!canStream || v != "watch") {
				return choice{}, false
			}
		case "sv":
			if v != "" {
				return choice{}, false
			}
		}
	}
	if !aggregated {
		return choice{format: f}, !convert
	}
	if !convert || params["g"] != aggGroup || params["as"] != aggKind {
		return choice{}, false
	}
	switch v := params["v"]; v {
	case aggV2, aggV2beta1:
		return choice{format: f, aggregated: v}, true
	}
	return choice{}, false
}
