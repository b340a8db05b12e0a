// Package lazyregexp holds regular expressions that compile on first use.
// Every package-level regexp.MustCompile runs at program start, in every
// oktafed command; credential_process runs oktafed before each AWS call, so
// start-up work that only the sandbox needs is deferred to when it is used.
package lazyregexp

import (
	"regexp"
	"sync"
)

// Regexp is a regexp.Regexp compiled on first use.
type Regexp struct {
	src  string
	once sync.Once
	re   *regexp.Regexp
}

// New returns a Regexp for src. src must compile: a bad pattern panics on
// first use, so every package using New should have a test that touches
// each of its patterns.
func New(src string) *Regexp { return &Regexp{src: src} }

// Re returns the compiled expression.
func (r *Regexp) Re() *regexp.Regexp {
	r.once.Do(func() { r.re = regexp.MustCompile(r.src) })
	return r.re
}

// MatchString reports whether s contains a match.
func (r *Regexp) MatchString(s string) bool { return r.Re().MatchString(s) }

// FindStringSubmatch returns the leftmost match and its submatches.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.Re().FindStringSubmatch(s) }

// String returns the source text.
func (r *Regexp) String() string { return r.src }
