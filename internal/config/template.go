package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// profileTemplate is a parsed profile_template: literal text and fields,
// in order. It reads the part of Go's template syntax that profile names
// use — {{.Account}}, {{.AccountID}}, {{.Role}}, {{.Profile}}, with
// optional spaces and "{{- " / " -}}" trim markers — and refuses the rest
// by name. It is not text/template because executing one looks methods up
// by name, which turns off the linker's dead-code elimination for the
// whole oktafed binary (archtest.TestPeopleBinary fails when it is off).
type profileTemplate []templatePart

// templatePart is literal text, or a field when field is set.
type templatePart struct {
	text, field string
}

// templateSpace is what trim markers remove, as in text/template.
const templateSpace = " \t\r\n"

// templateFields are the fields a profile template may name.
var templateFields = []string{"Account", "AccountID", "Role", "Profile"}

func parseProfileTemplate(src string) (profileTemplate, error) {
	var t profileTemplate
	trimNext := false
	for rest := src; rest != ""; {
		text, after, found := strings.Cut(rest, "{{")
		if trimNext {
			text = strings.TrimLeft(text, templateSpace)
			trimNext = false
		}
		if !found {
			t = append(t, templatePart{text: text})
			break
		}
		action, tail, closed := strings.Cut(after, "}}")
		if !closed {
			return nil, errors.New("a {{ without its }}")
		}
		if a, ok := strings.CutPrefix(action, "- "); ok {
			text = strings.TrimRight(text, templateSpace)
			action = a
		}
		if a, ok := strings.CutSuffix(action, " -"); ok {
			trimNext = true
			action = a
		}
		field, ok := strings.CutPrefix(strings.Trim(action, templateSpace), ".")
		if !ok || !isTemplateField(field) {
			return nil, fmt.Errorf("{{%s}} is not one of {{.Account}} (alias or id), {{.AccountID}}, {{.Role}}, {{.Profile}}", action)
		}
		t = append(t, templatePart{text: text}, templatePart{field: field})
		rest = tail
	}
	return t, nil
}

func isTemplateField(name string) bool { return slices.Contains(templateFields, name) }

// render writes the template with f's values.
func (t profileTemplate) render(b *strings.Builder, f NameFields) {
	for _, p := range t {
		switch p.field {
		case "":
			b.WriteString(p.text)
		case "Account":
			b.WriteString(f.Account)
		case "AccountID":
			b.WriteString(f.AccountID)
		case "Role":
			b.WriteString(f.Role)
		case "Profile":
			b.WriteString(f.Profile)
		}
	}
}
