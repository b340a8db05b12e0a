package org

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestPagesEscapeValues renders every page with each value set to markup
// that would break out of its element or attribute, and parses the result
// as a browser would: the page keeps the elements of a page with plain
// values, gains no script, and each value reads back exactly.
func TestPagesEscapeValues(t *testing.T) {
	hostile := `"><script>alert(1)</script><a href='x' b="&amp; +`
	for _, name := range []string{"signin", "mfa", "activate", "done", "error"} {
		t.Run(name, func(t *testing.T) {
			render := func(v string) string {
				if name == "error" {
					return errorPageHTML(v, v, v)
				}
				return devicePage{Org: v, Error: v, FromURI: v, Username: v, StateToken: v, UserCode: v, Title: v, Message: v}.html(name)
			}
			plainTags, _ := parse(t, render("plain"))
			tags, values := parse(t, render(hostile))
			if strings.Join(tags, " ") != strings.Join(plainTags, " ") {
				t.Fatalf("elements changed:\n%v\nwant\n%v", tags, plainTags)
			}
			if len(values) == 0 {
				t.Fatal("no value in the page")
			}
			for _, v := range values {
				if !strings.Contains(v, hostile) {
					t.Errorf("value reads back as %q", v)
				}
			}
		})
	}
}

// parse returns the page's element names in order and every text or
// input value that holds a rendered value (those holding "plain" or the
// hostile string's first characters).
func parse(t *testing.T, page string) (tags, values []string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			tags = append(tags, n.Data)
			for _, a := range n.Attr {
				if a.Key == "value" && strings.HasPrefix(a.Val, `">`) {
					values = append(values, a.Val)
				}
			}
		case html.TextNode:
			if strings.HasPrefix(strings.TrimSpace(n.Data), `">`) {
				values = append(values, n.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return tags, values
}
