package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// runWith runs the CLI in-process with its own environment and standard
// input, leaving the process environment alone.
func runWith(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ios, in, out, errOut := Test()
	in.WriteString(stdin)
	ios.Getenv = func(k string) string { return env[k] }
	code := Main(context.Background(), ios, args)
	return code, out.String(), errOut.String()
}

// fakeJWT builds a token whose signature is junk: decode must not care.
func fakeJWT(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + enc([]byte("not-a-signature"))
}

func TestTokenDecode(t *testing.T) {
	exp := time.Now().Add(59*time.Minute + 30*time.Second).Unix()
	tok := fakeJWT(`{"alg":"RS256","kid":"k1"}`, `{"sub":"alice","exp":`+itoa(exp)+`,"iat":1700000000,"scp":["a","b"]}`)

	code, out, errOut := runWith(t, nil, tok+"\n", "token", "decode", "-")
	if code != 0 {
		t.Fatalf("decode: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "UNVERIFIED") || !strings.Contains(out, "Claims (unverified)") || !strings.Contains(out, `"sub": "alice"`) {
		t.Errorf("decode text output lacks the unverified labels or claims:\n%s\n%s", out, errOut)
	}
	if !strings.Contains(out, "(in 59m") || strings.Contains(out, tok) {
		t.Errorf("decode text output: want relative expiry and no token:\n%s", out)
	}

	// JSON keeps numbers exact and says verified=false.
	code, out, _ = runWith(t, nil, "", "token", "decode", "--output", "json", "Bearer "+tok)
	var doc struct {
		Verified bool           `json:"verified"`
		Header   map[string]any `json:"header"`
		Claims   map[string]any `json:"claims"`
		Expired  bool           `json:"expired"`
		In       string         `json:"expiresIn"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("decode json: exit %d, %q", code, out)
	}
	if doc.Verified || doc.Expired || doc.Header["kid"] != "k1" || doc.Claims["exp"] != float64(exp) || !strings.HasPrefix(doc.In, "in ") {
		t.Errorf("decode json = %+v", doc)
	}

	old := fakeJWT(`{"alg":"ES256"}`, `{"sub":"bob","exp":1700000000}`)
	if code, out, _ := runWith(t, nil, "", "token", "decode", old); code != 0 || !strings.Contains(out, "expired ") {
		t.Errorf("expired token: exit %d\n%s", code, out)
	}

	for _, bad := range []string{"", "not-a-token", "a.b.c.d.e", fakeJWT(`{"alg":"RS256","alg":"none"}`, `{}`)} {
		code, _, errOut := runWith(t, nil, bad, "token", "decode", "-")
		if code == 0 || errOut == "" {
			t.Errorf("decode %q: exit %d, stderr %q", bad, code, errOut)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// sandboxToken gets an access token from the sandbox's "default" server.
// With user set it uses the password grant of the public CLI client, else
// client credentials as the service client.
func sandboxToken(t *testing.T, srv *sandbox.Server, user bool, scope string) string {
	t.Helper()
	form := url.Values{"scope": {scope}}
	if user {
		form.Set("grant_type", "password")
		form.Set("client_id", "0oa1democli000000001")
		form.Set("username", "demo@example.com")
		form.Set("password", "Sandbox-Demo-1")
	} else {
		form.Set("grant_type", "client_credentials")
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth2/default/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !user {
		req.SetBasicAuth("0oa1demoservice00001", "demo-service-secret-not-secret")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("sandbox token: HTTP %d: %s", resp.StatusCode, body)
	}
	return tr.AccessToken
}

type verifyDoc struct {
	Valid     bool `json:"valid"`
	Principal *struct {
		Subject  string         `json:"subject"`
		ClientID string         `json:"clientId"`
		Issuer   string         `json:"issuer"`
		Scopes   []string       `json:"scopes"`
		Groups   []string       `json:"groups"`
		Roles    []string       `json:"roles"`
		Claims   map[string]any `json:"claims"`
	} `json:"principal"`
	Status int    `json:"status"`
	Error  string `json:"error"`
	WWW    string `json:"wwwAuthenticate"`
}

func verifyJSON(t *testing.T, env map[string]string, stdin string, args ...string) (int, verifyDoc) {
	t.Helper()
	code, out, errOut := runWith(t, env, stdin, append([]string{"token", "verify", "--output", "json"}, args...)...)
	var doc verifyDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("token verify %v: exit %d, output %q, stderr %q", args, code, out, errOut)
	}
	return code, doc
}

func TestTokenVerifySandbox(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	svc := sandboxToken(t, srv, false, "orders.read orders.write")
	usr := sandboxToken(t, srv, true, "openid orders.read")
	okta := []string{"--okta-domain", srv.URL, "--audience", "api://default"}

	// Client credentials, from standard input, Okta provider.
	code, doc := verifyJSON(t, nil, svc+"\n", append(okta, "-")...)
	if code != 0 || !doc.Valid || doc.Principal.ClientID != "0oa1demoservice00001" || doc.Principal.Issuer != srv.URL+"/oauth2/default" ||
		strings.Join(doc.Principal.Scopes, " ") != "orders.read orders.write" {
		t.Fatalf("service token: exit %d, %+v", code, doc.Principal)
	}

	// A user's token carries groups; the environment maps them to roles.
	env := map[string]string{"OKTA_BASE_URL": srv.URL, "OKTA_AUDIENCE": "api://default", "ADMIN_GROUPS": "aws-admins"}
	code, doc = verifyJSON(t, env, usr)
	if code != 0 || doc.Principal.Subject != "demo@example.com" || !slices.Contains(doc.Principal.Groups, "developers") || doc.Principal.Roles[0] != "admin" {
		t.Fatalf("user token from env config: exit %d, %+v", code, doc.Principal)
	}
	// OKTA_CLIENT_IDS is the accepted clients; --client-id wins over it.
	envCID := maps.Clone(env)
	envCID["OKTA_CLIENT_IDS"] = "0oaother"
	if code, doc = verifyJSON(t, envCID, svc, "-"); code != 1 || doc.Error != "invalid_token" {
		t.Errorf("a client outside OKTA_CLIENT_IDS: exit %d, %+v", code, doc)
	}
	if code, doc = verifyJSON(t, envCID, svc, "--client-id", "0oa1demoservice00001", "-"); code != 0 {
		t.Errorf("--client-id over OKTA_CLIENT_IDS: exit %d, %+v", code, doc)
	}
	envCID["OKTA_CLIENT_IDS"] = "0oa1demoservice00001"
	if code, doc = verifyJSON(t, envCID, svc, "--client-id", "0oaother", "-"); code != 1 || doc.Error != "invalid_token" {
		t.Errorf("--client-id refusing a client OKTA_CLIENT_IDS accepts: exit %d, %+v", code, doc)
	}
	code, out, _ := runWith(t, env, usr, "token", "verify")
	if code != 0 || !strings.Contains(out, "valid token") || !strings.Contains(out, "aws-admins developers") || strings.Contains(out, usr) {
		t.Fatalf("text output: exit %d\n%s", code, out)
	}

	// Refusals exit 1 with the RFC 6750 answer.
	expired, err := srv.MintAccessToken("default", map[string]any{"sub": "x", "cid": "c"}, -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		tok    string
		args   []string
		status int
		code   string
	}{
		"wrong audience": {svc, []string{"--okta-domain", srv.URL, "--audience", "api://other"}, 401, "invalid_token"},
		"expired":        {expired, okta, 401, "invalid_token"},
		"tampered":       {svc[:len(svc)-4] + "AAAA", okta, 401, "invalid_token"},
		"missing scope":  {svc, append(okta, "--scope", "orders.admin"), 403, "insufficient_scope"},
		"wrong client":   {svc, append(okta, "--client-id", "0oaother"), 401, "invalid_token"},
		"other server":   {svc, []string{"--okta-domain", srv.URL, "--auth-server-id", "nope", "--audience", "api://default"}, 401, "invalid_token"},
	} {
		code, doc := verifyJSON(t, nil, tc.tok, append(tc.args, "-")...)
		if code != 1 || doc.Valid || doc.Status != tc.status || doc.Error != tc.code || !strings.HasPrefix(doc.WWW, "Bearer error=\""+tc.code+"\"") {
			t.Errorf("%s: exit %d, %+v", name, code, doc)
		}
	}
	code, out, _ = runWith(t, nil, expired, append([]string{"token", "verify"}, append(okta, "-")...)...)
	if code != 1 || !strings.Contains(out, "token is expired") || !strings.Contains(out, `WWW-Authenticate: Bearer error="invalid_token"`) {
		t.Errorf("expired, text: exit %d\n%s", code, out)
	}

	code, _, errOut := runWith(t, nil, svc, "token", "verify", "--okta-domain", srv.URL, "--audience", "api://other", "-")
	if code != 1 || !strings.Contains(errOut, `audience is "api://default"`) {
		t.Errorf("audience hint: exit %d, %s", code, errOut)
	}
	code, _, errOut = runWith(t, nil, svc, "token", "verify", "--okta-domain", srv.URL, "--auth-server-id", "nope", "--audience", "api://default", "-")
	if code != 1 || !strings.Contains(errOut, `names the issuer "`+srv.URL+`/oauth2/default"`) {
		t.Errorf("issuer hint: exit %d, %s", code, errOut)
	}

	// Unreachable keys: exit 2, "could not decide".
	elsewhere, err := srv.MintAccessToken("default", map[string]any{"sub": "x", "iss": "http://127.0.0.1:1/oauth2/default"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if code, doc := verifyJSON(t, nil, elsewhere, "--okta-domain", "http://127.0.0.1:1", "--audience", "api://default", "-"); code != 2 || doc.Status != 503 {
		t.Errorf("unreachable issuer: exit %d, %+v", code, doc)
	}

	// jwk2pem turns the server's JWKS into PEM that --pem verifies with,
	// plain (the default) or with kid and alg headers.
	dir := t.TempDir()
	for _, extra := range [][]string{nil, {"--headers"}} {
		code, pemOut, errOut := runWith(t, nil, "", append(append([]string{"jwk2pem"}, extra...), srv.URL+"/oauth2/default/v1/keys")...)
		if code != 0 || !strings.Contains(pemOut, "BEGIN PUBLIC KEY") || strings.Contains(pemOut, "kid:") != (extra != nil) {
			t.Fatalf("jwk2pem %v: exit %d: %s%s", extra, code, pemOut, errOut)
		}
		pemFile := filepath.Join(dir, "keys.pem")
		os.WriteFile(pemFile, []byte(pemOut), 0o600)
		if code, doc := verifyJSON(t, nil, svc, "--issuer", srv.URL+"/oauth2/default", "--pem", pemFile, "--audience", "api://default", "-"); code != 0 || !doc.Valid {
			t.Errorf("--pem from jwk2pem %v: exit %d, %+v", extra, code, doc)
		}
	}
	// Generic OIDC with discovery, and with --jwks-url.
	if code, doc := verifyJSON(t, nil, svc, "--issuer", srv.URL+"/oauth2/default", "--audience", "api://default", "-"); code != 0 || !doc.Valid {
		t.Errorf("--issuer with discovery: exit %d, %+v", code, doc)
	}
	if code, doc := verifyJSON(t, nil, svc, "--issuer", srv.URL+"/oauth2/default", "--jwks-url", srv.URL+"/oauth2/default/v1/keys", "--audience", "api://default", "-"); code != 0 || !doc.Valid {
		t.Errorf("--jwks-url: exit %d, %+v", code, doc)
	}

	// A verify.Config YAML file, here with introspection for the same
	// server: revocation shows up at once.
	cfgFile := filepath.Join(dir, "verify.yaml")
	os.WriteFile(cfgFile, []byte(`providers:
  - type: introspection
    issuer: `+srv.URL+`/oauth2/default
    introspect_url: `+srv.URL+`/oauth2/default/v1/introspect
    client_id: 0oa1demoservice00001
    client_secret: demo-service-secret-not-secret
policy:
  audiences: [api://default]
  required_scopes: [orders.read]
  leeway: 10s
`), 0o600)
	if code, out, errOut := runWith(t, nil, svc, "token", "verify", "--config", cfgFile, "-"); code != 0 || !strings.Contains(out, "introspection") {
		t.Fatalf("--config introspection: exit %d\n%s%s", code, out, errOut)
	}
	if ok, err := srv.RevokeToken("default", svc); err != nil || !ok {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if code, doc := verifyJSON(t, nil, svc, "--config", cfgFile, "-"); code != 1 || doc.Error != "invalid_token" {
		t.Errorf("revoked token through introspection: exit %d, %+v", code, doc)
	}
	// A wrong client secret: undecided (exit 2), and the message names
	// the credentials, not the keys.
	os.WriteFile(cfgFile, []byte(`providers:
  - type: introspection
    issuer: `+srv.URL+`/oauth2/default
    introspect_url: `+srv.URL+`/oauth2/default/v1/introspect
    client_id: 0oa1demoservice00001
    client_secret: wrong
policy:
  audiences: [api://default]
`), 0o600)
	if code, out, errOut := runWith(t, nil, svc, "token", "verify", "--config", cfgFile, "-"); code != 2 || !strings.Contains(out+errOut, "client credentials") {
		t.Errorf("refused introspection credentials: exit %d\n%s%s", code, out, errOut)
	}
	os.WriteFile(cfgFile, []byte("providers: []\npolicy:\n  audiencez: [x]\n"), 0o600)
	if code, _, errOut := runWith(t, nil, svc, "token", "verify", "--config", cfgFile, "-"); code == 0 || !strings.Contains(errOut, "audiencez") {
		t.Errorf("unknown config key: exit %d: %s", code, errOut)
	}
}

func TestTokenVerifyUsageErrors(t *testing.T) {
	tok := fakeJWT(`{"alg":"RS256"}`, `{"sub":"a"}`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--okta-domain"},
		{[]string{"--okta-domain", "example.okta.com"}, "--audience"},
		{[]string{"--jwks-url", "https://idp.example.com/keys", "--audience", "a"}, "--issuer"},
		{[]string{"--okta-domain", "example.okta.com", "--issuer", "https://x", "--audience", "a"}, "drop --issuer"},
		{[]string{"--auth-server-id", "x", "--audience", "a"}, "--okta-domain"},
		{[]string{"--issuer", "http://idp.example.com", "--audience", "a"}, "loopback"},
		{[]string{"--okta-domain", "example.okta.com", "--audience", "a", "--output", "yaml"}, "text or json"},
	} {
		code, _, errOut := runWith(t, nil, tok, append([]string{"token", "verify"}, append(tc.args, "-")...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("token verify %v: exit %d, stderr %q; want it to mention %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestTokenVerifyOIDCProvider(t *testing.T) {
	op := testenv.OIDCProvider(t, nil)
	ctx := context.Background()
	rs, err := op.ClientCredentialsToken(ctx, "read", "")
	if err != nil {
		t.Fatal(err)
	}
	es, err := op.ClientCredentialsToken(ctx, "read write", testenv.ES256OIDCAudience)
	if err != nil {
		t.Fatal(err)
	}
	aud := "--audience=" + testenv.DefaultOIDCAudience + "," + testenv.ES256OIDCAudience
	for name, tok := range map[string]string{"RS256": rs, "ES256": es} {
		code, doc := verifyJSON(t, nil, tok, "--issuer", op.Issuer(), aud, "-")
		if code != 0 || !doc.Valid || doc.Principal.ClientID != op.ClientID || !slices.Contains(doc.Principal.Scopes, "read") {
			t.Errorf("%s: exit %d, %+v", name, code, doc)
		}
	}
	if code, doc := verifyJSON(t, nil, rs, "--issuer", op.Issuer(), "--audience", testenv.ES256OIDCAudience, "-"); code != 1 || doc.Error != "invalid_token" {
		t.Errorf("wrong audience: exit %d, %+v", code, doc)
	}
	// jwk2pem from the provider's JWKS, then one key by kid.
	kid := op.SigningKeyIDs[0]
	code, out, errOut := runWith(t, nil, "", "jwk2pem", "--output", "json", "--kid", kid, op.JWKSURL())
	var keys []pemKeyJSON
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 1 || keys[0].KeyID != kid {
		t.Fatalf("jwk2pem --kid: exit %d, %q %s", code, out, errOut)
	}
}

func TestJWK2PEM(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	resp, err := http.Get(srv.URL + "/oauth2/default/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	file := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(file, jwks, 0o600)
	kid, err := srv.SigningKeyID("default")
	if err != nil {
		t.Fatal(err)
	}

	away := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/oauth2/default/v1/keys", http.StatusFound)
	}))
	defer away.Close()

	// Plain PEM by default: every block is read by OpenSSL and Node.js.
	code, plainOut, errOut := runWith(t, nil, "", "jwk2pem", file)
	if code != 0 || !strings.Contains(plainOut, "BEGIN PUBLIC KEY") || strings.Contains(plainOut, "kid:") || strings.Contains(plainOut, "Proc-Type") {
		t.Fatalf("jwk2pem file: exit %d\n%s%s", code, plainOut, errOut)
	}
	blocks := pemBlocks(plainOut)
	if len(blocks) == 0 {
		t.Fatalf("no PEM blocks in\n%s", plainOut)
	}
	openssl := testenv.OpenSSL(t)
	for i, b := range blocks {
		cmd := exec.Command(openssl, "pkey", "-pubin", "-noout")
		cmd.Stdin = strings.NewReader(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("openssl pkey -pubin refuses block %d: %v\n%s", i, err, out)
		}
	}
	node := testenv.Node(t)
	cmd := exec.Command(node, "-e", `
const crypto = require("crypto");
const text = require("fs").readFileSync(0, "utf8");
const blocks = text.match(/-----BEGIN PUBLIC KEY-----[^-]*-----END PUBLIC KEY-----/g) || [];
for (const b of blocks) console.log(crypto.createPublicKey(b).asymmetricKeyType);
`)
	cmd.Stdin = strings.NewReader(plainOut)
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.Fields(string(out))) != len(blocks) {
		t.Errorf("node crypto.createPublicKey: %v\n%s", err, out)
	}

	// --headers adds kid and alg; the key material is the same.
	code, out, _ := runWith(t, nil, "", "jwk2pem", "--headers", file)
	if code != 0 || !strings.Contains(out, "kid: "+kid) || !strings.Contains(out, "alg: ") {
		t.Errorf("jwk2pem --headers: exit %d\n%s", code, out)
	}
	for i, b := range pemBlocks(out) {
		blk, _ := pem.Decode([]byte(b))
		plainBlk, _ := pem.Decode([]byte(blocks[i]))
		if blk == nil || plainBlk == nil || !bytes.Equal(blk.Bytes, plainBlk.Bytes) {
			t.Errorf("block %d differs between --headers and plain output", i)
		}
	}
	// --plain still works (deprecated: it is the default).
	code, out, errOut = runWith(t, nil, string(jwks), "jwk2pem", "--plain", "--kid", kid, "-")
	if code != 0 || strings.Count(out, "BEGIN PUBLIC KEY") != 1 || strings.Contains(out, "kid:") || !strings.Contains(errOut, "default") {
		t.Errorf("jwk2pem --plain --kid from stdin: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runWith(t, nil, string(jwks), "jwk2pem", "--plain", "--headers", "-"); code == 0 || !strings.Contains(errOut, "--headers") {
		t.Errorf("--plain --headers: exit %d, %s", code, errOut)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{string(jwks), []string{"--kid", "nope", "-"}, kid},
		{`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, []string{"-"}, "cannot convert"},
		{"", []string{"http://example.com/keys"}, "https"},
		{"", []string{filepath.Join(t.TempDir(), "missing.json")}, "no such file"},
		{"", []string{srv.URL + "/nothing-here"}, "HTTP 404"},
		// A redirect that leaves the host is not followed.
		{"", []string{away.URL + "/keys"}, "redirect"},
	} {
		code, _, errOut := runWith(t, nil, tc.stdin, append([]string{"jwk2pem"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("jwk2pem %v: exit %d, stderr %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// pemBlocks splits PEM text into its blocks, each as text.
func pemBlocks(s string) []string {
	var out []string
	for rest := []byte(s); ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return out
		}
		out = append(out, string(pem.EncodeToMemory(blk)))
	}
}
