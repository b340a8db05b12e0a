package saml

import (
	"strings"
	"testing"
)

func FuzzParseForm(f *testing.F) {
	resp := encode(buildResponse(responseOpts{roles: []string{devRole + "," + devIdP}}))
	f.Add([]byte(page(resp, "relay")))
	f.Add([]byte(`<FORM ACTION=x><INPUT NAME=SAMLResponse VALUE='QUFB'></FORM>`))
	f.Add([]byte(`<div class="error-content">nope</div>`))
	f.Add([]byte(`<input type=password>`))
	// As Okta writes the page: action and value as character references.
	f.Add([]byte(`<div class="app-interstitial">Signing in</div><form id="appForm" action="https&#x3a;&#x2f;&#x2f;signin.aws.amazon.com&#x2f;saml" method="POST"><input name="SAMLResponse" type="hidden" value="PHg&#x2b;&#x2f;&#x3d;"/></form><script>document.forms[0].submit()</script>`))
	f.Fuzz(func(t *testing.T, page []byte) {
		form, err := ParseForm(page)
		if err != nil {
			return
		}
		if form.SAMLResponse == "" || strings.ContainsAny(form.SAMLResponse, " \t\r\n") {
			t.Fatalf("accepted form with SAMLResponse %q", form.SAMLResponse)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(buildResponse(responseOpts{roles: []string{devRole + "," + devIdP, adminIdP + "," + adminRole}})))
	f.Add([]byte(buildResponse(responseOpts{noNamespace: true, roles: []string{devRole + "," + devIdP}})))
	f.Add([]byte(buildResponse(responseOpts{status: "urn:x:Requester"})))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`))
	f.Add([]byte(buildResponse(responseOpts{roles: []string{devIdP + "," + devRole}}) + "\n<!-- c -->\n"))
	f.Add([]byte(buildResponse(responseOpts{roles: []string{devIdP + "," + devRole}}) + "\n<x/>"))
	f.Fuzz(func(t *testing.T, xml []byte) {
		a, err := Parse(xml)
		if err != nil {
			return
		}
		if len(a.Roles) == 0 {
			t.Fatal("success without roles")
		}
		for _, r := range a.Roles {
			again, err := ParseRole(r.RoleARN + "," + r.PrincipalARN)
			if err != nil || again != r {
				t.Fatalf("role %+v does not read back: %+v, %v", r, again, err)
			}
		}
	})
}
