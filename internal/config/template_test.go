package config

import (
	"strings"
	"testing"
	"text/template"
)

var sampleFields = NameFields{Account: "prod", AccountID: "123456789012", Role: "Admin", Profile: "work"}

// goTemplate renders src with text/template, which profile templates were
// before and whose results they must keep.
func goTemplate(src string, f NameFields) (string, error) {
	t, err := template.New("profile").Option("missingkey=error").Parse(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = t.Execute(&b, f)
	return b.String(), err
}

func TestProfileTemplateMatchesTextTemplate(t *testing.T) {
	for _, src := range []string{
		DefaultProfileTemplate,
		"{{.Profile}}/{{.AccountID}}/{{.Role}}",
		"{{ .Account }}-{{.Role}}",
		"okta  {{- .Account -}}  x",
		"{{.Role}}",
		"plain",
		"a}}b",
		"{{.Account}}{{.Account}}",
		"tab\t{{- .Role}}",
		"",
	} {
		want, err := goTemplate(src, sampleFields)
		if err != nil {
			t.Fatalf("%q: text/template: %v", src, err)
		}
		pt, err := parseProfileTemplate(src)
		if err != nil {
			t.Errorf("%q: refused: %v", src, err)
			continue
		}
		var b strings.Builder
		pt.render(&b, sampleFields)
		if b.String() != want {
			t.Errorf("%q: %q, text/template gives %q", src, b.String(), want)
		}
	}
}

// TestProfileTemplateRefuses: what text/template would do beyond naming a
// field is refused with the fields that exist, never half-rendered.
func TestProfileTemplateRefuses(t *testing.T) {
	for _, src := range []string{
		"{{.Nope}}",
		"{{.Role",
		"{{if .Role}}x{{end}}",
		"{{.Role | printf \"%.3s\"}}",
		"{{/* note */}}",
		"{{.role}}",
		"{{.}}",
		"{{Role}}",
		"{{-.Role}}",
	} {
		_, err := parseProfileTemplate(src)
		if err == nil {
			t.Errorf("%q accepted", src)
			continue
		}
		if !strings.Contains(err.Error(), "{{") {
			t.Errorf("%q: %v", src, err)
		}
	}
	p := &Profile{Name: "work", ProfileTemplate: "{{.Nope}}"}
	if _, err := p.AWSProfileName("1", "R"); err == nil || !strings.Contains(err.Error(), "{{.AccountID}}") {
		t.Errorf("AWSProfileName with an unknown field: %v", err)
	}
}

// FuzzProfileTemplate: whatever the parser accepts, text/template accepts
// too and renders the same.
func FuzzProfileTemplate(f *testing.F) {
	for _, s := range []string{DefaultProfileTemplate, "{{ .Role -}} x", "{{- .Profile}}", "a}}{{.AccountID}}", "{{.Nope}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		pt, err := parseProfileTemplate(src)
		if err != nil {
			return
		}
		want, err := goTemplate(src, sampleFields)
		if err != nil {
			t.Fatalf("%q accepted, text/template: %v", src, err)
		}
		var b strings.Builder
		pt.render(&b, sampleFields)
		if b.String() != want {
			t.Fatalf("%q: %q, text/template gives %q", src, b.String(), want)
		}
	})
}
