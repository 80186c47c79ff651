package cni

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfListShape(t *testing.T) {
	data, err := ConfList("/data", []netip.Prefix{netip.MustParsePrefix("10.42.3.0/24"), netip.MustParsePrefix("fd00:42:0:3::/64")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != NetworkName || got.CNIVersion != CNIVersion || len(got.Plugins) != 2 {
		t.Fatalf("list = %s", data)
	}
	br, pm := got.Plugins[0], got.Plugins[1]
	if br["type"] != "bridge" || br["bridge"] != BridgeName || br["isGateway"] != true || br["ipMasq"] != false {
		t.Errorf("bridge plugin = %v", br)
	}
	im := br["ipam"].(map[string]any)
	if im["type"] != "host-local" || im["dataDir"] != "/data/cni/networks" {
		t.Errorf("ipam = %v", im)
	}
	ranges, _ := json.Marshal(im["ranges"])
	if string(ranges) != `[[{"subnet":"10.42.3.0/24"}],[{"subnet":"fd00:42:0:3::/64"}]]` {
		t.Errorf("ranges = %s", ranges)
	}
	routes, _ := json.Marshal(im["routes"])
	if string(routes) != `[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]` {
		t.Errorf("routes = %s", routes)
	}
	if pm["type"] != "portmap" || pm["capabilities"].(map[string]any)["portMappings"] != true {
		t.Errorf("portmap plugin = %v", pm)
	}
}

func TestWriteReplacesOnlyOnChange(t *testing.T) {
	dir := t.TempDir()
	if wrote, err := Write(dir, "10.42.1.0/24", Options{}); err != nil || !wrote {
		t.Fatalf("first write: %v, %v", wrote, err)
	}
	if wrote, err := Write(dir, "10.42.1.0/24", Options{}); err != nil || wrote {
		t.Fatalf("same CIDR again: wrote=%v err=%v, want no write", wrote, err)
	}
	if wrote, err := Write(dir, "10.42.2.0/24", Options{}); err != nil || !wrote {
		t.Fatalf("new CIDR: %v, %v", wrote, err)
	}
	data, err := os.ReadFile(ConfPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"10.42.2.0/24"`) || strings.Contains(string(data), "10.42.1.0") {
		t.Fatalf("configuration after the change:\n%s", data)
	}
	entries, _ := os.ReadDir(ConfDir(dir))
	if len(entries) != 1 || entries[0].Name() != ConfFileName {
		t.Fatalf("conf dir holds %v, want only %s (no temporary files)", entries, ConfFileName)
	}
	if _, err := Write(dir, "not-a-cidr", Options{}); err == nil {
		t.Fatal("Write accepted a bad CIDR")
	}
}

func TestMissingPlugins(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"bridge", "host-local"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := MissingPlugins(dir)
	if strings.Join(got, ",") != "portmap,loopback" {
		t.Fatalf("MissingPlugins = %v", got)
	}
}
