// Package saml reads what Okta's AWS app hands the browser: the HTML page
// that auto-posts a SAMLResponse to AWS, and the SAML assertion inside it
// (issuer, subject, lifetime, audience and the AWS roles on offer).
//
// This is the client side. It trusts nothing and verifies no signature: AWS
// STS does that when the response is presented to AssumeRoleWithSAML. What
// it does guard against is hostile or broken input: pages and assertions are
// size-capped and XML with a DOCTYPE (and so any entity declaration) is
// refused.
package saml

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Size caps. A real AWS app page is a few tens of kilobytes even for users
// with hundreds of roles.
const (
	MaxPageSize     = 4 << 20 // HTML page
	MaxResponseSize = 2 << 20 // decoded SAMLResponse XML
)

// Form is the auto-post form of an Okta SAML app page.
type Form struct {
	// Action is where the browser would post, e.g.
	// https://signin.aws.amazon.com/saml.
	Action string
	// SAMLResponse is the base64 value as it appears in the form, which is
	// what AssumeRoleWithSAML takes. Whitespace is removed.
	SAMLResponse string
	// RelayState is posted along with the response, often empty.
	RelayState string
}

// ErrSignInPage means the page is Okta's sign-in page rather than the app's
// SAML form: the Okta session behind the request has ended or was never
// valid.
var ErrSignInPage = errors.New("okta answered with its sign-in page instead of the AWS app's SAML form: the Okta session has expired; sign in again")

// ErrNoForm means the page holds neither a SAML form nor anything recognised
// as a sign-in or error page.
var ErrNoForm = errors.New("the Okta app page has no SAMLResponse form: check the app URL is the AWS app's embed link (…/home/amazon_aws/… or …/app/amazon_aws/…/sso/saml), and whether an app sign-on policy asks for extra verification in a browser")

// PageError is an error page Okta showed instead of the SAML form, such as
// "you are not assigned this app".
type PageError struct {
	Message string // the page's own words, whitespace-collapsed and shortened
}

func (e *PageError) Error() string {
	return "okta showed an error page instead of the AWS app's SAML form: " + e.Message
}

// ParseForm finds the SAMLResponse form in an Okta app page. It uses a real
// HTML parser, so attribute order, quoting, case and character references
// do not matter. A sign-in page gives ErrSignInPage, an Okta error page a
// *PageError.
func ParseForm(page []byte) (*Form, error) {
	if len(page) > MaxPageSize {
		return nil, fmt.Errorf("the Okta app page is %d bytes, more than the %d expected: this is not a SAML form page", len(page), MaxPageSize)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return nil, fmt.Errorf("read the Okta app page: %w", err)
	}

	var (
		form       *Form
		conflict   bool
		lastForm   *html.Node // the most recent <form>, for inputs the parser moved out of it
		signIn     bool
		title      string
		errorTexts []string
	)
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Form:
				lastForm = n
				if id := strings.ToLower(attr(n, "id")); strings.Contains(id, "signin") || strings.Contains(id, "sign-in") || strings.Contains(id, "login") {
					signIn = true
				}
			case atom.Input:
				name := attr(n, "name")
				switch {
				case strings.EqualFold(name, "SAMLResponse"):
					v := stripSpace(attr(n, "value"))
					if form != nil && form.SAMLResponse != v && v != "" && form.SAMLResponse != "" {
						conflict = true
					}
					if form == nil {
						form = &Form{}
					}
					if form.SAMLResponse == "" {
						form.SAMLResponse = v
						owner := ancestor(n, atom.Form)
						if owner == nil {
							owner = lastForm
						}
						if owner != nil {
							form.Action = attr(owner, "action")
						}
					}
				case strings.EqualFold(name, "RelayState"):
					if form == nil {
						form = &Form{}
					}
					if form.RelayState == "" {
						form.RelayState = attr(n, "value")
					}
				}
				if strings.EqualFold(attr(n, "type"), "password") {
					signIn = true
				}
			case atom.Title:
				title = collapse(textOf(n))
			}
			if id := strings.ToLower(attr(n, "id")); id == "okta-sign-in" || id == "signin-container" {
				signIn = true
			}
			if isErrorBlock(n) {
				if t := collapse(textOf(n)); t != "" {
					errorTexts = append(errorTexts, t)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)

	if conflict {
		return nil, errors.New("the Okta app page has two different SAMLResponse values: refusing to guess which one AWS should get")
	}
	if form != nil && form.SAMLResponse != "" {
		return form, nil
	}
	if signIn {
		return nil, ErrSignInPage
	}
	if len(errorTexts) > 0 {
		return nil, &PageError{Message: shorten(errorTexts[0])}
	}
	if t := strings.ToLower(title); strings.Contains(t, "error") || strings.Contains(t, "forbidden") || strings.Contains(t, "not found") || strings.Contains(t, "denied") {
		// Error pages put the explanation in the body; the title alone
		// ("403 - Forbidden") rarely says what to do.
		msg := title
		if body := findElement(doc, atom.Body); body != nil {
			if text := collapse(textOf(body)); text != "" {
				msg = text
			}
		}
		return nil, &PageError{Message: shorten(msg)}
	}
	if form != nil {
		return nil, errors.New("the Okta app page's SAMLResponse field is empty: the app did not produce an assertion; try again, and if it persists ask your Okta admin to check the AWS app")
	}
	return nil, ErrNoForm
}

// isErrorBlock reports elements Okta's error pages use for their message.
func isErrorBlock(n *html.Node) bool {
	for _, f := range strings.Fields(strings.ToLower(attr(n, "class") + " " + attr(n, "id"))) {
		switch f {
		case "error-content", "error-message", "error-description", "errorsummary", "okta-form-infobox-error", "o-form-error-container", "error":
			return true
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func findElement(n *html.Node, a atom.Atom) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == a {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findElement(c, a); f != nil {
			return f
		}
	}
	return nil
}

func ancestor(n *html.Node, a atom.Atom) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.DataAtom == a {
			return p
		}
	}
	return nil
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		if n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style) {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func shorten(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '\f', '\v':
			return -1
		}
		return r
	}, s)
}
