package conformance_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/conformance"
	"github.com/oktafed/oktafed/internal/saml"
	"github.com/oktafed/oktafed/okta"
)

// The client side: the packages are fed the reference shapes.

// A push whose number challenge arrives in a later poll, in either of the
// places the reference shows it.
func TestClientPushNumberFromLaterPoll(t *testing.T) {
	for _, numberShape := range []string{"okta/authn-push-number.json", "okta/authn-push-number-factors-object.json"} {
		t.Run(numberShape, func(t *testing.T) {
			var verifies atomic.Int32
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/api/v1/authn":
					w.Write(conformance.Doc("okta/authn-mfa-required.json", srv.URL))
				case "/api/v1/authn/factors/opfconformancepush01/verify":
					switch verifies.Add(1) {
					case 1:
						w.Write(conformance.Doc("okta/authn-push-sent.json", srv.URL))
					case 2, 3:
						w.Write(conformance.Doc(numberShape, srv.URL))
					default:
						w.Write(conformance.Doc("okta/authn-success.json", srv.URL))
					}
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			c := &okta.Client{BaseURL: srv.URL, PollInterval: time.Millisecond}
			var numbers []int
			var device string
			res, err := c.Authenticate(context.Background(), "user@example.com", "pw", &okta.MFA{
				Preferred:  "push",
				Waiting:    func(f okta.Factor) { device = f.Device },
				PushNumber: func(n int) { numbers = append(numbers, n) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(numbers) != 1 || numbers[0] != 92 {
				t.Errorf("PushNumber got %v, want 92 once", numbers)
			}
			if device != "" {
				t.Errorf("the factor's empty profile gave a device %q", device)
			}
			if res.SessionToken.IsZero() || res.User.Login != "user@example.com" || res.Factor.Kind != okta.KindPush {
				t.Errorf("result %v, factor %v", res, res.Factor)
			}
		})
	}
}

func TestClientSessionMe(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err != nil || c.Value != "102conformanceSession00" || r.URL.Path != "/api/v1/sessions/me" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(conformance.Doc("okta/session-me.json", srv.URL))
	}))
	defer srv.Close()
	s, err := (&okta.Client{BaseURL: srv.URL}).Session(context.Background(), "102conformanceSession00")
	if err != nil {
		t.Fatal(err)
	}
	if s.Login != "user@example.com" || !s.MFAActive || s.ExpiresAt.IsZero() || s.ID != "102conformanceSession00" {
		t.Errorf("session %+v", s)
	}
}

func shapeResponse() string {
	return base64.StdEncoding.EncodeToString(conformance.Shape("saml/okta-aws-response.xml"))
}

// The app page with character references around an Okta-shaped,
// pretty-printed assertion.
func TestClientAppPageAndAssertion(t *testing.T) {
	page := conformance.AppPage(shapeResponse())
	form, err := saml.ParseForm(page)
	if err != nil {
		t.Fatal(err)
	}
	if form.Action != "https://signin.aws.amazon.com/saml" || form.SAMLResponse != shapeResponse() {
		t.Fatalf("form action %q, response read back exactly: %v", form.Action, form.SAMLResponse == shapeResponse())
	}
	a, err := saml.FromPage(page)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Roles) != 2 || a.Roles[0].RoleARN != "arn:aws:iam::123456789012:role/Admin" || a.Roles[0].PrincipalARN != "arn:aws:iam::123456789012:saml-provider/okta" {
		t.Errorf("roles %+v", a.Roles)
	}
	if a.SessionDuration != 12*time.Hour || a.RoleSessionName != "user@example.com" || len(a.Problems) != 0 {
		t.Errorf("duration %s, session name %q, problems %v", a.SessionDuration, a.RoleSessionName, a.Problems)
	}
}

// /login/token/sso: the token goes in a POST body; Okta may answer with
// the page itself (200) or with a redirect and a session cookie.
func TestClientWebSSO(t *testing.T) {
	for _, redirect := range []bool{false, true} {
		name := "200 page"
		if redirect {
			name = "redirect with sid"
		}
		t.Run(name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/login/token/sso":
					body, _ := io.ReadAll(r.Body)
					if r.Method != http.MethodPost || r.URL.RawQuery != "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") || string(body) != "token=web-sso-token" {
						t.Errorf("token sent as %s %s %q %q", r.Method, r.URL, r.Header.Get("Content-Type"), body)
						http.Error(w, "bad", http.StatusBadRequest)
						return
					}
					http.SetCookie(w, &http.Cookie{Name: "sid", Value: "102conformanceSession00", Path: "/"})
					if redirect {
						http.Redirect(w, r, srv.URL+"/app/amazon_aws/exkconformance/sso/saml", http.StatusFound)
						return
					}
					w.Write(conformance.AppPage(shapeResponse()))
				case "/app/amazon_aws/exkconformance/sso/saml":
					if c, err := r.Cookie("sid"); err != nil || c.Value != "102conformanceSession00" {
						http.Redirect(w, r, srv.URL+"/login/login.htm", http.StatusFound)
						return
					}
					w.Write(conformance.AppPage(shapeResponse()))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			page, err := (&okta.Client{BaseURL: srv.URL}).WebSSO(context.Background(), "web-sso-token")
			if err != nil {
				t.Fatal(err)
			}
			if page.SID.Reveal() != "102conformanceSession00" {
				t.Errorf("SID %q", page.SID)
			}
			if a, err := saml.FromPage(page.HTML); err != nil || len(a.Roles) != 2 {
				t.Errorf("page: %v", err)
			}
		})
	}
}

// STS refuses a DurationSeconds above the role's maximum with the
// reference's ValidationError; the client still gets the role, for the
// longest whole hours it allows, and says it learned the limit.
func TestClientSTSDurationRefusal(t *testing.T) {
	const roleMax = 2 * time.Hour
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "AssumeRoleWithSAML" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		d := r.PostForm.Get("DurationSeconds")
		mu.Lock()
		asked = append(asked, d)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		secs, _ := time.ParseDuration(d + "s")
		if secs > roleMax {
			w.WriteHeader(http.StatusBadRequest)
			w.Write(conformance.Shape("aws/sts-error-duration.xml"))
			return
		}
		w.Write([]byte(strings.ReplaceAll(string(conformance.Shape("aws/sts-assume-role-with-saml.xml")), "{expiration}", time.Now().Add(secs).UTC().Format(time.RFC3339))))
	}))
	defer srv.Close()
	role := federation.Role{RoleARN: "arn:aws:iam::123456789012:role/Admin", PrincipalARN: "arn:aws:iam::123456789012:saml-provider/okta"}
	got := federation.AssumeRoles(context.Background(), federation.NewSTSClient("us-east-1", srv.URL, srv.Client()), shapeResponse(), []federation.Role{role}, 12*time.Hour, 1, nil)[0]
	if got.Err != nil || got.Duration != roleMax || got.Limit != roleMax || got.Credentials.AccessKeyID != "ASIACONFORMANCE00000" {
		t.Fatalf("assumed %+v (asked %v)", got, asked)
	}
	// With the limit remembered, the next login asks once.
	mu.Lock()
	asked = nil
	mu.Unlock()
	got = federation.AssumeRoles(context.Background(), federation.NewSTSClient("us-east-1", srv.URL, srv.Client()), shapeResponse(), []federation.Role{role}, 12*time.Hour, 1, federation.RoleLimits{role.RoleARN: roleMax})[0]
	mu.Lock()
	defer mu.Unlock()
	if got.Err != nil || got.Duration != roleMax || len(asked) != 1 {
		t.Fatalf("second login: %+v, asked %v", got, asked)
	}
}

// Each JSON shape, served as Doc serves it, conforms to itself, and a
// document that breaks a fact does not: the matcher can fail.
func TestShapesMatchThemselves(t *testing.T) {
	const base = "https://example.okta.com"
	for _, name := range []string{"okta/authn-mfa-required.json", "okta/authn-push-sent.json", "okta/authn-push-number.json", "okta/authn-success.json", "okta/session-me.json"} {
		if p := conformance.MatchJSON(name, base, conformance.Doc(name, base)); len(p) > 0 {
			t.Errorf("%s: %v", name, p)
		}
	}
	broken := strings.Replace(string(conformance.Doc("okta/authn-push-sent.json", base)), `"poll"`, `"verify"`, 1)
	if p := conformance.MatchJSON("okta/authn-push-sent.json", base, []byte(broken)); len(p) != 1 || !strings.Contains(p[0], "_links.next.name") {
		t.Errorf("a next link named verify passed: %v", p)
	}
	if p := conformance.MatchJSON("okta/session-me.json", base, conformance.Doc("okta/session-me.json", "https://other.example")); len(p) == 0 {
		t.Error("links to another host passed")
	}
	if p := conformance.CheckAppPage(conformance.AppPage(shapeResponse())); len(p) > 0 {
		t.Errorf("the app page shape: %v", p)
	}
	if p := conformance.CheckOktaSAML(conformance.Shape("saml/okta-aws-response.xml")); len(p) > 0 {
		t.Errorf("the SAML shape: %v", p)
	}
}
