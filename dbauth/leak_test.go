package dbauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/secret"
)

const leakSecret = "Hunter2-Okta-Secret"

func TestConfigRedactsIdPPassword(t *testing.T) {
	c := Config{Plugin: PluginOkta, IdPUsername: "svc@example.com", IdPPassword: secret.New(leakSecret), IdPEndpoint: "example.okta.com", IAMTokenExpiration: 600 * time.Second}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for _, v := range []any{c, &c} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, leakSecret) || strings.Contains(out, fmt.Sprintf("%x", leakSecret)) {
				t.Errorf("%s leaks: %s", verb, out)
			}
		}
	}
	if out := fmt.Sprintf("%+v", c); !strings.Contains(out, "IdPPassword:[redacted]") || !strings.Contains(out, "IdPUsername:svc@example.com") {
		t.Errorf("%%+v = %s, want the other fields and a redaction mark", out)
	}
	if out := fmt.Sprintf("%#v", c); !strings.HasPrefix(out, "dbauth.Config{") {
		t.Errorf("%%#v = %s", out)
	}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("config", "cfg", c, "ptr", &c, "login", Login{User: "alice", Password: secret.New(leakSecret)}, "okta", OktaLogin{Username: "u", Password: secret.New(leakSecret)}, "ep", Endpoint{Password: secret.New(leakSecret)})
	}
	if strings.Contains(buf.String(), leakSecret) || !strings.Contains(buf.String(), "idp_endpoint") {
		t.Errorf("slog: %s", buf.String())
	}

	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), leakSecret) || !strings.Contains(string(js), `"idp_password":"[redacted]"`) || !strings.Contains(string(js), `"iam_token_expiration":"600"`) {
		t.Errorf("json: %s", js)
	}
	for _, v := range []any{Login{User: "a", Password: secret.New(leakSecret)}, OktaLogin{Password: secret.New(leakSecret)}, Endpoint{Host: "h", Password: secret.New(leakSecret)}, &Endpoint{Password: secret.New(leakSecret)}} {
		if out := fmt.Sprintf("%#v %+v %v", v, v, v); strings.Contains(out, leakSecret) {
			t.Errorf("%T leaks: %s", v, out)
		}
	}
}

func TestTyposAreRefusedWithTheLikelyName(t *testing.T) {
	cases := []struct{ dsn, want string }{
		{"postgres://h/db?idp_pasword=" + leakSecret, "idp_password"},
		{"postgres://h/db?idpPasword=" + leakSecret, "idpPassword"},
		{"host=h iam_rol_arn=x", "iam_role_arn"},
		{"postgres://h/db?iamTokenExpiration=600", "iamTokenExpirationSec"},
		{"postgres://h/db?httpRequestTimeoutMs=600", "httpTimeoutMs"},
		{"postgres://h/db?plugin=okta", "plugins"},
		{"postgres://h/db?db_usr=alice", "db_user"},
		{"postgres://h/db?plugins=awsSecretManager", "awsSecretsManager"},
		{"postgres://h/db?secretsManagerSecretID=x", "secretsManagerSecretId"},
	}
	for _, tc := range cases {
		var c Config
		_, err := SplitPostgresDSN(tc.dsn, &c)
		if err == nil || !strings.Contains(err.Error(), "did you mean "+tc.want+"?") {
			t.Errorf("%q: %v, want a suggestion of %s", tc.dsn, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), leakSecret) {
			t.Errorf("%q: error quotes the value", tc.dsn)
		}
	}
	var c Config
	_, err := SplitMySQLDSN("alice@tcp(h:3306)/app?idp_pasword="+leakSecret, &c)
	if err == nil || !strings.Contains(err.Error(), "idp_password") {
		t.Errorf("mysql typo: %v", err)
	}
	// The drivers' own parameters pass through.
	for _, dsn := range []string{
		"postgres://h/db?sslmode=verify-full&sslrootcert=/x&application_name=a&search_path=s&target_session_attrs=any&sslpassword=p&pool_max_conns=4&connect_timeout=5",
	} {
		if _, err := SplitPostgresDSN(dsn, &c); err != nil {
			t.Errorf("%q: %v", dsn, err)
		}
	}
	if _, err := SplitMySQLDSN("u@tcp(h)/d?parseTime=true&loc=UTC&timeout=5s&readTimeout=1s&tls=true&allowCleartextPasswords=true&interpolateParams=true&maxAllowedPacket=0&serverPubKey=k&charset=utf8mb4&collation=c&multiStatements=true", &c); err != nil {
		t.Errorf("mysql driver parameters: %v", err)
	}
}

// TestGoWrapperNames: every camelCase name from the AWS Advanced Go
// Wrapper's documentation fills the same field as its snake_case twin.
func TestGoWrapperNames(t *testing.T) {
	camel := "postgres://h/db?plugins=okta&dbUser=bob&idpUsername=svc&idpPassword=pw&idpEndpoint=example.okta.com&idpPort=8443&appId=0oa1&iamRoleArn=arn:r&iamIdpArn=arn:p&iamRegion=eu-west-1&iamHost=alias.example&iamDefaultPort=6543&iamTokenExpirationSec=600&httpTimeoutMs=1500&sslInsecure=true"
	snake := "postgres://h/db?plugins=okta&db_user=bob&idp_username=svc&idp_password=pw&idp_endpoint=example.okta.com&idp_port=8443&app_id=0oa1&iam_role_arn=arn:r&iam_idp_arn=arn:p&iam_region=eu-west-1&iam_host=alias.example&iam_default_port=6543&iam_token_expiration=600&http_request_connect_timeout=1.5s&ssl_secure=false"
	var a, b Config
	if _, err := SplitPostgresDSN(camel, &a); err != nil {
		t.Fatal(err)
	}
	if _, err := SplitPostgresDSN(snake, &b); err != nil {
		t.Fatal(err)
	}
	if a.GoString() != b.GoString() || a.IdPPassword.Reveal() != b.IdPPassword.Reveal() {
		t.Errorf("camelCase and snake_case differ:\n%#v\n%#v", a, b)
	}
	if a.HTTPTimeout != 1500*time.Millisecond || !a.SSLInsecure || a.IAMDefaultPort != 6543 || a.IdPPort != 8443 {
		t.Errorf("camelCase config %+v", a)
	}

	var s Config
	if _, err := SplitMySQLDSN("u@tcp(h)/d?plugins=awsSecretsManager&secretsManagerSecretId=prod%2Fdb&secretsManagerRegion=eu-west-1&secretsManagerEndpoint=http:%2F%2F127.0.0.1:1&secretsManagerExpirationSec=60&secretsManagerSecretUsernameProperty=login&secretsManagerSecretPasswordProperty=pass", &s); err != nil {
		t.Fatal(err)
	}
	if s.Plugin != PluginSecrets || s.SecretID != "prod/db" || s.SecretsRegion != "eu-west-1" || s.SecretsEndpoint != "http://127.0.0.1:1" || s.SecretExpiration != time.Minute || s.SecretUsernameKey != "login" || s.SecretPasswordKey != "pass" {
		t.Errorf("secrets config %+v", s)
	}
	// An unescaped '/' in a MySQL DSN value is read as written, as the
	// Go wrapper's own examples write ARNs and URLs.
	var u Config
	if rest, err := SplitMySQLDSN("u@tcp(h)/d?secretsManagerEndpoint=http://127.0.0.1:1&iamRoleArn=arn:aws:iam::1:role/R&idpUsername=a@b.c&timeout=5s", &u); err != nil || u.SecretsEndpoint != "http://127.0.0.1:1" || u.IAMRoleARN != "arn:aws:iam::1:role/R" || u.IdPUsername != "a@b.c" || rest != "u@tcp(h)/d?timeout=5s" {
		t.Errorf("unescaped '/' and '@': %q %+v %v", rest, u, err)
	}
	// Wrapper-only parameters and plugin codes are taken out, never sent.
	var w Config
	if rest, err := SplitPostgresDSN("host=h plugins=iam,failover,efm wrapperDialect=aurora-pg clusterId=c1 failoverTimeoutMs=60000 awsProfile=prod sslmode=verify-full", &w); err != nil || rest != "host=h sslmode=verify-full" || w.Plugin != PluginIAM || w.AWSProfile != "prod" {
		t.Errorf("wrapper-only parameters: %q %+v %v", rest, w, err)
	}
	var i Config
	if _, err := SplitPostgresDSN("postgres://h/db?plugins=iam&iamExpirationSec=300&iamDefaultPort=-1", &i); err != nil || i.IAMTokenExpiration != 300*time.Second || i.IAMDefaultPort != 0 {
		t.Errorf("iam plugin names: %+v %v", i, err)
	}

	// One setting in both spellings must agree.
	var d Config
	if _, err := SplitPostgresDSN("postgres://h/db?iam_region=a&iamRegion=b", &d); err == nil || !strings.Contains(err.Error(), "iam_region and iamRegion") {
		t.Errorf("conflicting spellings: %v", err)
	}
	if _, err := SplitPostgresDSN("postgres://h/db?iam_region=a&iamRegion=a", &d); err != nil {
		t.Errorf("agreeing spellings: %v", err)
	}
}

// TestOverriddenParamIsLogged: a Config field beats the DSN, and says so.
func TestOverriddenParamIsLogged(t *testing.T) {
	var buf bytes.Buffer
	cfg := Config{IAMTokenExpiration: 300 * time.Second, Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	if _, err := SplitPostgresDSN("postgres://alice@db.example/app?plugins=iam&iam_region=us-east-1&iam_token_expiration=600&idp_password="+leakSecret, &cfg); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Config().IAMTokenExpiration; got != 300*time.Second {
		t.Errorf("IAMTokenExpiration = %s, want the Config field's 5m", got)
	}
	if !strings.Contains(buf.String(), "param=iam_token_expiration") || strings.Contains(buf.String(), "600") {
		t.Errorf("log: %s", buf.String())
	}
	if strings.Contains(buf.String(), leakSecret) {
		t.Errorf("log leaks: %s", buf.String())
	}
}
