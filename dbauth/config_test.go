package dbauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rdsauth "github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/secrets"
)

func TestSplitPostgresDSN(t *testing.T) {
	cases := []struct {
		in, want string
		check    func(t *testing.T, c Config)
	}{
		{
			in:   "postgres://alice@db.example:5432/app?sslmode=verify-full&plugins=okta&idp_endpoint=example.okta.com&app_id=0oa1&iam_role_arn=arn:aws:iam::1:role/r&iam_idp_arn=arn:aws:iam::1:saml-provider/okta&iam_token_expiration=600&application_name=x",
			want: "postgres://alice@db.example:5432/app?sslmode=verify-full&application_name=x",
			check: func(t *testing.T, c Config) {
				if c.Plugin != PluginOkta || c.IdPEndpoint != "example.okta.com" || c.AppID != "0oa1" || c.IAMTokenExpiration != 600*time.Second {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			in:   "postgres://h/db?plugins=iam",
			want: "postgres://h/db",
			check: func(t *testing.T, c Config) {
				if c.Plugin != PluginIAM {
					t.Errorf("plugin = %q", c.Plugin)
				}
			},
		},
		{
			in:   "host=db port=5432 user=alice iam_region = eu-west-1 password='it\\'s x' db_user=bob",
			want: "host=db port=5432 user=alice password='it\\'s x'",
			check: func(t *testing.T, c Config) {
				if c.IAMRegion != "eu-west-1" || c.DBUser != "bob" {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			in:   "host=db idp_password=s%20p ssl_secure=false iam_default_port=6543",
			want: "host=db",
			check: func(t *testing.T, c Config) {
				if c.IdPPassword.Reveal() != "s%20p" || !c.SSLInsecure || c.IAMDefaultPort != 6543 {
					t.Errorf("config = %+v", c)
				}
			},
		},
	}
	for _, tc := range cases {
		var c Config
		got, err := SplitPostgresDSN(tc.in, &c)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.in, got, tc.want)
		}
		tc.check(t, c)
	}
}

func TestSplitMySQLDSN(t *testing.T) {
	var c Config
	got, err := SplitMySQLDSN("alice:pa?ss/x@tcp(db:3306)/app?tls=true&plugins=iam&iam_region=us-west-2&parseTime=true&idp_password=a%26b", &c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "alice:pa?ss/x@tcp(db:3306)/app?tls=true&parseTime=true"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if c.Plugin != PluginIAM || c.IAMRegion != "us-west-2" || c.IdPPassword.Reveal() != "a&b" {
		t.Errorf("config = %+v", c)
	}
}

func TestParamErrorsSayWhatToDo(t *testing.T) {
	for _, dsn := range []string{
		"postgres://h/db?plugins=oktaa",
		"postgres://h/db?plugins=okta,iam",
		"postgres://h/db?iam_default_port=0",
		"postgres://h/db?iam_token_expiration=soon",
		"postgres://h/db?ssl_secure=maybe",
		"host='unterminated",
	} {
		var c Config
		if _, err := SplitPostgresDSN(dsn, &c); err == nil {
			t.Errorf("%q: no error", dsn)
		} else if !strings.Contains(err.Error(), "dbauth") {
			t.Errorf("%q: %v", dsn, err)
		}
	}
	if _, err := New(Config{Plugin: PluginOkta}); err == nil || !strings.Contains(err.Error(), "idp_endpoint") {
		t.Errorf("okta without parameters: %v", err)
	}
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "plugins=") {
		t.Errorf("no plugin: %v", err)
	}
	if _, err := New(Config{Plugin: PluginIAM, IAMTokenExpiration: time.Hour}); err == nil {
		t.Error("token expiration beyond 15 minutes accepted")
	}
}

func TestStructFieldsWinOverDSN(t *testing.T) {
	c := Config{IAMRegion: "eu-central-1"}
	if _, err := SplitPostgresDSN("postgres://h/db?iam_region=us-east-1", &c); err != nil {
		t.Fatal(err)
	}
	if c.IAMRegion != "eu-central-1" {
		t.Errorf("region = %q", c.IAMRegion)
	}
}

func TestRegionFromHost(t *testing.T) {
	for host, want := range map[string]string{
		"db.cluster-abc.eu-west-1.rds.amazonaws.com":  "eu-west-1",
		"db.abc.cn-north-1.rds.amazonaws.com.cn":      "cn-north-1",
		"proxy.proxy-abc.us-east-2.rds.amazonaws.com": "us-east-2",
		"127.0.0.1":      "",
		"db.example.com": "",
	} {
		if got := RegionFromHost(host); got != want {
			t.Errorf("%s: %q, want %q", host, got, want)
		}
	}
}

func TestOrgURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		port int
		want string
	}{
		{"example.okta.com", 0, "https://example.okta.com"},
		{"example.okta.com", 8443, "https://example.okta.com:8443"},
		{"http://127.0.0.1:9000/", 0, "http://127.0.0.1:9000"},
	} {
		if got := OrgURL(tc.in, tc.port); got != tc.want {
			t.Errorf("OrgURL(%q, %d) = %q, want %q", tc.in, tc.port, got, tc.want)
		}
	}
}

// TestTokenMatchesSDK checks that signToken makes the very token the SDK's
// BuildAuthToken makes for the same second.
func TestTokenMatchesSDK(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session")
	c, _ := creds.Retrieve(context.Background())
	for range 3 {
		before := time.Now().Truncate(time.Second)
		want, err := rdsauth.BuildAuthToken(context.Background(), "db.example:5432", "us-east-1", "alice", creds)
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().Truncate(time.Second) != before {
			continue // crossed a second boundary; try again
		}
		got, err := signToken(context.Background(), c, "db.example:5432", "us-east-1", "alice", before)
		if err != nil {
			t.Fatal(err)
		}
		// The SDK signs the URL without the trailing slash.
		if strings.Replace(got, "5432/?", "5432?", 1) != want && got != want {
			t.Fatalf("token differs from the SDK's:\n got %s\nwant %s", got, want)
		}
		return
	}
	t.Skip("could not sign within one second")
}

// countingProvider hands out credentials and counts how often it was asked.
type countingProvider struct {
	calls atomic.Int32
	delay time.Duration
	ttl   time.Duration
	now   func() time.Time
}

func (p *countingProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	n := p.calls.Add(1)
	time.Sleep(p.delay)
	return aws.Credentials{
		AccessKeyID: "ASIA" + strings.Repeat("A", 11) + string(rune('A'+n%26)), SecretAccessKey: "secret", SessionToken: "token",
		CanExpire: true, Expires: p.now().Add(p.ttl),
	}, nil
}

func TestConcurrentLoginsShareOneFederation(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p := &countingProvider{delay: 50 * time.Millisecond, ttl: time.Hour, now: clock}
	var factoryCalls atomic.Int32
	a, err := New(Config{
		Plugin: PluginOkta, IdPEndpoint: "example.okta.com", AppID: "0oa1",
		IAMRoleARN: "arn:aws:iam::1:role/r", IAMIdPARN: "arn:aws:iam::1:saml-provider/okta", IAMRegion: "us-east-1",
		IdPUsername: "alice@example.com", IdPPassword: secret.New("pw"),
		Federation: func(ctx context.Context, l OktaLogin) (aws.CredentialsProvider, error) {
			factoryCalls.Add(1)
			if l.AppURL != "https://example.okta.com/app/amazon_aws/0oa1/sso/saml" || l.Password.Reveal() != "pw" {
				t.Errorf("login = %v, app %s", l, l.AppURL)
			}
			return p, nil
		},
		Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	tokens := make([]string, 50)
	for i := range tokens {
		wg.Go(func() {
			l, err := a.Login(context.Background(), Endpoint{Host: "db.example", Port: 5432, User: "app"})
			if err != nil {
				t.Error(err)
			}
			tokens[i] = l.Password.Reveal()
		})
	}
	wg.Wait()
	if factoryCalls.Load() != 1 || p.calls.Load() != 1 {
		t.Fatalf("50 concurrent logins: %d federation setups, %d credential fetches; want 1 and 1", factoryCalls.Load(), p.calls.Load())
	}
	for _, tok := range tokens[1:] {
		if tok != tokens[0] {
			t.Fatal("concurrent logins got different tokens")
		}
	}
	// After iam_token_expiration a new token is signed with the same
	// credentials: no new Okta login.
	advance(DefaultTokenExpiration + time.Second)
	l, err := a.Login(context.Background(), Endpoint{Host: "db.example", Port: 5432, User: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Password.Reveal() == tokens[0] || p.calls.Load() != 1 {
		t.Fatalf("after 871 s: new token %v, credential fetches %d (want a new token and still 1 fetch)", l.Password.Reveal() != tokens[0], p.calls.Load())
	}
	// A rejected token forces new credentials, once for many rejections.
	l, _ = a.Login(context.Background(), Endpoint{Host: "db.example", Port: 5432, User: "app"})
	for range 5 {
		a.Reject(l)
	}
	if _, err := a.Login(context.Background(), Endpoint{Host: "db.example", Port: 5432, User: "app"}); err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 2 {
		t.Fatalf("after a rejection: %d fetches, want 2", p.calls.Load())
	}
	if s := l.String(); strings.Contains(s, l.Password.Reveal()) {
		t.Fatal("Login.String shows the token")
	}
}

// TestCredentialsRenewedAheadOfExpiry: credentials within the expiry
// window (5 minutes) are fetched again before the next token is signed.
// aws.CredentialsCache keeps wall-clock time, so the provider's credentials
// expire 4 minutes from now in real time.
func TestCredentialsRenewedAheadOfExpiry(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := &countingProvider{ttl: 4 * time.Minute, now: time.Now}
	a, err := New(Config{Plugin: PluginIAM, IAMRegion: "us-east-1", Credentials: p, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ep := Endpoint{Host: "db.example", Port: 5432, User: "app"}
	first, err := a.Login(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	// The token is cached no longer than its credentials live.
	if got := first.token.expires.Sub(now); got > 4*time.Minute+time.Second {
		t.Errorf("token reused for %s, beyond its credentials' 4 minutes", got)
	}
	mu.Lock()
	now = now.Add(5 * time.Minute)
	mu.Unlock()
	if _, err := a.Login(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 2 {
		t.Fatalf("credentials 4 minutes from expiry were not renewed: %d fetches", p.calls.Load())
	}
}

func TestOktaDefaultFederationFailsClearly(t *testing.T) {
	a, err := New(Config{Plugin: PluginOkta, IdPEndpoint: "127.0.0.1", IdPPort: 1, AppID: "a", IAMRoleARN: "r", IAMIdPARN: "p", IAMRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Login(context.Background(), Endpoint{Host: "h", Port: 1, User: "u", Password: secret.New("pw-never-shown")})
	if err == nil || strings.Contains(err.Error(), "pw-never-shown") {
		t.Fatalf("err = %v", err)
	}
}

// fakeSecretsManager answers GetSecretValue in the JSON 1.1 protocol.
func fakeSecretsManager(t *testing.T, secret func() string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			w.WriteHeader(400)
			return
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretId != "prod/db" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(400)
			w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:aws:secretsmanager:us-east-1:1:secret:prod/db", "Name": "prod/db", "SecretString": secret(), "VersionId": "v1"})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestSecretsPlugin(t *testing.T) {
	var pw atomic.Value
	pw.Store("first")
	srv, calls := fakeSecretsManager(t, func() string {
		return `{"username":"app","password":"` + pw.Load().(string) + `","engine":"postgres"}`
	})
	a, err := New(Config{
		Plugin: PluginSecrets, SecretID: "prod/db", SecretsRegion: "us-east-1", SecretsEndpoint: srv.URL,
		AWSConfig:   &aws.Config{Region: "us-east-1"},
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			l, err := a.Login(context.Background(), Endpoint{Host: "h"})
			if err != nil || l.User != "app" || l.Password.Reveal() != "first" {
				t.Errorf("login %v, %v", l, err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d GetSecretValue calls for 20 logins, want 1", calls.Load())
	}
	// Rotation: the server refuses the old password; the secret is read
	// again.
	l, _ := a.Login(context.Background(), Endpoint{})
	pw.Store("second")
	if !a.Reject(l) {
		t.Fatal("Reject said a retry would not help")
	}
	l, err = a.Login(context.Background(), Endpoint{})
	if err != nil || l.Password.Reveal() != "second" || calls.Load() != 2 {
		t.Fatalf("after rotation: %q, %v, %d calls", l.Password, err, calls.Load())
	}

	bad, err := New(Config{Plugin: PluginSecrets, SecretID: "other", SecretsRegion: "us-east-1", SecretsEndpoint: srv.URL,
		AWSConfig: &aws.Config{Region: "us-east-1"}, Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Login(context.Background(), Endpoint{}); !errors.Is(err, secrets.ErrNotFound) || !strings.Contains(err.Error(), "other") {
		t.Fatalf("missing secret: %v", err)
	}
}

// TestSecretsPluginKeys: the secret's JSON keys for the user name and
// password are configurable (secretsManagerSecretUsernameProperty,
// …PasswordProperty); a secret without them is refused naming its keys,
// never its values. A refusal that survives a re-read does not read the
// secret again on every connect.
func TestSecretsPluginKeys(t *testing.T) {
	srv, calls := fakeSecretsManager(t, func() string {
		return `{"login":"app","pass":"` + leakSecret + `","host":"db"}`
	})
	var c Config
	if _, err := SplitPostgresDSN("postgres://h/db?plugins=awsSecretsManager&secretsManagerSecretId=prod/db&secretsManagerRegion=us-east-1&secretsManagerSecretUsernameProperty=login&secretsManagerSecretPasswordProperty=pass", &c); err != nil {
		t.Fatal(err)
	}
	c.SecretsEndpoint, c.AWSConfig = srv.URL, &aws.Config{Region: "us-east-1"}
	c.Credentials = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.Login(context.Background(), Endpoint{})
	if err != nil || l.User != "app" || l.Password.Reveal() != leakSecret {
		t.Fatalf("custom keys: %v, %v", l, err)
	}
	for range 5 {
		a.Reject(l)
		if l, err = a.Login(context.Background(), Endpoint{}); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("%d secret reads for 5 refusals with no success between, want 2", calls.Load())
	}

	c.SecretUsernameKey, c.SecretPasswordKey = "username", "password"
	b, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Login(context.Background(), Endpoint{})
	if err == nil || !strings.Contains(err.Error(), "its keys: host, login, pass") || strings.Contains(err.Error(), leakSecret) {
		t.Fatalf("default keys on a custom secret: %v", err)
	}
}

// TestRefusedPasswordBackoff: a refused password is held back for the
// backoff, sent again once it has passed, and held back twice as long
// after a second refusal; another password is tried at once.
func TestRefusedPasswordBackoff(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	var retrieves atomic.Int32
	cfg := Config{
		Plugin: PluginOkta, IdPEndpoint: "backoff.example.okta.com", AppID: "0oa1", IAMRoleARN: "arn:r", IAMIdPARN: "arn:p", IAMRegion: "us-east-1",
		// The refusal table is process-wide: a password of this run only.
		IdPUsername: "svc", IdPPassword: secret.New("wrong-" + t.Name() + time.Now().String()),
		Now: func() time.Time { return now },
		Federation: func(ctx context.Context, l OktaLogin) (aws.CredentialsProvider, error) {
			return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				retrieves.Add(1)
				if strings.HasPrefix(l.Password.Reveal(), "wrong-") {
					return aws.Credentials{}, &okta.Error{Status: 401, Code: "E0000004", Summary: "Authentication failed"}
				}
				return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s", CanExpire: true, Expires: now.Add(time.Hour)}, nil
			}), nil
		},
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	try := func() error {
		_, err := a.Login(context.Background(), Endpoint{Host: "db.example", Port: 5432, User: "app"})
		return err
	}
	step := func(advance time.Duration, wantRetrieves int32) {
		t.Helper()
		now = now.Add(advance)
		if err := try(); !errors.Is(err, ErrSignInRefused) {
			t.Fatalf("after %s: %v, want ErrSignInRefused", advance, err)
		}
		if n := retrieves.Load(); n != wantRetrieves {
			t.Fatalf("after %s: %d sign-ins, want %d", advance, n, wantRetrieves)
		}
	}
	step(0, 1)
	step(14*time.Minute, 1)
	step(2*time.Minute, 2) // 15 minutes passed: sent once more, refused again
	step(29*time.Minute, 2)
	step(2*time.Minute, 3) // 30 minutes passed

	cfg.IdPPassword = secret.New("right")
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(context.Background(), Endpoint{Host: "db.example", Port: 5432, User: "app"}); err != nil {
		t.Fatalf("a changed password is tried at once: %v", err)
	}
}

// TestEnvironmentFillsWhatConfigLeaves: with nothing in Config, the iam
// plugin signs with the default AWS chain (here the environment's keys
// and region) and the okta plugin's STS calls go to AWS_ENDPOINT_URL_STS,
// as on a host with a role; Config.STSEndpoint wins over the environment.
// (The tests that run the whole chain inject both, so they run in
// parallel.)
func TestEnvironmentFillsWhatConfigLeaves(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "none")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "ASIAENVIRONMENTKEY01", "AWS_SECRET_ACCESS_KEY": "environment-secret", "AWS_SESSION_TOKEN": "environment-session",
		"AWS_REGION": "eu-north-1", "AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1/from-environment",
	} {
		t.Setenv(k, v)
	}
	a, err := New(Config{Plugin: PluginIAM})
	if err != nil {
		t.Fatal(err)
	}
	token, err := a.Token(context.Background(), "db.example", 5432, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(token, "ASIAENVIRONMENTKEY01%2F") || !strings.Contains(token, "%2Feu-north-1%2Frds-db%2F") {
		t.Errorf("token not signed with the environment's key and region: %s", token)
	}

	for set, want := range map[string]string{"": "http://127.0.0.1:1/from-environment", "http://127.0.0.1:2": "http://127.0.0.1:2"} {
		var got string
		cfg := Config{Plugin: PluginOkta, IdPEndpoint: "org.example", AppID: "a", IAMRoleARN: "r", IAMIdPARN: "p", IAMRegion: "us-east-1",
			IdPUsername: "u", IdPPassword: secret.New("p"), STSEndpoint: set,
			Federation: func(_ context.Context, l OktaLogin) (aws.CredentialsProvider, error) {
				got = l.STSEndpoint
				return nil, errors.New("enough")
			}}
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Token(context.Background(), "db.example", 5432, "alice"); err == nil {
			t.Fatal("no error from a Federation that fails")
		}
		if got != want {
			t.Errorf("Config.STSEndpoint %q: Federation got STS endpoint %q, want %q", set, got, want)
		}
	}
}
