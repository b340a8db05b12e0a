package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzImportSettings feeds the readers of other tools' settings broken
// files: no panic, and no secret from the file in an error.
func FuzzImportSettings(f *testing.F) {
	f.Add(0, []byte("[default]\nurl = https://example.okta.com/home/amazon_aws/0oa1/272\nprovider = Okta\nmfa = PUSH\naws_session_duration = 3600\n"))
	f.Add(1, []byte("[DEFAULT]\nokta_org_url = https://example.okta.com\n[dev]\napp_url = https://example.okta.com/home/amazon_aws/0oa1/272\naws_rolename = a,b\n"))
	f.Add(2, []byte(`{"sso_url":"https://example.okta.com/app/amazon_aws/exk1/sso/saml","password":"p-SECRET","google_2fa_totp":"JBSWY3DP"}`))
	f.Add(2, []byte(`{"sso_url":"p-SECRET","password":"p-SECRET"}`))
	f.Fuzz(func(t *testing.T, kind int, data []byte) {
		path := filepath.Join(t.TempDir(), "settings")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var err error
		switch ((kind % 3) + 3) % 3 {
		case 0:
			_, err = importSAML2AWS(path)
		case 1:
			_, err = importGimme(path)
		default:
			var ps []importedProfile
			ps, err = importCredHelper(path)
			for _, p := range ps {
				if p.profile.OrgURL == "" {
					t.Fatal("a profile without an org")
				}
			}
		}
		var j struct {
			SSOURL   string `json:"sso_url"`
			Password string `json:"password"`
			TOTP     string `json:"google_2fa_totp"`
		}
		if err == nil || json.Unmarshal(data, &j) != nil {
			return
		}
		for _, secret := range []string{j.Password, j.TOTP} {
			if len(secret) >= 4 && !strings.Contains(j.SSOURL, secret) && strings.Contains(err.Error(), secret) {
				t.Fatalf("a secret in the error: %v", err)
			}
		}
	})
}
