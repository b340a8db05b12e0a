package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/awsfile"
	"github.com/oktafed/oktafed/internal/config"
)

// Settings of the tools people switch from, read so that `oktafed init
// --from TOOL` writes an oktafed profile from them. The formats are the
// ones those projects document: saml2aws's ~/.saml2aws (INI, one section
// per account), gimme-aws-creds's ~/.okta_aws_login_config (INI with a
// DEFAULT section the others inherit from), okta-aws-cli's OKTA_AWSCLI_*
// environment variables, and okta-aws-cred-helper's
// ~/.aws/okta-aws/settings.json.

// importTools are the tools --from accepts, in the order detection
// reports them.
var importTools = []string{"saml2aws", "gimme-aws-creds", "okta-aws-cli", "okta-aws-cred-helper"}

// importedProfile is one profile read from another tool, with the secrets
// it kept (in plain text, for the two tools that do) and what oktafed
// does not carry over.
type importedProfile struct {
	name     string
	profile  config.Profile
	password string
	totpSeed string
	skipped  []string
}

// importSource is where a tool's settings live here ("" when it keeps
// none in a file).
func importSource(ios *IOStreams, tool string) string {
	home := ios.getenv("HOME")
	switch tool {
	case "saml2aws":
		if v := ios.getenv("SAML2AWS_CONFIGFILE"); v != "" {
			return v
		}
		return filepath.Join(home, ".saml2aws")
	case "gimme-aws-creds":
		if v := ios.getenv("OKTA_CONFIG"); v != "" {
			return v
		}
		return filepath.Join(home, ".okta_aws_login_config")
	case "okta-aws-cred-helper":
		return filepath.Join(home, ".aws", "okta-aws", "settings.json")
	}
	return ""
}

// detectTools lists the tools whose settings exist here.
func detectTools(ios *IOStreams) []string {
	var found []string
	for _, tool := range importTools {
		if tool == "okta-aws-cli" {
			if firstNonEmpty(ios.getenv("OKTA_AWSCLI_ORG_DOMAIN"), ios.getenv("OKTA_ORG_DOMAIN")) != "" && firstNonEmpty(ios.getenv("OKTA_AWSCLI_AWS_ACCOUNT_FEDERATION_APP_ID"), ios.getenv("OKTA_AWS_ACCOUNT_FEDERATION_APP_ID")) != "" {
				found = append(found, tool)
			}
			continue
		}
		if _, err := os.Stat(importSource(ios, tool)); err == nil {
			found = append(found, tool)
		}
	}
	return found
}

// readImport reads tool's settings into profiles.
func readImport(ios *IOStreams, tool string) ([]importedProfile, error) {
	switch tool {
	case "saml2aws":
		return importSAML2AWS(importSource(ios, tool))
	case "gimme-aws-creds":
		return importGimme(importSource(ios, tool))
	case "okta-aws-cli":
		return importOktaAWSCLI(ios)
	case "okta-aws-cred-helper":
		return importCredHelper(importSource(ios, tool))
	}
	return nil, fmt.Errorf("--from %q: choose one of %s", tool, strings.Join(importTools, ", "))
}

func readINI(path string) (*awsfile.File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: nothing to import", path)
	}
	if err != nil {
		return nil, err
	}
	return awsfile.Parse(path, data)
}

// orgOf is the scheme and host of an app link: the org it lives on.
func orgOf(link string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || u.Host == "" || u.Scheme == "" {
		return "", fmt.Errorf("%q is not an absolute URL", link)
	}
	return u.Scheme + "://" + u.Host, nil
}

// mfaOf maps another tool's MFA names to oktafed's.
func mfaOf(v string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "auto":
		return "", true
	case "push", "okta verify push":
		return "push", true
	case "totp", "token:software:totp", "google", "okta verify totp":
		return "totp", true
	case "sms":
		return "sms", true
	case "email":
		return "email", true
	case "call", "voice":
		return "call", true
	}
	return "", false
}

// durationOf reads seconds ("3600") or a Go duration.
func durationOf(v string) (config.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		return 0, true
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return config.Duration(time.Duration(n) * time.Second), true
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return config.Duration(d), true
	}
	return 0, false
}

// setMFA and setDuration fill p from another tool's value, noting what
// could not be read.
func (ip *importedProfile) setMFA(key, v string) {
	if m, ok := mfaOf(v); ok {
		if m != "" && !contains(config.MFAMethods, m) {
			ip.skipped = append(ip.skipped, fmt.Sprintf("%s = %s (oktafed asks which factor at login)", key, v))
			return
		}
		ip.profile.MFA = m
		return
	}
	ip.skipped = append(ip.skipped, fmt.Sprintf("%s = %s (not an MFA kind oktafed knows; it asks at login)", key, v))
}

func (ip *importedProfile) setDuration(key, v string) {
	if d, ok := durationOf(v); ok {
		ip.profile.Duration = d
		return
	}
	ip.skipped = append(ip.skipped, fmt.Sprintf("%s = %s (not a number of seconds)", key, v))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// importSAML2AWS reads ~/.saml2aws: one INI section per account, with
// url (the AWS app link), username, provider, mfa, role_arn, region,
// aws_session_duration. saml2aws keeps the password in its own keychain
// entry, which oktafed does not read.
func importSAML2AWS(path string) ([]importedProfile, error) {
	f, err := readINI(path)
	if err != nil {
		return nil, err
	}
	var out []importedProfile
	for _, s := range f.Sections() {
		get := func(k string) string { v, _ := s.Get(k); return strings.TrimSpace(v) }
		name := s.Name()
		if p := get("provider"); p != "" && !strings.EqualFold(p, "okta") {
			out = append(out, importedProfile{name: name, skipped: []string{fmt.Sprintf("the whole account: provider %s is not Okta", p)}})
			continue
		}
		ip := importedProfile{name: name}
		link := get("url")
		org, err := orgOf(link)
		if err != nil {
			return nil, fmt.Errorf("%s [%s] url: %w", path, name, err)
		}
		ip.profile = config.Profile{OrgURL: org, AppURL: link, Username: get("username"), Region: get("region"), Role: get("role_arn")}
		ip.setMFA("mfa", get("mfa"))
		ip.setDuration("aws_session_duration", get("aws_session_duration"))
		if v := get("aws_profile"); v != "" {
			ip.skipped = append(ip.skipped, fmt.Sprintf("aws_profile = %s (oktafed names AWS profiles by profile_template, one per role)", v))
		}
		if strings.EqualFold(get("skip_verify"), "true") {
			ip.skipped = append(ip.skipped, "skip_verify = true (oktafed always verifies TLS)")
		}
		ip.skipped = append(ip.skipped, "the password in saml2aws's keychain entry (oktafed asks for it once; keep it with `oktafed init --save-password`)")
		out = append(out, ip)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no accounts to import", path)
	}
	return out, nil
}

// importGimme reads ~/.okta_aws_login_config: INI sections, each
// inheriting the DEFAULT section's keys (okta_org_url, okta_username,
// app_url, aws_rolename, preferred_mfa_type, aws_default_duration,
// client_id, …).
func importGimme(path string) ([]importedProfile, error) {
	f, err := readINI(path)
	if err != nil {
		return nil, err
	}
	def := f.Section("DEFAULT")
	var out []importedProfile
	for _, s := range f.Sections() {
		get := func(k string) string {
			if v, ok := s.Get(k); ok {
				return strings.TrimSpace(v)
			}
			if def != nil {
				v, _ := def.Get(k)
				return strings.TrimSpace(v)
			}
			return ""
		}
		name := s.Name()
		if name == "DEFAULT" {
			name = config.DefaultProfile
		}
		ip := importedProfile{name: name}
		org := strings.TrimRight(get("okta_org_url"), "/")
		link := get("app_url")
		if org == "" && link != "" {
			org, _ = orgOf(link)
		}
		if org == "" {
			return nil, fmt.Errorf("%s [%s] has no okta_org_url", path, s.Name())
		}
		ip.profile = config.Profile{OrgURL: org, AppURL: link, Username: get("okta_username"), OIDCClientID: get("client_id")}
		if link == "" {
			ip.skipped = append(ip.skipped, "no app_url (gimme-aws-creds finds the app through its own server; give the AWS app's embed link with `oktafed init --app-url …`)")
		}
		switch r := get("aws_rolename"); {
		case r == "" || strings.EqualFold(r, "all"):
			if r != "" {
				ip.profile.Role = "all"
			}
		case strings.Contains(r, ","):
			ip.skipped = append(ip.skipped, fmt.Sprintf("aws_rolename = %s (several ARNs: give a /regex/ with `oktafed init --role`)", r))
		default:
			ip.profile.Role = r
		}
		ip.setMFA("preferred_mfa_type", get("preferred_mfa_type"))
		ip.setDuration("aws_default_duration", get("aws_default_duration"))
		for _, k := range []string{"device_token", "gimme_creds_server", "okta_auth_server", "cred_profile", "output_format", "aws_appname"} {
			if v := get(k); v != "" {
				ip.skipped = append(ip.skipped, k+" (gimme-aws-creds' own setting)")
			}
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no sections to import", path)
	}
	return out, nil
}

// importOktaAWSCLI reads okta-aws-cli's environment: the org domain, the
// OIDC app's client id and the AWS Account Federation app's id (the names
// before and after its v2 renaming), the role, the session duration and
// the region. It signs in with the device flow, as oktafed's sign_in:
// device does.
func importOktaAWSCLI(ios *IOStreams) ([]importedProfile, error) {
	env := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(ios.getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	domain := env("OKTA_AWSCLI_ORG_DOMAIN", "OKTA_ORG_DOMAIN")
	appID := env("OKTA_AWSCLI_AWS_ACCOUNT_FEDERATION_APP_ID", "OKTA_AWS_ACCOUNT_FEDERATION_APP_ID")
	if domain == "" || appID == "" {
		return nil, errors.New("okta-aws-cli's settings are not in the environment: set OKTA_AWSCLI_ORG_DOMAIN and OKTA_AWSCLI_AWS_ACCOUNT_FEDERATION_APP_ID as for okta-aws-cli, then run this again")
	}
	org := normalizeOrgURL(domain)
	ip := importedProfile{name: config.DefaultProfile}
	ip.profile = config.Profile{
		OrgURL: org, AppURL: org + "/home/amazon_aws/" + url.PathEscape(appID) + "/272",
		OIDCClientID: env("OKTA_AWSCLI_OIDC_CLIENT_ID", "OKTA_OIDC_CLIENT_ID"), SignIn: "device",
		Role: env("OKTA_AWSCLI_IAM_ROLE"), Region: env("OKTA_AWSCLI_AWS_REGION"), Username: env("OKTA_USERNAME"),
	}
	ip.setDuration("OKTA_AWSCLI_SESSION_DURATION", env("OKTA_AWSCLI_SESSION_DURATION"))
	for _, k := range []string{"OKTA_AWSCLI_IAM_IDP", "OKTA_AWSCLI_PROFILE", "OKTA_AWSCLI_FORMAT", "OKTA_AWSCLI_OPEN_BROWSER_COMMAND"} {
		if v := env(k); v != "" {
			ip.skipped = append(ip.skipped, fmt.Sprintf("%s = %s (oktafed takes every IdP the assertion names and writes one AWS profile per role)", k, v))
		}
	}
	if home := ios.getenv("HOME"); home != "" {
		if _, err := os.Stat(filepath.Join(home, ".okta", "okta.yaml")); err == nil {
			ip.skipped = append(ip.skipped, "the IdP and role labels in ~/.okta/okta.yaml (oktafed names profiles by account alias and role name)")
		}
	}
	return []importedProfile{ip}, nil
}

// importCredHelper reads okta-aws-cred-helper's settings.json: sso_url
// (the AWS app's SSO URL, which is also a link oktafed can open),
// region, user_name, and the password and TOTP seed it keeps in plain
// text, which go to the keyring.
func importCredHelper(path string) ([]importedProfile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: nothing to import", path)
	}
	if err != nil {
		return nil, err
	}
	var j struct {
		SSOURL   string `json:"sso_url"`
		Region   string `json:"region"`
		UserName string `json:"user_name"`
		Password string `json:"password"`
		TOTP     string `json:"google_2fa_totp"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		// The error of encoding/json names no value, so no secret.
		return nil, fmt.Errorf("%s is not the JSON okta-aws-cred-helper writes: %v", path, err)
	}
	org, err := orgOf(j.SSOURL)
	if err != nil {
		return nil, fmt.Errorf("%s sso_url: %w", path, err)
	}
	ip := importedProfile{name: config.DefaultProfile, password: j.Password, totpSeed: strings.TrimSpace(j.TOTP)}
	ip.profile = config.Profile{OrgURL: org, AppURL: strings.TrimSpace(j.SSOURL), Region: strings.TrimSpace(j.Region), Username: strings.TrimSpace(j.UserName)}
	if ip.totpSeed != "" {
		ip.profile.MFA = "totp"
	}
	ip.skipped = append(ip.skipped, "the 12-hour session okta-aws-cred-helper asks for (oktafed asks for what the app and each role allow; set --duration to change it)")
	return []importedProfile{ip}, nil
}

// runImport writes oktafed profiles from opts.from's settings into cfg:
// each checked as init checks a profile, none replacing one that exists;
// stored secrets go to the keyring.
func runImport(ctx context.Context, ios *IOStreams, opts *initOptions, cfg *config.File, path string) error {
	ps, err := readImport(ios, opts.from)
	if err != nil {
		return err
	}
	type done struct {
		From    string   `json:"from"`
		Profile string   `json:"profile,omitempty"`
		Secrets []string `json:"secretsMoved,omitempty"`
		Skipped []string `json:"notCarriedOver,omitempty"`
	}
	var report []done
	var secrets secretStore
	for _, ip := range ps {
		d := done{From: ip.name, Skipped: ip.skipped}
		if ip.profile.OrgURL == "" {
			report = append(report, d)
			continue
		}
		name := ip.name
		if opts.profile != "" && len(ps) == 1 {
			name = opts.profile
		}
		if config.CheckAWSProfileName(name) != nil {
			name = suggestProfileName(name)
		}
		if _, exists := cfg.Profiles[name]; exists {
			return fmt.Errorf("oktafed already has a profile %s: import into another with `oktafed init --from %s --profile NAME`, or remove it from %s first", name, opts.from, path)
		}
		p := ip.profile
		p.Name = name
		p.OrgURL = normalizeOrgURL(p.OrgURL)
		if err := p.Validate(); err != nil {
			return fmt.Errorf("%s %s: %w", opts.from, ip.name, err)
		}
		if err := p.CheckNames(); err != nil {
			return fmt.Errorf("%s %s: %w", opts.from, ip.name, err)
		}
		if err := p.CheckAppLink(); err != nil {
			return fmt.Errorf("%s %s: %w", opts.from, ip.name, err)
		}
		if ip.password != "" || ip.totpSeed != "" {
			if secrets == nil {
				if secrets, err = openSecrets(ios); err != nil {
					return err
				}
			}
			if ip.password != "" {
				if err := secrets.Set(ctx, name, secretPassword, ip.password); err != nil {
					return err
				}
				d.Secrets = append(d.Secrets, "password")
			}
			if ip.totpSeed != "" {
				if err := secrets.Set(ctx, name, secretTOTP, ip.totpSeed); err != nil {
					return err
				}
				d.Secrets = append(d.Secrets, "TOTP seed")
			}
		}
		cfg.Profiles[name] = &p
		d.Profile = name
		report = append(report, d)
	}
	if err := cfg.Save(path); err != nil {
		return err
	}
	if opts.output == "json" {
		return json.NewEncoder(ios.Out).Encode(map[string]any{"config": path, "imported": report})
	}
	src := importSource(ios, opts.from)
	for _, d := range report {
		if d.Profile == "" {
			fmt.Fprintf(ios.ErrOut, "%s %s %s was not imported:\n", colorize(ios, cyan, "!"), opts.from, d.From)
		} else {
			fmt.Fprintf(ios.ErrOut, "%s Imported %s %s as oktafed profile %s (in %s)\n", colorize(ios, green, "✓"), opts.from, d.From, d.Profile, path)
		}
		if len(d.Secrets) > 0 {
			fmt.Fprintf(ios.ErrOut, "  Moved to the keyring: %s. They are still in plain text in %s: delete them there once you no longer use %s.\n", strings.Join(d.Secrets, " and "), src, opts.from)
		}
		if len(d.Skipped) > 0 {
			fmt.Fprintf(ios.ErrOut, "  Not carried over:\n")
			for _, s := range d.Skipped {
				fmt.Fprintf(ios.ErrOut, "    - %s\n", s)
			}
		}
		if d.Profile != "" {
			fmt.Fprintf(ios.ErrOut, "  Next: oktafed login %s\n", strings.TrimSpace(profileArg(d.Profile)))
		}
	}
	return nil
}
