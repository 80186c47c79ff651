package apiserver

import (
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// maxBodyBytes is upstream's limit on a request body (3 MiB).
const maxBodyBytes = 3 << 20

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, badRequest("reading request body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	return body, nil
}

// fieldValidation reads the fieldValidation parameter; upstream's default
// is Warn.
func fieldValidation(r *http.Request) (string, error) {
	v := r.URL.Query().Get("fieldValidation")
	switch v {
	case "":
		return metav1.FieldValidationWarn, nil
	case metav1.FieldValidationIgnore, metav1.FieldValidationWarn, metav1.FieldValidationStrict:
		return v, nil
	}
	return "", badRequest("fieldValidation: Unsupported value: %q: supported values: \"Ignore\", \"Strict\", \"Warn\"", v)
}

func dryRun(r *http.Request) (bool, error) {
	values := r.URL.Query()["dryRun"]
	for _, v := range values {
		if v != metav1.DryRunAll {
			return false, badRequest("dryRun: Unsupported value: %q: supported values: \"All\"", v)
		}
	}
	return len(values) > 0, nil
}

// decodeBody decodes a request body into a new object of gvk, applying
// the request's field validation. Unknown or duplicate fields fail a Strict
// request and come back as warnings for Warn.
func (s *Server) decodeBody(r *http.Request, body []byte, gvk schema.GroupVersionKind) (runtime.Object, []string, error) {
	mode, err := fieldValidation(r)
	if err != nil {
		return nil, nil, err
	}
	dec, err := s.codecs.requestDecoder(r.Header.Get("Content-Type"), mode != metav1.FieldValidationIgnore)
	if err != nil {
		return nil, nil, err
	}
	return s.decodeWith(dec, body, gvk, mode)
}

func (s *Server) decodeWith(dec runtime.Decoder, body []byte, gvk schema.GroupVersionKind, mode string) (runtime.Object, []string, error) {
	into, err := s.scheme.New(gvk)
	if err != nil {
		return nil, nil, err
	}
	obj, actual, err := dec.Decode(body, &gvk, into)
	var warnings []string
	if err != nil {
		strictErr, ok := runtime.AsStrictDecodingError(err)
		if !ok || obj == nil {
			return nil, nil, badRequest("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err)
		}
		if mode == metav1.FieldValidationStrict {
			return nil, nil, badRequest("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, strictErr)
		}
		for _, e := range strictErr.Errors() {
			warnings = append(warnings, e.Error())
		}
	}
	if actual != nil && (actual.GroupVersion() != gvk.GroupVersion() || actual.Kind != gvk.Kind) {
		if actual.GroupVersion() != gvk.GroupVersion() {
			return nil, nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", actual.GroupVersion(), gvk.GroupVersion())
		}
		return nil, nil, badRequest("the kind in the data (%s) does not match the expected kind (%s)", actual.Kind, gvk.Kind)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, warnings, nil
}

func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", msg))
	}
}
