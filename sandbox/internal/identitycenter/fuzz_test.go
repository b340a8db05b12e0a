package identitycenter

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

type fakeIssuer struct{}

func (fakeIssuer) IssueCredentials(string, string, time.Duration) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "ASIA", SecretAccessKey: "s", SessionToken: "t", Expires: time.Unix(2_000_000_000, 0)}, nil
}

// FuzzRequestBodies sends arbitrary JSON bodies, bearer tokens and query
// strings to every endpoint: answers must be JSON with a status the
// protocol allows, and no panic.
func FuzzRequestBodies(f *testing.F) {
	s, err := New(Config{PermissionSets: []PermissionSetConfig{{Name: "Admin", Assignments: []AssignmentConfig{{RoleARN: "arn:aws:iam::123456789012:role/R", Groups: []string{"g"}}}}}},
		Options{BaseURL: "http://127.0.0.1:1", Issuer: fakeIssuer{}})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	f.Add(0, []byte(`{"clientName":"x","clientType":"public","scopes":["sso:account:access"]}`), "", "")
	f.Add(1, []byte(`{"clientId":"a","clientSecret":"b","startUrl":"http://127.0.0.1:1/start"}`), "", "")
	f.Add(2, []byte(`{"clientId":"a","clientSecret":"b","grantType":"refresh_token","refreshToken":"x","scope":[1]}`), "", "")
	f.Add(3, []byte(nil), "tok", "role_name=Admin&account_id=123456789012")
	f.Add(4, []byte(nil), "", "next_token=bzox&max_result=1")
	f.Add(5, []byte(nil), "", "account_id=123456789012&next_token=%%%")
	paths := []string{"POST /client/register", "POST /device_authorization", "POST /token", "GET /federation/credentials", "GET /assignment/accounts", "GET /assignment/roles", "POST /logout"}
	f.Fuzz(func(t *testing.T, which int, body []byte, bearer, query string) {
		if which < 0 {
			which = -which
		}
		method, path, _ := bytes.Cut([]byte(paths[which%len(paths)]), []byte(" "))
		req := httptest.NewRequest(string(method), string(path), bytes.NewReader(body))
		req.URL.RawQuery = query
		if bearer != "" {
			req.Header.Set("x-amz-sso_bearer_token", bearer)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 401, 403:
		default:
			t.Fatalf("%s: status %d", path, rec.Code)
		}
		if rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: answer is not JSON: %q", path, rec.Body.String())
		}
		if rec.Code != 200 && rec.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("%s: error without X-Amzn-ErrorType", path)
		}
	})
}
