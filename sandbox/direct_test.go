package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/sandbox"
)

const (
	directClient = "0oa1demodirect000001"
	deviceClient = "0oa1demodevice000001"
)

// oauthPost posts a form to the org authorization server.
func oauthPost(t *testing.T, base, endpoint string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth2/v1/"+endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return resp.StatusCode, body
}

func TestDirectAuthenticationGrants(t *testing.T) {
	t.Parallel()
	// The phone answers a push after 2 s of the sandbox's clock, which the
	// test moves forward rather than waiting.
	clk := clock.NewFake(time.Now())
	srv := sandbox.StartWithOptions(t, sandbox.DefaultConfig(), sandbox.Options{Clock: clk})
	b := srv.URL
	pw := url.Values{"client_id": {directClient}, "grant_type": {"password"}, "scope": {"openid profile okta.apps.sso"}, "username": {"demo@example.com"}, "password": {"Sandbox-Demo-1"}}

	// A client without the direct grants cannot even try.
	devicePW := url.Values{}
	for k, v := range pw {
		devicePW[k] = v
	}
	devicePW.Set("client_id", deviceClient)
	if code, body := oauthPost(t, b, "token", devicePW); code != 400 || body["error"] != "unauthorized_client" {
		t.Fatalf("device client password grant: %d %v", code, body)
	}

	code, body := oauthPost(t, b, "token", pw)
	mfaToken, _ := body["mfa_token"].(string)
	if code != 403 || body["error"] != "mfa_required" || mfaToken == "" || body["access_token"] != nil {
		t.Fatalf("password grant: %d %v", code, body)
	}
	// Hostile: a made-up mfa_token, and the real one from another client.
	if code, body := oauthPost(t, b, "token", url.Values{"client_id": {directClient}, "grant_type": {"http://auth0.com/oauth/grant-type/mfa-otp"}, "mfa_token": {"forged"}, "otp": {"123456"}}); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("forged mfa_token: %d %v", code, body)
	}
	if code, body := oauthPost(t, b, "challenge", url.Values{"client_id": {deviceClient}, "mfa_token": {mfaToken}, "challenge_types_supported": {"http://auth0.com/oauth/grant-type/mfa-oob"}, "channel_hint": {"push"}}); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("mfa_token of another client: %d %v", code, body)
	}

	// Push: pending until the phone answers (2 s), with a number challenge.
	code, ch := oauthPost(t, b, "challenge", url.Values{"client_id": {directClient}, "mfa_token": {mfaToken}, "challenge_types_supported": {"http://auth0.com/oauth/grant-type/mfa-oob"}, "channel_hint": {"push"}})
	oob, _ := ch["oob_code"].(string)
	if code != 200 || oob == "" || ch["challenge_type"] != "http://auth0.com/oauth/grant-type/mfa-oob" || ch["binding_method"] != "transfer" || ch["interval"] != float64(5) || ch["channel"] != "push" {
		t.Fatalf("challenge: %d %v", code, ch)
	}
	poll := url.Values{"client_id": {directClient}, "grant_type": {"http://auth0.com/oauth/grant-type/mfa-oob"}, "mfa_token": {mfaToken}, "oob_code": {oob}}
	if code, body := oauthPost(t, b, "token", poll); code != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("first poll: %d %v", code, body)
	}
	// The oob_code of this sign-in is useless as a one-factor sign-in.
	if code, body := oauthPost(t, b, "token", url.Values{"client_id": {directClient}, "grant_type": {"urn:okta:params:oauth:grant-type:oob"}, "oob_code": {oob}}); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("oob_code as primary: %d %v", code, body)
	}
	clk.Advance(2100 * time.Millisecond)
	code, tok := oauthPost(t, b, "token", poll)
	if code != 200 || tok["access_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("poll after approval: %d %v", code, tok)
	}
	// Both codes are spent.
	if code, body := oauthPost(t, b, "token", poll); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("second redemption: %d %v", code, body)
	}

	// OTP after the password, and the one-factor OTP grant.
	_, body = oauthPost(t, b, "token", pw)
	otpCode, _ := totp.GenerateCode("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", clk.Now())
	if code, body := oauthPost(t, b, "token", url.Values{"client_id": {directClient}, "grant_type": {"http://auth0.com/oauth/grant-type/mfa-otp"}, "mfa_token": {body["mfa_token"].(string)}, "otp": {otpCode}}); code != 200 || body["access_token"] == nil {
		t.Fatalf("mfa-otp: %d %v", code, body)
	}
	if code, body := oauthPost(t, b, "token", url.Values{"client_id": {directClient}, "grant_type": {"urn:okta:params:oauth:grant-type:otp"}, "scope": {"openid"}, "login_hint": {"demo@example.com"}, "otp": {otpCode}}); code != 400 || !strings.Contains(body["error_description"].(string), "once") {
		t.Fatalf("replayed code on the otp grant: %d %v", code, body)
	}

	// Push as the only factor.
	code, ch = oauthPost(t, b, "primary-authenticate", url.Values{"client_id": {directClient}, "login_hint": {"demo@example.com"}, "channel_hint": {"push"}, "challenge_hint": {"urn:okta:params:oauth:grant-type:oob"}})
	if code != 200 || ch["oob_code"] == nil || ch["challenge_type"] != nil {
		t.Fatalf("primary-authenticate: %d %v", code, ch)
	}
	clk.Advance(2100 * time.Millisecond)
	if code, body := oauthPost(t, b, "token", url.Values{"client_id": {directClient}, "grant_type": {"urn:okta:params:oauth:grant-type:oob"}, "scope": {"openid"}, "oob_code": {ch["oob_code"].(string)}}); code != 200 || body["access_token"] == nil {
		t.Fatalf("oob grant: %d %v", code, body)
	}
}

// Okta's answers for an expired mfa_token or oob_code are access_denied
// (a rejected push is too, told apart by the description), and /challenge
// answers its rate limit in an OAuth body.
func TestDirectAuthenticationExpiryAnswers(t *testing.T) {
	clk := clock.NewFake(time.Now())
	srv := sandbox.StartWithOptions(t, sandbox.DefaultConfig(), sandbox.Options{Clock: clk})
	b := srv.URL
	pw := url.Values{"client_id": {directClient}, "grant_type": {"password"}, "scope": {"openid profile okta.apps.sso"}, "username": {"demo@example.com"}, "password": {"Sandbox-Demo-1"}}
	_, body := oauthPost(t, b, "token", pw)
	mfaToken, _ := body["mfa_token"].(string)
	challenge := url.Values{"client_id": {directClient}, "mfa_token": {mfaToken}, "challenge_types_supported": {"http://auth0.com/oauth/grant-type/mfa-oob"}, "channel_hint": {"push"}}
	code, ch := oauthPost(t, b, "challenge", challenge)
	oob, _ := ch["oob_code"].(string)
	if _, isNumber := ch["binding_code"].(float64); code != 200 || oob == "" || !isNumber {
		t.Fatalf("challenge: %d %v (binding_code must be a JSON number)", code, ch)
	}
	clk.Advance(6 * time.Minute) // past both lifetimes (5 min)
	poll := url.Values{"client_id": {directClient}, "grant_type": {"http://auth0.com/oauth/grant-type/mfa-oob"}, "mfa_token": {mfaToken}, "oob_code": {oob}}
	for name, try := range map[string]func() (int, map[string]any){
		"poll":      func() (int, map[string]any) { return oauthPost(t, b, "token", poll) },
		"challenge": func() (int, map[string]any) { return oauthPost(t, b, "challenge", challenge) },
	} {
		code, body := try()
		desc, _ := body["error_description"].(string)
		if code != 400 || body["error"] != "access_denied" || !strings.Contains(desc, "expired") {
			t.Errorf("%s with an expired mfa_token: %d %v", name, code, body)
		}
	}
}
