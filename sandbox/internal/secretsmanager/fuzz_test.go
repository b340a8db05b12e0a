package secretsmanager

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/oktafed/oktafed/sandbox/internal/iam"
)

// anyone authenticates every request as a role in the demo account, so the
// fuzzer reaches the operations' JSON parsing.
type anyone struct{}

func (anyone) Authenticate(*http.Request, string) (*iam.Caller, error) {
	return &iam.Caller{Account: "123456789012", ARN: "arn:aws:sts::123456789012:assumed-role/R/s", RoleARN: "arn:aws:iam::123456789012:role/R"}, nil
}

func FuzzOperations(f *testing.F) {
	s, err := New([]SecretConfig{{Name: "a/b", String: "v"}, {Name: "bin", Binary: "AAEC"}}, Options{Auth: anyone{}, DefaultAccount: "123456789012"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("GetSecretValue", []byte(`{"SecretId":"a/b","VersionStage":"AWSPREVIOUS"}`))
	f.Add("ListSecrets", []byte(`{"MaxResults":1,"NextToken":"1","Filters":[{"Key":"name","Values":["!a"]}]}`))
	f.Add("PutSecretValue", []byte(`{"SecretId":"bin","SecretBinary":"AAEC","ClientRequestToken":"0123456789abcdef0123456789abcdef"}`))
	f.Add("DescribeSecret", []byte(`{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b"}`))
	f.Add("GetSecretValue", []byte(`{"SecretId":1}`))
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "secretsmanager."+op)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %q: internal error %s", op, body, w.Body)
		}
		if w.Code != http.StatusOK && !bytes.Contains(w.Body.Bytes(), []byte(`"__type"`)) {
			t.Fatalf("%s %q: error without __type: %s", op, body, w.Body)
		}
	})
}
