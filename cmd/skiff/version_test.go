package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestPrintVersion(t *testing.T) {
	var text bytes.Buffer
	if err := printVersion(&text, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "Client Version: v1.37.2-skiff+") {
		t.Errorf("text output:\n%s", text.String())
	}

	var js bytes.Buffer
	if err := printVersion(&js, "json"); err != nil {
		t.Fatal(err)
	}
	var got versionOutput
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("json output does not parse: %v\n%s", err, js.String())
	}
	if got.ClientVersion.Major != "1" || got.KubernetesVersion != "v1.37.2" {
		t.Errorf("json output: %+v", got)
	}

	if err := printVersion(&js, "xml"); err == nil {
		t.Error("unknown output format accepted")
	}
}
