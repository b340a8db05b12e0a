// Package buildinfo says which release and commit a binary was built from,
// for `oktafed version` and `oktafed-gateway version`.
//
// Three builds answer it differently, in this order of preference:
//
//   - a release built by goreleaser stamps the version, commit and date
//     with -ldflags "-X github.com/oktafed/oktafed/cmd/internal/buildinfo.version=v1.2.3"
//     (and .commit, .date); see .goreleaser.yaml;
//   - `go install github.com/oktafed/oktafed/cmd/oktafed@v1.2.3` records the
//     module version in the binary, read with runtime/debug.ReadBuildInfo;
//     a pseudo-version (…@main) also carries the commit's short hash;
//   - `go build` in a checkout records vcs.revision, vcs.time and
//     vcs.modified (unless -buildvcs=false), and since Go 1.24 a module
//     version derived from the tags.
//
// A binary with none of these (go test, -buildvcs=false) reports "dev".
//
// The build information is read on first use, not at package
// initialization: credential_process starts oktafed before every AWS call
// and most runs never ask.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Set by the release build with -ldflags -X; empty otherwise. They are
// variables, not constants, so the linker can set them.
var (
	version string
	commit  string
	date    string
)

// Info is what a binary knows of its own build. The JSON names are the
// stable output of `version --output json`.
type Info struct {
	// Version is the release ("v1.2.3"), the module version go install
	// recorded, or "dev".
	Version string `json:"version"`
	// Commit is the full revision when known, else the short hash of a
	// pseudo-version, else empty.
	Commit string `json:"commit,omitempty"`
	// Date is when the commit was made (checkout builds) or the release
	// was built (goreleaser), RFC 3339; empty when unknown.
	Date string `json:"date,omitempty"`
	// Modified reports a checkout build with uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Dev is the version of a binary that knows nothing of its origin.
const Dev = "dev"

var get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Stamp{Version: version, Commit: commit, Date: date}, bi)
})

// Get returns the running binary's build information.
func Get() Info { return get() }

// Version returns Get().Version, for User-Agent headers.
func Version() string { return get().Version }

// Stamp is what -ldflags set; the zero Stamp means an unstamped build.
type Stamp struct {
	Version, Commit, Date string
}

// resolve combines the linker's stamp with the module's build information
// (nil when the binary has none). A stamp wins field by field, so a release
// built without a date still shows the commit the toolchain recorded.
func resolve(s Stamp, bi *debug.BuildInfo) Info {
	info := Info{Version: Dev, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		// "(devel)" is what the toolchain records when it knows no
		// version: a checkout without VCS stamping, or go run.
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
			info.Commit = pseudoRevision(v)
		}
		var goos, goarch string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				info.Commit = kv.Value
			case "vcs.time":
				info.Date = kv.Value
			case "vcs.modified":
				info.Modified = kv.Value == "true"
			case "GOOS":
				goos = kv.Value
			case "GOARCH":
				goarch = kv.Value
			}
		}
		if goos != "" && goarch != "" {
			info.Platform = goos + "/" + goarch
		}
	}
	if s.Version != "" {
		info.Version = s.Version
	}
	if s.Commit != "" {
		info.Commit = s.Commit
	}
	if s.Date != "" {
		info.Date = s.Date
	}
	return info
}

// pseudoRevision returns the short commit hash a pseudo-version ends with
// (v0.0.0-20260102150405-abcdef123456, v1.2.4-0.20260102150405-abcdef123456,
// optionally +incompatible or +dirty), or "" for a release version.
func pseudoRevision(v string) string {
	v, _, _ = strings.Cut(v, "+")
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return ""
	}
	rev, rest := v[i+1:], v[:i]
	if len(rev) != 12 || !isHex(rev) {
		return ""
	}
	// The 14-digit UTC timestamp before the hash, after '-' or '.'.
	if len(rest) < 15 || !isDigits(rest[len(rest)-14:]) {
		return ""
	}
	if sep := rest[len(rest)-15]; sep != '-' && sep != '.' {
		return ""
	}
	return rev
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String is the one-line text form, after the program's name:
// "v1.2.3 (commit 0123abc, 2026-01-02T15:04:05Z, go1.26.8, linux/amd64)".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (")
	if i.Commit != "" {
		b.WriteString("commit ")
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		b.WriteString(c)
		if i.Modified {
			b.WriteString("+modified")
		}
		b.WriteString(", ")
	}
	if i.Date != "" {
		b.WriteString(i.Date)
		b.WriteString(", ")
	}
	b.WriteString(i.GoVersion)
	b.WriteString(", ")
	b.WriteString(i.Platform)
	b.WriteString(")")
	return b.String()
}
