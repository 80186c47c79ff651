// Package version says which Skiff build is running and which Kubernetes
// release it claims to be compatible with.
//
// The build variables are set with -ldflags -X, for example:
//
//	go build -ldflags "\
//	  -X github.com/skiff-sh/skiff/internal/version.Version=v0.1.0 \
//	  -X github.com/skiff-sh/skiff/internal/version.GitCommit=$(git rev-parse HEAD) \
//	  -X github.com/skiff-sh/skiff/internal/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
//	  ./cmd/skiff
//
// A plain `go build` still yields usable values: the Kubernetes version comes
// from the k8s.io/api module the binary was linked with, and Version falls
// back to the main module's version from the build info, or "dev".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
)

// Set with -ldflags -X at build time. Empty means "not stamped".
var (
	Version   = ""
	GitCommit = ""
	BuildDate = ""
)

// fallbackKubeVersion is used when the binary carries no module build info
// (for example when built with -trimpath tooling that strips it). A unit test
// keeps it in step with the k8s.io/api requirement in go.mod.
const fallbackKubeVersion = "v1.37.2"

// apiModule is the module whose version defines the Kubernetes release Skiff
// speaks: k8s.io/api v0.X.Y ships the types of Kubernetes v1.X.Y.
const apiModule = "k8s.io/api"

// Skiff returns Skiff's own version: the -ldflags value, else the main
// module's version from the build info, else "dev".
func Skiff() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Kubernetes returns the Kubernetes version Skiff claims compatibility with,
// such as "v1.37.2".
func Kubernetes() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fallbackKubeVersion
	}
	return kubeFromBuildInfo(bi)
}

func kubeFromBuildInfo(bi *debug.BuildInfo) string {
	for _, dep := range bi.Deps {
		if dep.Path != apiModule {
			continue
		}
		if dep.Replace != nil && dep.Replace.Version != "" {
			dep = dep.Replace
		}
		if v, ok := kubeFromAPIModule(dep.Version); ok {
			return v
		}
	}
	return fallbackKubeVersion
}

// kubeFromAPIModule maps a k8s.io/api module version to the Kubernetes
// version: "v0.37.2" becomes "v1.37.2". Pre-release suffixes are dropped, as
// the claim is about the API surface of the release line.
func kubeFromAPIModule(mod string) (string, bool) {
	rest, ok := strings.CutPrefix(mod, "v0.")
	if !ok {
		return "", false
	}
	if i := strings.IndexAny(rest, "-+"); i >= 0 {
		rest = rest[:i]
	}
	minor, patch, ok := strings.Cut(rest, ".")
	if !ok || !isDigits(minor) || !isDigits(patch) {
		return "", false
	}
	return "v1." + minor + "." + patch, true
}

// Info is what /version serves and what `skiff version` and the linked-in
// kubectl print. GitVersion is "v1.37.2-skiff+<skiff version>": it must parse
// as a semantic version, because kubectl parses both client and server
// versions to warn about skew and fails `kubectl version` when it cannot.
// Major and Minor are what old clients compare (kubectl's skew check uses
// GitVersion).
func Info() apimachineryversion.Info {
	kube := Kubernetes()
	major, minor := majorMinor(kube)
	return apimachineryversion.Info{
		Major:        major,
		Minor:        minor,
		GitVersion:   kube + "-skiff+" + buildMetadata(Skiff()),
		GitCommit:    GitCommit,
		GitTreeState: "",
		BuildDate:    BuildDate,
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH),
	}
}

// majorMinor splits "v1.37.2" into "1" and "37".
func majorMinor(kube string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(kube, "v"), ".", 3)
	if len(parts) < 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

// buildMetadata turns a free-form version into semver build metadata:
// dot-separated identifiers of [0-9A-Za-z-]. Anything else becomes '-', and
// empty identifiers are dropped, so "v0.1.0+dirty" becomes "v0.1.0-dirty".
func buildMetadata(s string) string {
	mapped := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '.':
			return r
		default:
			return '-'
		}
	}, s)
	var ids []string
	for id := range strings.SplitSeq(mapped, ".") {
		if id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "dev"
	}
	return strings.Join(ids, ".")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
