package sso_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/sso"
)

const (
	demoLogin    = "demo@example.com"
	demoPassword = "Sandbox-Demo-1"
	demoTOTP     = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

type env struct {
	srv     *sandbox.Server
	home    string
	cfgPath string
	cache   string
	client  *sso.Client
	session *sso.Session
}

func setup(t *testing.T) *env {
	t.Helper()
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	home := t.TempDir()
	e := &env{srv: srv, home: home, cfgPath: filepath.Join(home, ".aws", "config"), cache: filepath.Join(home, ".aws", "sso", "cache")}
	e.client = sso.New("us-east-1", sso.Endpoints{OIDC: srv.URL, Portal: srv.URL}, nil)
	e.client.CacheDir = e.cache
	e.session = &sso.Session{Name: "demo", StartURL: srv.SSOStartURL(), Region: "us-east-1", Scopes: sso.DefaultScopes}
	if err := sso.WriteSession(e.cfgPath, e.session); err != nil {
		t.Fatal(err)
	}
	return e
}

// approveWith confirms each code on the org's activation page, as a
// person in a browser would, while Login polls.
func approveWith(t *testing.T, srv *sandbox.Server, approve bool) func(sso.DeviceCode) error {
	return func(dc sso.DeviceCode) error {
		if !strings.HasPrefix(dc.VerificationURIComplete, srv.URL+"/activate?user_code=") || dc.UserCode == "" {
			t.Errorf("device code %+v does not point at the sandbox's activation page", dc)
		}
		go func() {
			if err := srv.ActivateDevice(context.Background(), demoLogin, demoPassword, demoTOTP, dc.UserCode, approve); err != nil {
				t.Errorf("activate: %v", err)
			}
		}()
		return nil
	}
}

func callerARN(t *testing.T, srvURL string, creds aws.CredentialsProvider) string {
	t.Helper()
	c := sts.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: creds}, func(o *sts.Options) { o.BaseEndpoint = aws.String(srvURL) })
	out, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return aws.ToString(out.Arn)
}

func TestDeviceLoginCacheAndPortal(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tok, err := e.client.Login(ctx, e.session, approveWith(t, e.srv, true))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken.IsZero() || tok.ClientSecret.IsZero() {
		t.Errorf("a session with registration scopes should get a refresh token and keep its client: %v", tok)
	}

	// The cache file is where the AWS CLI looks, with the CLI's fields.
	path := filepath.Join(e.cache, sso.CacheKey("demo"))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"startUrl", "region", "accessToken", "expiresAt", "clientId", "clientSecret", "registrationExpiresAt", "refreshToken"} {
		if _, ok := doc[k].(string); !ok {
			t.Errorf("cache file lacks %s", k)
		}
	}
	if exp, _ := doc["expiresAt"].(string); !strings.HasSuffix(exp, "Z") || strings.Contains(exp, ".") {
		t.Errorf("expiresAt %q is not the CLI's UTC form", exp)
	}
	if strings.Contains(tok.String(), tok.AccessToken.Reveal()) || strings.Contains(tok.String(), tok.ClientSecret.Reveal()) {
		t.Error("Token.String leaks a secret")
	}

	accounts, err := e.client.Accounts(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 2 || accounts[0].ID != "123456789012" || accounts[0].Name != "demo-prod" {
		t.Fatalf("accounts = %+v", accounts)
	}
	roles, err := e.client.Roles(ctx, tok, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(roles, ",") != "AdministratorAccess,ReadOnlyAccess" {
		t.Fatalf("roles = %v", roles)
	}
	creds, err := e.client.RoleCredentials(ctx, tok, "123456789012", "AdministratorAccess")
	if err != nil {
		t.Fatal(err)
	}
	arn := callerARN(t, e.srv.URL, credentials(creds))
	if !strings.Contains(arn, ":assumed-role/AWSReservedSSO_AdministratorAccess_") || !strings.HasSuffix(arn, "/"+demoLogin) {
		t.Errorf("caller %s", arn)
	}
	if _, err := e.client.RoleCredentials(ctx, tok, "210987654321", "AdministratorAccess"); err == nil {
		t.Error("credentials for an unassigned permission set")
	}

	// A second login reuses the cached client registration.
	tok2, err := e.client.Login(ctx, e.session, approveWith(t, e.srv, true))
	if err != nil {
		t.Fatal(err)
	}
	if tok2.ClientID != tok.ClientID || tok2.AccessToken.Reveal() == tok.AccessToken.Reveal() {
		t.Error("the second login should keep the client and get a new token")
	}

	if err := e.client.Logout(ctx, e.session); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("logout left the cache file")
	}
	if _, err := e.client.Accounts(ctx, tok2); !errors.Is(err, sso.ErrLoginRequired) {
		t.Errorf("after logout: %v, want ErrLoginRequired", err)
	}
}

func credentials(c aws.Credentials) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
}

func TestDeniedDeviceLogin(t *testing.T) {
	e := setup(t)
	_, err := e.client.Login(context.Background(), e.session, approveWith(t, e.srv, false))
	if !errors.Is(err, sso.ErrLoginRequired) || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("err = %v", err)
	}
}

// TestSDKUsesProfileOktafedWrote loads an sso profile with the SDK's own
// config loader: it finds the token oktafed cached, calls the portal and
// signs STS calls with the role credentials.
func TestSDKUsesProfileOktafedWrote(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, err := e.client.Login(ctx, e.session, approveWith(t, e.srv, true)); err != nil {
		t.Fatal(err)
	}
	if err := sso.WriteProfile(e.cfgPath, sso.ProfileSpec{Name: "dev-admin", Session: "demo", AccountID: "123456789012", RoleName: "AdministratorAccess", Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	cfgText, _ := os.ReadFile(e.cfgPath)
	if !strings.Contains(string(cfgText), "[sso-session demo]") || !strings.Contains(string(cfgText), "sso_session = demo") {
		t.Fatalf("config:\n%s", cfgText)
	}
	t.Setenv("HOME", e.home)
	t.Setenv("AWS_ENDPOINT_URL_SSO", e.srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_SSO_OIDC", e.srv.URL)
	t.Setenv("AWS_ENDPOINT_URL", "")
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithSharedConfigFiles([]string{e.cfgPath}), awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(e.home, "none")}), awsconfig.WithSharedConfigProfile("dev-admin"))
	if err != nil {
		t.Fatal(err)
	}
	arn := callerARN(t, e.srv.URL, cfg.Credentials)
	if !strings.Contains(arn, "AWSReservedSSO_AdministratorAccess_") {
		t.Errorf("SDK caller %s", arn)
	}
}

func TestExpiredCachedTokenIsNotUsed(t *testing.T) {
	dir := t.TempDir()
	s := &sso.Session{Name: "x", StartURL: "https://example.awsapps.com/start", Region: "us-east-1"}
	if err := sso.WriteToken(dir, s.CacheKey(), &sso.Token{StartURL: s.StartURL, Region: "us-east-1", AccessToken: secret.New("t"), ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	c := &sso.Client{CacheDir: dir}
	if _, ok := c.Cached(s, 5*time.Minute); ok {
		t.Error("a token expiring within the window counts as cached")
	}
	if _, ok := c.Cached(s, 0); !ok {
		t.Error("a live token is not found")
	}
}
