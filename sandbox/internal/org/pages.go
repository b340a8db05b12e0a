package org

import (
	"html"
	"strings"
)

// The org's pages are plain HTML forms, without scripts, so any browser
// (or a test driving one) can complete them; element ids are stable. They
// are written out here rather than with html/template: executing a
// template looks methods up by name, which turns off the linker's
// dead-code elimination for every binary that links the sandbox — the
// oktafed people install among them (archtest.TestPeopleBinary). Every value goes
// through html.EscapeString and sits in element text or a double-quoted
// attribute, the two places that escaping covers.

type devicePage struct {
	Org, Error, FromURI, Username, StateToken, UserCode, Title, Message string
}

// html renders the named page: signin, mfa, activate or done.
func (p devicePage) html(name string) string {
	e := html.EscapeString
	var b strings.Builder
	errorLine := func() {
		if p.Error != "" {
			b.WriteString(`<p id="error" role="alert">` + e(p.Error) + `</p>`)
		}
		b.WriteString("\n")
	}
	switch name {
	case "signin":
		b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign In - ` + e(p.Org) + `</title></head>
<body>
<h1>Sign In</h1>
`)
		errorLine()
		b.WriteString(`<form id="signin" method="post" action="/login/signin">
<input type="hidden" name="fromURI" value="` + e(p.FromURI) + `">
<label>Username <input id="username" name="username" autocomplete="username" value="` + e(p.Username) + `"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="submit" type="submit">Sign In</button>
</form>
<p><small>` + e(p.Org) + ` (oktafed sandbox)</small></p>
</body></html>
`)
	case "mfa":
		b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Verify - ` + e(p.Org) + `</title></head>
<body>
<h1>Enter a code from your authenticator app</h1>
`)
		errorLine()
		b.WriteString(`<form id="verify" method="post" action="/login/signin/verify">
<input type="hidden" name="fromURI" value="` + e(p.FromURI) + `">
<input type="hidden" name="stateToken" value="` + e(p.StateToken) + `">
<label>Code <input id="passcode" name="passcode" inputmode="numeric" autocomplete="one-time-code"></label>
<button id="submit" type="submit">Verify</button>
</form>
</body></html>
`)
	case "activate":
		b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Activate a device - ` + e(p.Org) + `</title></head>
<body>
<h1>Activate a device</h1>
<p>Signed in as <span id="login">` + e(p.Username) + `</span>. Enter the code your device shows.</p>
`)
		errorLine()
		b.WriteString(`<form id="activate" method="post" action="/activate">
<label>Code <input id="user_code" name="user_code" value="` + e(p.UserCode) + `" autocomplete="off"></label>
<button id="submit" type="submit" name="action" value="approve">Next</button>
<button id="deny" type="submit" name="action" value="deny">Deny</button>
</form>
</body></html>
`)
	default: // "done"
		b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>` + e(p.Title) + ` - ` + e(p.Org) + `</title></head>
<body>
<h1 id="result">` + e(p.Title) + `</h1>
<p>` + e(p.Message) + `</p>
</body></html>
`)
	}
	return b.String()
}

// errorPageHTML is the page of an error an app request ends in.
func errorPageHTML(org, title, message string) string {
	e := html.EscapeString
	return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>` + e(title) + ` - ` + e(org) + `</title></head>
<body>
<h1>` + e(title) + `</h1>
<p>` + e(message) + `</p>
<p><small>` + e(org) + ` (oktafed sandbox)</small></p>
</body>
</html>
`
}
