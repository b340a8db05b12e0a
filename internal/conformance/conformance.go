// Package conformance holds the shapes of Okta's and AWS's answers as their
// published references describe them (shapes/, see its README), and the
// checks that hold a document to a shape. The client packages are tested by
// being fed these shapes; the sandbox is tested by having its live answers
// checked against them. Neither side can drift from the references without
// a test failing, even when both drift the same way.
//
// It is a test-support package: nothing in the binaries imports it.
package conformance

import (
	"bytes"
	"embed"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

//go:embed shapes
var shapes embed.FS

// Shape returns a shape file as written, e.g. "okta/authn-success.json".
func Shape(name string) []byte {
	b, err := shapes.ReadFile("shapes/" + name)
	if err != nil {
		panic("conformance: no shape " + name)
	}
	return b
}

// Doc returns a JSON shape as a server would send it: {base} replaced by
// base and the "!" keys (absence markers) removed.
func Doc(name, base string) []byte {
	var v any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(Shape(name)), "{base}", base)), &v); err != nil {
		panic("conformance: shape " + name + ": " + err.Error())
	}
	out, err := json.Marshal(stripAbsent(v))
	if err != nil {
		panic(err)
	}
	return out
}

func stripAbsent(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			if strings.HasPrefix(k, "!") {
				delete(t, k)
				continue
			}
			t[k] = stripAbsent(c)
		}
	case []any:
		for i, c := range t {
			t[i] = stripAbsent(c)
		}
	}
	return v
}

// factKeys are JSON keys whose values are facts of the reference rather
// than examples: the live value must equal the shape's.
var factKeys = map[string]bool{"status": true, "factorResult": true, "factorType": true, "provider": true}

// MatchJSON checks live against the JSON shape name, with {base} standing
// for base. It returns what does not conform, empty when live conforms.
// Objects must have every key of the shape (and none of its "!" keys);
// an empty shape object requires an empty object; every element of a
// shape array must be matched by some live element; strings are checked
// for type, except facts (see factKeys, link names of next and resend,
// hints.allow) and hrefs, compared path by path with the shape's own ids
// matching any id.
func MatchJSON(name, base string, live []byte) []string {
	var shape, got any
	if err := json.Unmarshal(Shape(name), &shape); err != nil {
		return []string{"shape " + name + ": " + err.Error()}
	}
	if err := json.Unmarshal(live, &got); err != nil {
		return []string{"live answer is not JSON: " + err.Error()}
	}
	m := matcher{base: base, ids: map[string]bool{}}
	collectIDs(shape, m.ids)
	m.match("$", shape, got)
	sort.Strings(m.problems)
	return m.problems
}

type matcher struct {
	base     string
	ids      map[string]bool
	problems []string
}

func collectIDs(v any, ids map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			if s, ok := c.(string); ok && k == "id" {
				ids[s] = true
			}
			collectIDs(c, ids)
		}
	case []any:
		for _, c := range t {
			collectIDs(c, ids)
		}
	}
}

func (m *matcher) fail(path, format string, args ...any) {
	m.problems = append(m.problems, path+": "+fmt.Sprintf(format, args...))
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "?"
}

func (m *matcher) match(path string, shape, got any) {
	if kind(shape) != kind(got) {
		m.fail(path, "is %s, the reference has %s", kind(got), kind(shape))
		return
	}
	switch s := shape.(type) {
	case map[string]any:
		g := got.(map[string]any)
		if len(s) == 0 && len(g) != 0 {
			m.fail(path, "must be an empty object, has %d keys", len(g))
		}
		for k, sv := range s {
			if strings.HasPrefix(k, "!") {
				if _, ok := g[k[1:]]; ok {
					m.fail(path+"."+k[1:], "must be absent: %v", sv)
				}
				continue
			}
			gv, ok := g[k]
			if !ok {
				m.fail(path+"."+k, "missing")
				continue
			}
			m.match(path+"."+k, sv, gv)
		}
	case []any:
		g := got.([]any)
		for i, se := range s {
			found := false
			for _, ge := range g {
				probe := matcher{base: m.base, ids: m.ids}
				probe.match(path, se, ge)
				if len(probe.problems) == 0 {
					found = true
					break
				}
			}
			if !found {
				// Report against the closest candidate, or the kind.
				if len(g) == 0 {
					m.fail(fmt.Sprintf("%s[%d]", path, i), "missing (the array is empty)")
				} else {
					probe := matcher{base: m.base, ids: m.ids}
					probe.match(fmt.Sprintf("%s[%d]", path, i), se, g[0])
					m.problems = append(m.problems, probe.problems...)
				}
			}
		}
	case string:
		g := got.(string)
		key := path[strings.LastIndexByte(path, '.')+1:]
		switch {
		case key == "href":
			m.matchHref(path, s, g)
		case factKeys[key], key == "name" && (strings.HasSuffix(path, "_links.next.name") || strings.HasSuffix(path, "_links.resend.name")),
			strings.HasSuffix(path, "hints.allow"):
			if g != s {
				m.fail(path, "is %q, the reference has %q", g, s)
			}
		}
	case float64, bool, nil:
		// Type only.
	}
}

func (m *matcher) matchHref(path, shape, got string) {
	want := strings.ReplaceAll(shape, "{base}", m.base)
	wu, err1 := url.Parse(want)
	gu, err2 := url.Parse(got)
	if err1 != nil || err2 != nil || wu.Scheme != gu.Scheme || wu.Host != gu.Host {
		m.fail(path, "is %q, the reference has %q", got, want)
		return
	}
	ws, gs := strings.Split(wu.Path, "/"), strings.Split(gu.Path, "/")
	if len(ws) != len(gs) {
		m.fail(path, "is %q, the reference has %q", got, want)
		return
	}
	for i := range ws {
		if ws[i] != gs[i] && !m.ids[ws[i]] {
			m.fail(path, "is %q, the reference has %q", got, want)
			return
		}
	}
}

// MissingXMLPaths lists the element paths (by local name, from the root)
// of the XML shape name that live lacks.
func MissingXMLPaths(name string, live []byte) []string {
	want, err := xmlPaths(Shape(name))
	if err != nil {
		return []string{"shape " + name + ": " + err.Error()}
	}
	got, err := xmlPaths(live)
	if err != nil {
		return []string{"live answer: " + err.Error()}
	}
	var missing []string
	for p := range want {
		if !got[p] {
			missing = append(missing, p+": missing")
		}
	}
	sort.Strings(missing)
	return missing
}

func xmlPaths(doc []byte) (map[string]bool, error) {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	paths := map[string]bool{}
	var stack []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return paths, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			paths[strings.Join(stack, "/")] = true
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

// XMLText returns the text of the element at path (local names from the
// root, slash-separated), "" when there is none.
func XMLText(doc []byte, path string) string {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		return ""
	}
	e := d.Root()
	parts := strings.Split(path, "/")
	if e == nil || e.Tag != parts[0] {
		return ""
	}
	for _, p := range parts[1:] {
		if e = e.SelectElement(p); e == nil {
			return ""
		}
	}
	return strings.TrimSpace(e.Text())
}

// CheckOktaSAML checks a decoded SAML response against the facts of
// saml/okta-aws-response.xml: each attribute the shape has is present
// with the shape's NameFormat, every value declares the xs namespace it
// types itself with, and Role values name the SAML provider first.
func CheckOktaSAML(live []byte) []string {
	var problems []string
	if missing := MissingXMLPaths("saml/okta-aws-response.xml", live); len(missing) > 0 {
		problems = append(problems, missing...)
	}
	shape, err := attributes(Shape("saml/okta-aws-response.xml"))
	if err != nil {
		return append(problems, "shape: "+err.Error())
	}
	got, err := attributes(live)
	if err != nil {
		return append(problems, "live: "+err.Error())
	}
	for name, sa := range shape {
		ga, ok := got[name]
		if !ok {
			problems = append(problems, "attribute "+name+": missing")
			continue
		}
		if ga.SelectAttrValue("NameFormat", "") != sa.SelectAttrValue("NameFormat", "") {
			problems = append(problems, fmt.Sprintf("attribute %s: NameFormat %q, the reference has %q", name, ga.SelectAttrValue("NameFormat", ""), sa.SelectAttrValue("NameFormat", "")))
		}
		for _, v := range ga.SelectElements("AttributeValue") {
			if v.SelectAttrValue("xsi:type", "") != "xs:string" || v.SelectAttrValue("xmlns:xs", "") != "http://www.w3.org/2001/XMLSchema" {
				problems = append(problems, "attribute "+name+": a value is not xsi:type xs:string with xmlns:xs declared")
			}
			if strings.HasSuffix(name, "/Role") && !providerFirst.MatchString(strings.TrimSpace(v.Text())) {
				problems = append(problems, fmt.Sprintf("attribute %s: value %q does not name the SAML provider first", name, strings.TrimSpace(v.Text())))
			}
		}
	}
	return problems
}

var providerFirst = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:saml-provider/[^,]+,arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)

func attributes(doc []byte) (map[string]*etree.Element, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(bytes.TrimSpace(doc)); err != nil {
		return nil, err
	}
	out := map[string]*etree.Element{}
	for _, a := range d.FindElements("//Attribute") {
		out[a.SelectAttrValue("Name", "")] = a
	}
	return out, nil
}

// AppPage returns the shape of the AWS app page with samlResponse (base64)
// written into its form as Okta writes attribute values.
func AppPage(samlResponse string) []byte {
	return bytes.ReplaceAll(Shape("okta/aws-app-page.html"), []byte("{SAMLResponse}"), []byte(oktaEncode(samlResponse)))
}

func oktaEncode(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(",.-_", r) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "&#x%x;", r)
		}
	}
	return b.String()
}

var (
	formTag      = regexp.MustCompile(`<form\b[^>]*\bid="appForm"[^>]*>`)
	actionAttr   = regexp.MustCompile(`\baction="([^"]*)"`)
	responseAttr = regexp.MustCompile(`<input\b[^>]*\bname="SAMLResponse"[^>]*\bvalue="([^"]*)"`)
	oktaEncoded  = regexp.MustCompile(`^(?:[A-Za-z0-9,._-]|&#x[0-9a-f]+;)*$`)
)

// CheckAppPage checks an AWS app page as served (the raw bytes) against
// okta/aws-app-page.html: a form appForm posting to the action the shape
// names, written, like the SAMLResponse value, with Okta's hexadecimal
// character references, and markup around the form.
func CheckAppPage(page []byte) []string {
	var problems []string
	shapeForm := formTag.Find(Shape("okta/aws-app-page.html"))
	wantAction := actionAttr.FindSubmatch(shapeForm)[1]
	form := formTag.Find(page)
	if form == nil {
		return []string{"no <form id=\"appForm\">"}
	}
	if a := actionAttr.FindSubmatch(form); a == nil || !bytes.Equal(a[1], wantAction) {
		problems = append(problems, fmt.Sprintf("form action %q, the reference has %q", a, wantAction))
	}
	if !bytes.Contains(bytes.ToUpper(form), []byte(`METHOD="POST"`)) {
		problems = append(problems, "the form does not POST")
	}
	v := responseAttr.FindSubmatch(page)
	switch {
	case v == nil:
		problems = append(problems, "no SAMLResponse input")
	case !oktaEncoded.Match(v[1]):
		problems = append(problems, "the SAMLResponse value is not written with character references as Okta writes it")
	case !bytes.Contains(v[1], []byte("&#x")):
		problems = append(problems, "the SAMLResponse value has no character references (no +, / or = encoded)")
	}
	if !bytes.Contains(page, []byte("interstitial")) || !bytes.Contains(page, []byte("<script")) {
		problems = append(problems, "no interstitial markup or script around the form")
	}
	return problems
}
