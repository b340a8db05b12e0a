package conformance_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/conformance"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// grantMFAOOB is the grant type (and challenge type) of an out-of-band
// factor in Okta Direct Authentication, as the reference spells it.
const grantMFAOOB = "http://auth0.com/oauth/grant-type/mfa-oob"

// directFacts are the values of the direct-authentication shapes that are
// facts of the reference, not examples.
var directFacts = map[string][]string{
	"okta/direct-mfa-required.json":          {"error"},
	"okta/direct-challenge-push.json":        {"challenge_type", "channel", "binding_method"},
	"okta/direct-authorization-pending.json": {"error"},
}

// checkDirect matches live against the shape and its facts.
func checkDirect(t *testing.T, name string, live []byte) {
	t.Helper()
	if p := conformance.MatchJSON(name, "", live); len(p) > 0 {
		t.Errorf("%s: %v\n%s", name, p, live)
	}
	var shape, got map[string]any
	_ = json.Unmarshal(conformance.Shape(name), &shape)
	_ = json.Unmarshal(live, &got)
	for _, k := range directFacts[name] {
		if got[k] != shape[k] {
			t.Errorf("%s: %s = %v, the reference says %v", name, k, got[k], shape[k])
		}
	}
}

// The client: fed the reference's answers, DirectSignIn shows the number
// to tap, waits the interval Okta asks for between polls and ends with
// the tokens.
func TestClientDirectPush(t *testing.T) {
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/oauth2/v1/token" && r.PostForm.Get("grant_type") == "password":
			w.WriteHeader(http.StatusForbidden)
			w.Write(conformance.Doc("okta/direct-mfa-required.json", ""))
		case r.URL.Path == "/oauth2/v1/challenge":
			if r.PostForm.Get("mfa_token") != "mfaTokenConformance01" || r.PostForm.Get("channel_hint") != "push" || r.PostForm.Get("challenge_types_supported") != grantMFAOOB {
				t.Errorf("challenge request %v", r.PostForm)
			}
			w.Write(conformance.Doc("okta/direct-challenge-push.json", ""))
		case r.URL.Path == "/oauth2/v1/token" && r.PostForm.Get("grant_type") == grantMFAOOB:
			if r.PostForm.Get("oob_code") != "ftConformanceOobCode01" || r.PostForm.Get("mfa_token") != "mfaTokenConformance01" {
				t.Errorf("poll %v", r.PostForm)
			}
			if polls++; polls < 3 {
				w.WriteHeader(http.StatusBadRequest)
				w.Write(conformance.Doc("okta/direct-authorization-pending.json", ""))
				return
			}
			w.Write([]byte(`{"token_type":"Bearer","expires_in":3600,"access_token":"at","scope":"openid profile okta.apps.sso","id_token":"it"}`))
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var slept []time.Duration
	c := &okta.Client{BaseURL: srv.URL, Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
	number := 0
	tok, err := c.DirectSignIn(context.Background(), "0oaconformance", "u@example.com", "pw", &okta.MFA{Preferred: "push", PushNumber: func(n int) { number = n }})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken.Reveal() != "at" || tok.IDToken.Reveal() != "it" || number != 95 || polls != 3 {
		t.Fatalf("tokens %v, number %d, polls %d", tok, number, polls)
	}
	for _, d := range slept {
		if d != 5*time.Second {
			t.Fatalf("slept %v between polls, the challenge asked for 5s", slept)
		}
	}
}

// The sandbox: its live direct-authentication answers have the
// reference's shapes.
func TestSandboxDirectConforms(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	post := func(endpoint string, form url.Values) (int, []byte) {
		resp, err := http.PostForm(srv.URL+"/oauth2/v1/"+endpoint, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, raw
	}
	const client = "0oa1demodirect000001"
	code, body := post("token", url.Values{"client_id": {client}, "grant_type": {"password"}, "scope": {"openid okta.apps.sso"}, "username": {"demo@example.com"}, "password": {"Sandbox-Demo-1"}})
	if code != http.StatusForbidden {
		t.Fatalf("password grant: HTTP %d", code)
	}
	checkDirect(t, "okta/direct-mfa-required.json", body)
	var mfa struct {
		Token string `json:"mfa_token"`
	}
	_ = json.Unmarshal(body, &mfa)
	code, body = post("challenge", url.Values{"client_id": {client}, "mfa_token": {mfa.Token}, "challenge_types_supported": {grantMFAOOB}, "channel_hint": {"push"}})
	if code != http.StatusOK {
		t.Fatalf("challenge: HTTP %d %s", code, body)
	}
	checkDirect(t, "okta/direct-challenge-push.json", body)
	var ch struct {
		OOB string `json:"oob_code"`
	}
	_ = json.Unmarshal(body, &ch)
	code, body = post("token", url.Values{"client_id": {client}, "grant_type": {grantMFAOOB}, "mfa_token": {mfa.Token}, "oob_code": {ch.OOB}})
	if code != http.StatusBadRequest {
		t.Fatalf("poll: HTTP %d", code)
	}
	checkDirect(t, "okta/direct-authorization-pending.json", body)
}
