package apiserver

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// mediaType is one negotiated representation of a response.
type mediaType struct {
	Type string // mediaJSON, mediaYAML or mediaProtobuf
	// As is a meta.k8s.io conversion the client asked for: Table,
	// PartialObjectMetadata or PartialObjectMetadataList.
	As string
	// Group and Version of the As kind (meta.k8s.io v1 or v1beta1).
	AsVersion string
}

// codecs holds the serializers for the wire formats Skiff speaks.
type codecs struct {
	scheme     *runtime.Scheme
	json       *json.Serializer
	jsonStrict *json.Serializer
	yaml       *json.Serializer
	yamlStrict *json.Serializer
	protobuf   *protobuf.Serializer
	protoRaw   *protobuf.RawSerializer
}

func newCodecs(scheme *runtime.Scheme) *codecs {
	meta := json.DefaultMetaFactory
	return &codecs{
		scheme:     scheme,
		json:       json.NewSerializerWithOptions(meta, scheme, scheme, json.SerializerOptions{}),
		jsonStrict: json.NewSerializerWithOptions(meta, scheme, scheme, json.SerializerOptions{Strict: true}),
		yaml:       json.NewSerializerWithOptions(meta, scheme, scheme, json.SerializerOptions{Yaml: true}),
		yamlStrict: json.NewSerializerWithOptions(meta, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true}),
		protobuf:   protobuf.NewSerializer(scheme, scheme),
		protoRaw:   protobuf.NewRawSerializer(scheme, scheme),
	}
}

// encoder returns the serializer writing media type m.
func (c *codecs) encoder(m string) runtime.Encoder {
	switch m {
	case mediaYAML:
		return c.yaml
	case mediaProtobuf:
		return c.protobuf
	}
	return c.json
}

func (c *codecs) encode(m string, obj runtime.Object) ([]byte, error) {
	var buf bytes.Buffer
	if err := c.encoder(m).Encode(obj, &buf); err != nil {
		return nil, fmt.Errorf("encoding %T as %s: %w", obj, m, err)
	}
	return buf.Bytes(), nil
}

// negotiate picks the response representation from an Accept header, in
// the client's order of preference. Clients list what they want first.
func negotiate(accept string) (mediaType, error) {
	if strings.TrimSpace(accept) == "" {
		return mediaType{Type: mediaJSON}, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		var m mediaType
		switch mt {
		case mediaJSON, "application/*", "*/*", "application/json-seq":
			m.Type = mediaJSON
		case mediaYAML:
			m.Type = mediaYAML
		case mediaProtobuf:
			m.Type = mediaProtobuf
		default:
			continue
		}
		if as := params["as"]; as != "" {
			if params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
				continue
			}
			switch as {
			case "Table":
				if m.Type != mediaJSON {
					continue // Tables are served as JSON only.
				}
			case "PartialObjectMetadata", "PartialObjectMetadataList":
			default:
				continue
			}
			m.As, m.AsVersion = as, params["v"]
		}
		return m, nil
	}
	return mediaType{}, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "get", schema.GroupResource{}, "",
		fmt.Sprintf("only the following media types are accepted: %s, %s, %s", mediaJSON, mediaYAML, mediaProtobuf), 0, false)
}

// requestDecoder returns the decoder for a request body's Content-Type;
// strict decoders report unknown and duplicate fields.
func (c *codecs) requestDecoder(contentType string, strict bool) (runtime.Decoder, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = mediaJSON, nil
	}
	if err != nil {
		return nil, unsupportedMediaType(contentType)
	}
	switch mt {
	case mediaJSON:
		if strict {
			return c.jsonStrict, nil
		}
		return c.json, nil
	case mediaYAML:
		if strict {
			return c.yamlStrict, nil
		}
		return c.yaml, nil
	case mediaProtobuf:
		return c.protobuf, nil
	}
	return nil, unsupportedMediaType(contentType)
}

func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	m, err := negotiate(r.Header.Get("Accept"))
	if err != nil {
		m = mediaType{Type: mediaJSON}
	}
	s.writeEncoded(w, code, m.Type, obj)
}

func (s *Server) writeEncoded(w http.ResponseWriter, code int, media string, obj runtime.Object) {
	body, err := s.codecs.encode(media, obj)
	if err != nil && media != mediaJSON {
		// Not every type has a protobuf form (Tables); JSON always works.
		media = mediaJSON
		body, err = s.codecs.encode(media, obj)
	}
	if err != nil {
		s.log.Error("encoding response", "err", err)
		http.Error(w, "internal error encoding response", http.StatusInternalServerError)
		return
	}
	writeBody(w, code, media, body)
}

func writeBody(w http.ResponseWriter, code int, media string, body []byte) {
	w.Header().Set("Content-Type", media)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
