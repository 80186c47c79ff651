package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// klogDebugVerbosity is the klog -v level enabled by --log-level=debug.
// klog V(n) messages reach slog at level -n, so V(4) lands exactly on
// slog.LevelDebug; client-go's per-request lines (V(6) and up) stay off.
const klogDebugVerbosity = 4

// logFlags are the logging flags of long-running subcommands.
type logFlags struct {
	level  string
	format string
}

func (f *logFlags) addTo(fs *pflag.FlagSet) {
	fs.StringVarP(&f.level, "log-level", "v", "info", "log level: info or debug; -v alone means debug")
	fs.Lookup("log-level").NoOptDefVal = "debug"
	fs.StringVar(&f.format, "log-format", "text", "log format: text or json")
}

// install makes slog's default logger write to w at the chosen level and
// format, and routes klog (client-go and other k8s.io libraries log through
// it) into the same handler with a matching verbosity. It returns the logger
// for components that take one explicitly.
func (f *logFlags) install(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	var klogV int
	switch f.level {
	case "info":
		level = slog.LevelInfo
	case "debug":
		level, klogV = slog.LevelDebug, klogDebugVerbosity
	default:
		return nil, fmt.Errorf("--log-level must be info or debug, not %q", f.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler
	switch f.format {
	case "text":
		handler = slog.NewTextHandler(w, opts)
	case "json":
		handler = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format must be text or json, not %q", f.format)
	}
	logger := slog.New(handler)
	slog.SetDefault(logger)

	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	if err := klogFlags.Set("v", strconv.Itoa(klogV)); err != nil {
		return nil, err
	}
	klog.SetSlogLogger(logger)
	return logger, nil
}
