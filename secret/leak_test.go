package secret_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/federation/browser"
	"github.com/oktafed/oktafed/m2m"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/secret"
	"github.com/oktafed/oktafed/secrets"
	"github.com/oktafed/oktafed/sso"
)

const marker = "MARKER-s3cr3t-9f2c"

func TestStringNeverPrints(t *testing.T) {
	s := secret.New(marker)
	if s.Reveal() != marker {
		t.Fatal("Reveal lost the value")
	}
	for _, out := range formatEveryWay(s) {
		if leaks(out) {
			t.Errorf("leaked: %s", out)
		}
	}
	if got := fmt.Sprintf("%q|%v|%#v", s, s, s); got != `"[redacted]"|[redacted]|secret.String("[redacted]")` {
		t.Errorf("forms = %s", got)
	}
}

// exported lists every exported struct type of the packages whose values
// hold passwords, tokens, keys or cookies. TestExportedTypesListed keeps
// it complete, so a new type is walked from the day it is added.
var exported = map[string]any{
	"dbauth.Auth": dbauth.Auth{}, "dbauth.Config": dbauth.Config{}, "dbauth.Endpoint": dbauth.Endpoint{},
	"dbauth.Login": dbauth.Login{}, "dbauth.Connector": dbauth.Connector{}, "dbauth.OktaLogin": dbauth.OktaLogin{},
	"dbauth.Param":            dbauth.Param{},
	"awsauth.KeyringSessions": awsauth.KeyringSessions{}, "awsauth.Resolver": awsauth.Resolver{}, "awsauth.LoginOptions": awsauth.LoginOptions{},
	"secrets.Reader": secrets.Reader{}, "secrets.Secret": secrets.Secret{},
	"federation.App": federation.App{}, "federation.Assumed": federation.Assumed{}, "federation.Captured": federation.Captured{},
	"browser.Result": browser.Result{}, "browser.SignIn": browser.SignIn{}, "browser.Source": browser.Source{},
	"federation.Cache": federation.Cache{}, "federation.Changes": federation.Changes{}, "federation.Deadlines": federation.Deadlines{}, "federation.Device": federation.Device{},
	"federation.Direct": federation.Direct{}, "federation.Event": federation.Event{}, "federation.Files": federation.Files{},
	"federation.Login": federation.Login{}, "federation.LoginRequiredError": federation.LoginRequiredError{},
	"federation.MemorySessions": federation.MemorySessions{}, "federation.Outcome": federation.Outcome{},
	"federation.Owned": federation.Owned{}, "federation.Password": federation.Password{}, "federation.SAMLConfig": federation.SAMLConfig{},
	"federation.SAMLProvider": federation.SAMLProvider{}, "federation.Session": federation.Session{},
	"federation.UnreachableError": federation.UnreachableError{}, "federation.Written": federation.Written{},
	"federation.SignInOptions": federation.SignInOptions{}, "federation.SignInChoice": federation.SignInChoice{},
	"federation.SignInUnavailableError": federation.SignInUnavailableError{},
	"okta.AppAuth":                      okta.AppAuth{}, "okta.AppPage": okta.AppPage{}, "okta.Client": okta.Client{}, "okta.CodePrompt": okta.CodePrompt{},
	"okta.DeviceAuthorization": okta.DeviceAuthorization{}, "okta.Error": okta.Error{}, "okta.Factor": okta.Factor{},
	"okta.MFA": okta.MFA{}, "okta.OAuthError": okta.OAuthError{}, "okta.Organization": okta.Organization{},
	"okta.Result": okta.Result{}, "okta.Session": okta.Session{}, "okta.Tokens": okta.Tokens{}, "okta.User": okta.User{},
	"m2m.Config": m2m.Config{}, "m2m.Key": m2m.Key{}, "m2m.Provider": m2m.Provider{}, "m2m.Token": m2m.Token{},
	"m2m.TokenError": m2m.TokenError{},
	"sso.Account":    sso.Account{}, "sso.Client": sso.Client{}, "sso.DeviceCode": sso.DeviceCode{}, "sso.Endpoints": sso.Endpoints{},
	"sso.ProfileSpec": sso.ProfileSpec{}, "sso.Session": sso.Session{}, "sso.Token": sso.Token{},
}

var walkedPackages = []string{"dbauth", "dbauth/pgxauth", "dbauth/mysqlauth", "awsauth", "secrets", "federation", "federation/browser", "okta", "m2m", "sso"}

// TestExportedTypesListed fails when one of the walked packages has an
// exported struct type that exported does not list.
func TestExportedTypesListed(t *testing.T) {
	for _, pkg := range walkedPackages {
		out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/oktafed/oktafed/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		dir := strings.TrimSpace(string(out))
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fs := token.NewFileSet()
		pkgs := map[string][]*ast.File{}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fs, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			pkgs[f.Name.Name] = append(pkgs[f.Name.Name], f)
		}
		for pname, files := range pkgs {
			for _, f := range files {
				for _, d := range f.Decls {
					g, ok := d.(*ast.GenDecl)
					if !ok || g.Tok != token.TYPE {
						continue
					}
					for _, s := range g.Specs {
						ts := s.(*ast.TypeSpec)
						if _, ok := ts.Type.(*ast.StructType); !ok || !ts.Name.IsExported() || ts.Assign.IsValid() {
							continue
						}
						if _, ok := exported[pname+"."+ts.Name.Name]; !ok {
							t.Errorf("%s.%s is not in exported: add it so its secrets are checked", pname, ts.Name.Name)
						}
					}
				}
			}
		}
	}
}

// secretName is a field name that says it holds a credential.
var secretName = regexp.MustCompile(`(?i)(password|passwd|passphrase|token|secret|cookie|seed|^sid$|privatekey|samlresponse|assertion|apikey)`)

// notSecret are fields whose names match secretName but that hold no
// credential: names of things, where to find them, how long they live.
var notSecret = map[string]bool{
	"SecretID": true, "SecretsRegion": true, "SecretsEndpoint": true, "SecretExpiration": true,
	"SecretUsernameKey": true, "SecretPasswordKey": true, "IAMTokenExpiration": true,
	"TokenURL": true, "TokenType": true, "TokenEndpoint": true, "SessionTokenExpires": true,
}

// TestNoSecretPrints walks every exported type of the packages above,
// fills each string and []byte field (and each secret.String, and each
// AWS credentials provider) with a marker, formats the value every way
// fmt, slog and encoding/json can, and fails on any marker in the
// output. A plain string or []byte field whose name says it holds a
// credential fails too: it must be a secret.String.
func TestNoSecretPrints(t *testing.T) {
	names := make([]string, 0, len(exported))
	for n := range exported {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		typ := reflect.TypeOf(exported[name])
		v := reflect.New(typ).Elem()
		fill(t, name, v, 0)
		for _, val := range []any{v.Interface(), v.Addr().Interface()} {
			for i, out := range formatEveryWay(val) {
				if leaks(out) {
					t.Errorf("%s: form %d prints a secret: %s", name, i, clip(out))
				}
			}
		}
	}
}

var secretType = reflect.TypeOf(secret.String{})

var credsType = reflect.TypeOf((*aws.CredentialsProvider)(nil)).Elem()

func fill(t *testing.T, path string, v reflect.Value, depth int) {
	if depth > 4 {
		return
	}
	if v.Type() == secretType {
		v.Set(reflect.ValueOf(secret.New(marker)))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		own := strings.HasPrefix(v.Type().PkgPath(), "github.com/oktafed/oktafed/")
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			p := path + "." + f.Name
			isPlain := fv.Kind() == reflect.String ||
				(fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Uint8)
			if own && isPlain && secretName.MatchString(f.Name) && !notSecret[f.Name] {
				t.Errorf("%s is a plain %s but its name says it holds a credential: make it a secret.String", p, fv.Type())
			}
			if !own && isPlain && secretName.MatchString(f.Name) {
				// Another module's type (aws.Credentials): its owner
				// in this module must keep it from printing.
				setString(fv, marker)
				continue
			}
			fill(t, p, fv, depth+1)
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString("x")
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		if v.Type().Elem().Kind() == reflect.Struct || v.Type().Elem().Kind() == reflect.String {
			s := reflect.MakeSlice(v.Type(), 1, 1)
			fill(t, path+"[0]", s.Index(0), depth+1)
			v.Set(s)
		}
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct && v.Type().Elem().PkgPath() != "" && strings.HasPrefix(v.Type().Elem().PkgPath(), "github.com/oktafed/oktafed/") {
			p := reflect.New(v.Type().Elem())
			fill(t, path, p.Elem(), depth+1)
			v.Set(p)
		}
	case reflect.Interface:
		if v.Type() == credsType {
			v.Set(reflect.ValueOf(credentials.NewStaticCredentialsProvider(marker, marker, marker)))
		}
	}
}

func setString(v reflect.Value, s string) {
	if v.Kind() == reflect.String {
		v.SetString(s)
	} else {
		v.SetBytes([]byte(s))
	}
}

// formatEveryWay is v under every fmt verb that prints strings, wrapped
// in an error, through slog's text and JSON handlers and encoding/json.
func formatEveryWay(v any) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		out = append(out, fmt.Sprintf(verb, v))
	}
	out = append(out, fmt.Errorf("wrapped: %v", v).Error(), fmt.Sprint(v), fmt.Sprintln(v))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
	out = append(out, buf.String())
	if b, err := json.Marshal(v); err == nil {
		out = append(out, string(b))
	}
	return out
}

func leaks(s string) bool {
	h := hex.EncodeToString([]byte(marker))
	return strings.Contains(s, marker) || strings.Contains(s, h) || strings.Contains(s, strings.ToUpper(h)) ||
		strings.Contains(s, "MARKER")
}

func clip(s string) string {
	if i := strings.Index(s, "MARKER"); i > 200 {
		s = "…" + s[i-200:]
	}
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
