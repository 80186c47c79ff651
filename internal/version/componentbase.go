package version

import (
	"sync/atomic"
	_ "unsafe" // for go:linkname

	componentbaseversion "k8s.io/component-base/version"
)

// The linked-in kubectl reports its client version from
// k8s.io/component-base/version, whose values upstream sets only with
// -ldflags -X. Left alone, a plain `go build` reports
// "v0.0.0-master+$Format:%H$": that is not a semantic version, so
// `kubectl version` against any server fails with "client version error", and
// component-base's SetDynamicVersion cannot help (it only accepts the same
// major.minor.patch as the placeholder, v0.0.0). So Skiff writes its own
// Info into those variables at start-up. TestSetComponentBase catches a
// rename upstream: a linkname to a missing variable would silently define a
// new one.

//go:linkname cbGitMajor k8s.io/component-base/version.gitMajor
var cbGitMajor string

//go:linkname cbGitMinor k8s.io/component-base/version.gitMinor
var cbGitMinor string

//go:linkname cbGitVersion k8s.io/component-base/version.gitVersion
var cbGitVersion string

//go:linkname cbGitCommit k8s.io/component-base/version.gitCommit
var cbGitCommit string

//go:linkname cbBuildDate k8s.io/component-base/version.buildDate
var cbBuildDate string

// dynamicGitVersion is what component-base's Get returns as GitVersion; its
// init copies gitVersion into it before any of our code runs.
//
//go:linkname cbDynamicGitVersion k8s.io/component-base/version.dynamicGitVersion
var cbDynamicGitVersion atomic.Value

// SetComponentBase makes k8s.io/component-base/version report Skiff's Info,
// so the linked-in kubectl prints "Client Version: v1.37.2-skiff+..." and its
// version-skew check can parse it. Call it once from main, before running any
// command.
func SetComponentBase() {
	info := Info()
	cbGitMajor = info.Major
	cbGitMinor = info.Minor
	cbGitVersion = info.GitVersion
	cbDynamicGitVersion.Store(info.GitVersion)
	// Unstamped builds report empty values rather than upstream's
	// "$Format:%H$" and 1970 placeholders.
	cbGitCommit = info.GitCommit
	cbBuildDate = info.BuildDate
}

// componentBaseGet is here so the test reads component-base through its
// public API, not through the linknamed variables.
var componentBaseGet = componentbaseversion.Get
