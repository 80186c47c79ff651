package apiserver

import (
	"errors"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

func (s *Server) patch(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo, tgt target) error {
	pt, err := patchType(r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	mode, err := fieldValidation(r)
	if err != nil {
		return err
	}
	var warnings []string
	out, err := s.updateObject(r.Context(), res, info.Namespace, info.Name, tgt, dry, func(cur runtime.Object) (runtime.Object, error) {
		obj, warns, err := s.applyPatch(res.gvk, cur, pt, body, mode)
		warnings = warns
		if err != nil {
			return nil, err
		}
		return obj, checkIdentity(obj, res, info)
	})
	if err != nil {
		return err
	}
	addWarnings(w, warnings)
	return s.respondObject(w, r, res, http.StatusOK, out)
}

func patchType(contentType string) (types.PatchType, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", unsupportedMediaType(contentType)
	}
	switch pt := types.PatchType(mt); pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
		return pt, nil
	case types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		return "", apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", schema.GroupResource{}, "",
			"server-side apply is not supported by this server yet; use client-side apply", 0, false)
	}
	return "", unsupportedMediaType(contentType)
}

// applyPatch patches the JSON form of cur and decodes the result with the
// request's field validation. The current resourceVersion is removed first
// so that only a resourceVersion written by the patch itself pins the write.
func (s *Server) applyPatch(gvk schema.GroupVersionKind, cur runtime.Object, pt types.PatchType, patch []byte, mode string) (runtime.Object, []string, error) {
	acc, err := meta.Accessor(cur)
	if err != nil {
		return nil, nil, err
	}
	acc.SetResourceVersion("")
	cur.GetObjectKind().SetGroupVersionKind(gvk)
	original, err := s.codecs.encode(mediaJSON, cur)
	if err != nil {
		return nil, nil, err
	}
	var patched []byte
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err == nil {
			err = checkJSONPatch(p)
		}
		if err != nil {
			return nil, nil, badRequest("the server rejected our request due to an error in our request: %v", err)
		}
		if patched, err = applyJSONPatch(p, original); err != nil {
			return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "", err.Error(), 0, false)
		}
	case types.MergePatchType:
		if patched, err = jsonpatch.MergePatch(original, patch); err != nil {
			return nil, nil, badRequest("the server rejected our request due to an error in our request: %v", err)
		}
	case types.StrategicMergePatchType:
		if patched, err = strategicpatch.StrategicMergePatch(original, patch, cur); err != nil {
			return nil, nil, strategicPatchError(err)
		}
	}
	dec := s.codecs.json
	if mode != metav1.FieldValidationIgnore {
		dec = s.codecs.jsonStrict
	}
	return s.decodeWith(dec, patched, gvk, mode)
}

func strategicPatchError(err error) error {
	switch {
	case errors.Is(err, mergepatch.ErrBadJSONDoc), errors.Is(err, mergepatch.ErrBadPatchFormatForPrimitiveList),
		errors.Is(err, mergepatch.ErrBadPatchFormatForRetainKeys), errors.Is(err, mergepatch.ErrBadPatchFormatForSetElementOrderList),
		errors.Is(err, mergepatch.ErrUnsupportedStrategicMergePatchFormat):
		return badRequest("the server rejected our request due to an error in our request: %v", err)
	}
	return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "",
		fmt.Sprintf("strategic merge patch failed: %v", err), 0, false)
}

// checkJSONPatch rejects operations missing the members RFC 6902 requires;
// the patch library dereferences them without checking.
func checkJSONPatch(p jsonpatch.Patch) error {
	for i, op := range p {
		var need string
		switch op.Kind() {
		case "add", "replace", "test":
			need = "value"
		case "move", "copy":
			need = "from"
		}
		if need != "" && op[need] == nil {
			return fmt.Errorf("operation %d (%s) has no %q", i, op.Kind(), need)
		}
	}
	return nil
}

// applyJSONPatch applies p, turning a panic inside the library (on inputs
// it does not expect) into an error instead of a 500.
func applyJSONPatch(p jsonpatch.Patch, doc []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("applying the JSON patch failed: %v", r)
		}
	}()
	return p.Apply(doc)
}
