package version

import (
	"os"
	"runtime/debug"
	"strings"
	"testing"

	utilversion "k8s.io/apimachinery/pkg/util/version"
)

func TestKubeFromAPIModule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"v0.37.2", "v1.37.2", true},
		{"v0.38.0-alpha.1", "v1.38.0", true},
		{"v0.37.2+incompatible", "v1.37.2", true},
		{"v1.0.0", "", false},
		{"v0.37", "", false},
		{"v0.x.2", "", false},
		{"", "", false},
	} {
		got, ok := kubeFromAPIModule(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("kubeFromAPIModule(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestKubeFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{Deps: []*debug.Module{
		{Path: "k8s.io/apimachinery", Version: "v0.1.0"},
		{Path: "k8s.io/api", Version: "v0.40.1"},
	}}
	if got := kubeFromBuildInfo(bi); got != "v1.40.1" {
		t.Errorf("got %q, want v1.40.1", got)
	}
	bi.Deps[1].Replace = &debug.Module{Path: "example.com/fork/api", Version: "v0.41.0"}
	if got := kubeFromBuildInfo(bi); got != "v1.41.0" {
		t.Errorf("with replace: got %q, want v1.41.0", got)
	}
	if got := kubeFromBuildInfo(&debug.BuildInfo{}); got != fallbackKubeVersion {
		t.Errorf("no deps: got %q, want fallback %q", got, fallbackKubeVersion)
	}
}

// TestFallbackMatchesGoMod keeps fallbackKubeVersion in step with go.mod, so
// bumping k8s.io/api without updating it fails here rather than in a binary
// without build info.
func TestFallbackMatchesGoMod(t *testing.T) {
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Skipf("go.mod not readable: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == apiModule {
			want, ok := kubeFromAPIModule(fields[1])
			if !ok || want != fallbackKubeVersion {
				t.Fatalf("go.mod requires %s %s; fallbackKubeVersion is %s", apiModule, fields[1], fallbackKubeVersion)
			}
			return
		}
	}
	t.Fatalf("go.mod has no %s requirement", apiModule)
}

func TestInfo(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })

	for _, v := range []string{"", "v0.1.0", "0.1.0-3-gabcdef+dirty", "weird version/with spaces", "..."} {
		Version = v
		info := Info()
		if info.Major != "1" || info.Minor != "37" {
			t.Errorf("Version=%q: Major/Minor = %q/%q, want 1/37", v, info.Major, info.Minor)
		}
		if !strings.HasPrefix(info.GitVersion, "v1.37.2-skiff+") {
			t.Errorf("Version=%q: GitVersion = %q", v, info.GitVersion)
		}
		sv, err := utilversion.ParseSemantic(info.GitVersion)
		if err != nil {
			t.Errorf("Version=%q: GitVersion %q does not parse as semver: %v", v, info.GitVersion, err)
			continue
		}
		if sv.Major() != 1 || sv.Minor() != 37 || sv.Patch() != 2 {
			t.Errorf("Version=%q: parsed %v", v, sv)
		}
		if info.GoVersion == "" || info.Platform == "" {
			t.Errorf("Version=%q: GoVersion/Platform empty: %+v", v, info)
		}
	}
}

func TestSetComponentBase(t *testing.T) {
	SetComponentBase()
	got := componentBaseGet()
	want := Info()
	if got.GitVersion != want.GitVersion || got.Major != want.Major || got.Minor != want.Minor ||
		got.GitCommit != want.GitCommit || got.BuildDate != want.BuildDate {
		t.Fatalf("component-base reports %+v, want %+v", got, want)
	}
}
