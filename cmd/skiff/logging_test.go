package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// TestLogFlagsInstall checks that klog (what client-go logs through) lands
// in the slog handler at the matching level. It changes process-wide
// loggers, so it restores them and must not run in parallel.
func TestLogFlagsInstall(t *testing.T) {
	oldDefault := slog.Default()
	t.Cleanup(func() {
		slog.SetDefault(oldDefault)
		klog.ClearLogger()
	})

	for _, tc := range []struct {
		level      string
		wantShown  []string
		wantHidden []string
	}{
		{"info", []string{"klog-info", "slog-info"}, []string{"klog-v1", "klog-v4", "slog-debug"}},
		{"debug", []string{"klog-info", "klog-v1", "klog-v4", "slog-debug"}, []string{"klog-v5"}},
	} {
		t.Run(tc.level, func(t *testing.T) {
			var buf bytes.Buffer
			f := logFlags{level: tc.level, format: "json"}
			logger, err := f.install(&buf)
			if err != nil {
				t.Fatal(err)
			}
			klog.Info("klog-info")
			klog.V(1).Info("klog-v1")
			klog.V(4).Info("klog-v4")
			klog.V(5).Info("klog-v5")
			logger.Info("slog-info")
			slog.Debug("slog-debug")
			klog.Flush()

			out := buf.String()
			for _, msg := range tc.wantShown {
				if !strings.Contains(out, `"`+msg+`"`) {
					t.Errorf("%q missing from output:\n%s", msg, out)
				}
			}
			for _, msg := range tc.wantHidden {
				if strings.Contains(out, `"`+msg+`"`) {
					t.Errorf("%q should be hidden:\n%s", msg, out)
				}
			}
		})
	}

	if _, err := (&logFlags{level: "trace", format: "text"}).install(&bytes.Buffer{}); err == nil {
		t.Error("unknown level accepted")
	}
	if _, err := (&logFlags{level: "info", format: "xml"}).install(&bytes.Buffer{}); err == nil {
		t.Error("unknown format accepted")
	}
}
