package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/oktafed/oktafed/verify"
)

// exitCodeUndecided ends "token verify" when the token could be neither
// accepted nor refused (the issuer's keys were unreachable), so scripts can
// tell "retry later" from "this token is bad" (exit 1).
const exitCodeUndecided = 2

// maxTokenInput bounds what is read from standard input: far above any
// real token, small enough that a wrong pipe cannot eat memory.
const maxTokenInput = 1 << 20

func newTokenCmd(ios *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Inspect and verify OAuth access tokens (Okta and other OIDC issuers)",
		Long: `Inspect and verify OAuth 2.0 bearer tokens, as a service protected by the
verify package would.

A token is a credential: prefer '-' (standard input) to an argument, which
lands in your shell history. oktafed never prints the token itself.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newTokenDecodeCmd(ios), newTokenVerifyCmd(ios))
	return cmd
}

// readTokenArg returns the token named by args: the argument itself, or
// standard input for "-" or no argument. A "Bearer " prefix (a pasted
// Authorization header) is accepted and removed.
func readTokenArg(ios *IOStreams, args []string) (string, error) {
	var tok string
	if len(args) == 1 && args[0] != "-" {
		tok = args[0]
	} else {
		if len(args) == 0 && ios.InTTY {
			return "", errors.New("no token: pass it as an argument, or pipe it in with '-' (e.g. pbpaste | oktafed token decode -)")
		}
		b, err := io.ReadAll(io.LimitReader(ios.In, maxTokenInput+1))
		if err != nil {
			return "", fmt.Errorf("read token from standard input: %w", err)
		}
		if len(b) > maxTokenInput {
			return "", fmt.Errorf("standard input is larger than %d bytes; it does not hold one token", maxTokenInput)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if scheme, rest, ok := strings.Cut(tok, " "); ok && strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(rest)
	}
	if tok == "" {
		return "", errors.New("the token is empty")
	}
	return tok, nil
}

func checkOutputFlag(output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("--output %q: choose text or json", output)
	}
	return nil
}

// relative describes t against now the way a person reads an expiry.
func relative(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return "in " + d.String()
	case d < 0:
		return "expired " + (-d).String() + " ago"
	}
	return "now"
}

// unixClaim reads a NumericDate claim from an untrusted, decoded claims
// map; ok is false when it is absent or not a number.
func unixClaim(m map[string]any, name string) (time.Time, bool) {
	n, ok := m[name].(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// decodeJSON is the --output json document of token decode.
type decodeJSON struct {
	// Verified is always false: the field is there so that a script
	// reading the document cannot mistake it for a verification result.
	Verified       bool           `json:"verified"`
	Header         map[string]any `json:"header"`
	Claims         map[string]any `json:"claims"`
	SignatureBytes int            `json:"signatureBytes"`
	Expires        *time.Time     `json:"expires,omitempty"`
	ExpiresIn      string         `json:"expiresIn,omitempty"`
	Expired        bool           `json:"expired"`
	IssuedAt       *time.Time     `json:"issuedAt,omitempty"`
}

const unverifiedBanner = "UNVERIFIED: decoded without checking the signature, issuer, audience or expiry. Do not trust these values; use 'oktafed token verify' for that."

func newTokenDecodeCmd(ios *IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "decode [TOKEN|-]",
		Short: "Show a JWT's header and claims without verifying anything",
		Long: `Show a JWT's header and claims, and when it expires, without checking its
signature or anything else: anyone can make a token that decodes to any
claims. Use 'oktafed token verify' to know whether to trust it.

The token comes from the argument, or from standard input with '-' (or no
argument when standard input is not a terminal).`,
		Example: `  pbpaste | oktafed token decode -
  oktafed token decode --output json - < token.txt | jq .claims.scp`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFlag(output); err != nil {
				return err
			}
			tok, err := readTokenArg(ios, args)
			if err != nil {
				return err
			}
			d, err := verify.Decode(tok)
			if err != nil {
				return fmt.Errorf("cannot decode the token: %w", err)
			}
			now := time.Now()
			doc := decodeJSON{Header: d.Header, Claims: d.Claims, SignatureBytes: len(d.Signature)}
			exp, hasExp := unixClaim(d.Claims, "exp")
			if hasExp {
				doc.Expires = &exp
				doc.ExpiresIn = relative(exp, now)
				doc.Expired = !exp.After(now)
			}
			if iat, ok := unixClaim(d.Claims, "iat"); ok {
				doc.IssuedAt = &iat
			}
			if output == "json" {
				return writeJSON(ios.Out, doc)
			}
			fmt.Fprintln(ios.ErrOut, colorize(ios, red, unverifiedBanner))
			fmt.Fprintln(ios.Out, colorize(ios, bold, "Header (unverified):"))
			if err := writeJSON(ios.Out, d.Header); err != nil {
				return err
			}
			fmt.Fprintln(ios.Out, colorize(ios, bold, "Claims (unverified):"))
			if err := writeJSON(ios.Out, d.Claims); err != nil {
				return err
			}
			fmt.Fprintf(ios.Out, "Signature: %d bytes, not checked\n", len(d.Signature))
			if hasExp {
				fmt.Fprintf(ios.Out, "Expires:   %s (%s)\n", exp.Local().Format(time.RFC3339), doc.ExpiresIn)
			} else {
				fmt.Fprintln(ios.Out, "Expires:   never (no exp claim; a verifier refuses such a token)")
			}
			if doc.IssuedAt != nil {
				fmt.Fprintf(ios.Out, "Issued:    %s (%s ago)\n", doc.IssuedAt.Local().Format(time.RFC3339), now.Sub(*doc.IssuedAt).Round(time.Second))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type verifyOptions struct {
	output       string
	configFile   string
	issuer       string
	oktaDomain   string
	authServerID string
	jwksURL      string
	pemFiles     []string
	audiences    []string
	scopes       []string
	clientIDs    []string
}

// providerFlags reports whether any flag that names a provider was given.
func (o *verifyOptions) providerFlags() bool {
	return o.issuer != "" || o.oktaDomain != "" || o.jwksURL != "" || len(o.pemFiles) > 0
}

func newTokenVerifyCmd(ios *IOStreams) *cobra.Command {
	var opts verifyOptions
	cmd := &cobra.Command{
		Use:   "verify [TOKEN|-]",
		Short: "Verify an access token against an issuer and print who it names",
		Long: `Verify an access token as a protected API would: signature with the
issuer's published keys, issuer, audience, expiry, and the other policy
checks of the verify package. On success it prints the principal; on failure
the RFC 6750 error an API would answer with, and exits with 1. It exits with
2 when it could not decide (the issuer's keys were unreachable, or the
introspection endpoint refused the configured client credentials).

The issuer comes from, in this order:
  --config FILE            a verify.Config in YAML (providers, policy, limits)
  --okta-domain DOMAIN     an Okta custom authorization server (--auth-server-id,
                           default "default"); a URL such as http://127.0.0.1:8080
                           is accepted for a local server
  --issuer ISS             any OpenID issuer, found by discovery, or with
                           --jwks-url, or with --pem files (PEM, JWK or JWKS;
                           PEM plain or with the kid/alg headers that
                           'oktafed jwk2pem --headers' writes)
  environment              OKTA_DOMAIN or OKTA_BASE_URL, OKTA_AUTH_SERVER_ID,
                           OKTA_AUDIENCE, OKTA_CLIENT_IDS, OKTA_REQUIRED_SCOPES,
                           OKTA_USER_CLAIM, OKTA_LEEWAY, ADMIN_GROUPS, WRITE_GROUPS,
                           READ_ONLY_GROUPS, OKTA_ALLOW_ORG_SERVER
--audience, --scope and --client-id apply over any of them.`,
		Example: `  oktafed token verify --okta-domain example.okta.com --audience api://default - < token.txt
  oktafed token verify --issuer https://login.example.com --audience my-api -
  oktafed token verify --issuer https://idp.example.com --pem keys.pem --audience my-api -
  OKTA_DOMAIN=example.okta.com OKTA_AUDIENCE=api://default oktafed token verify --output json -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFlag(opts.output); err != nil {
				return err
			}
			cfg, err := verifyConfig(ios, &opts)
			if err != nil {
				return err
			}
			tok, err := readTokenArg(ios, args)
			if err != nil {
				return err
			}
			v, err := verify.New(cfg)
			if err != nil {
				return fmt.Errorf("%w (check the provider flags or --config file)", err)
			}
			return runVerify(cmd.Context(), ios, v, tok, opts.output)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "text", "output format: text or json")
	f.StringVar(&opts.configFile, "config", "", "verify.Config YAML file with providers and policy")
	f.StringVar(&opts.issuer, "issuer", "", "exact issuer (iss) of the tokens, for any OpenID provider")
	f.StringVar(&opts.oktaDomain, "okta-domain", "", "Okta org domain (example.okta.com), or a URL for a local server")
	f.StringVar(&opts.authServerID, "auth-server-id", "", `Okta custom authorization server id (default "default")`)
	f.StringVar(&opts.jwksURL, "jwks-url", "", "JWKS address, skipping discovery (needs --issuer)")
	f.StringArrayVar(&opts.pemFiles, "pem", nil, "PEM (plain, or with jwk2pem --headers kid/alg headers), JWK or JWKS file with the issuer's public keys (needs --issuer; repeatable)")
	f.StringSliceVar(&opts.audiences, "audience", nil, "accepted audience (aud), e.g. api://default (repeatable or comma-separated)")
	f.StringSliceVar(&opts.scopes, "scope", nil, "scope every token must carry (repeatable or comma-separated)")
	f.StringSliceVar(&opts.clientIDs, "client-id", nil, "accepted client (cid / client_id / azp) (repeatable or comma-separated)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// verifyConfig builds the verifier configuration from the flags, a config
// file or the environment.
func verifyConfig(ios *IOStreams, o *verifyOptions) (verify.Config, error) {
	var cfg verify.Config
	switch {
	case o.configFile != "":
		if o.providerFlags() || o.authServerID != "" {
			return cfg, errors.New("--config already names the providers; drop --issuer, --okta-domain, --auth-server-id, --jwks-url and --pem")
		}
		var err error
		if cfg, err = loadVerifyConfig(o.configFile); err != nil {
			return cfg, err
		}
	case o.providerFlags():
		pc, err := providerFromFlags(o)
		if err != nil {
			return cfg, err
		}
		cfg.Providers = []verify.ProviderConfig{pc}
	case ios.getenv("OKTA_DOMAIN") != "" || ios.getenv("OKTA_BASE_URL") != "":
		getenv := ios.getenv
		if len(o.audiences) > 0 {
			// The flag wins over OKTA_AUDIENCE, which ConfigFromEnv
			// would otherwise require.
			getenv = func(k string) string {
				if k == "OKTA_AUDIENCE" {
					return strings.Join(o.audiences, ",")
				}
				return ios.getenv(k)
			}
		}
		var err error
		if cfg, err = verify.ConfigFromEnv(getenv); err != nil {
			return cfg, fmt.Errorf("%w (or pass --audience)", err)
		}
	default:
		return cfg, errors.New("no issuer to verify against: pass --okta-domain DOMAIN --audience AUD, --issuer ISS --audience AUD, or --config FILE, or set OKTA_DOMAIN and OKTA_AUDIENCE")
	}
	if len(o.audiences) > 0 {
		cfg.Policy.Audiences = o.audiences
	}
	if len(o.scopes) > 0 {
		cfg.Policy.RequiredScopes = o.scopes
	}
	if len(o.clientIDs) > 0 {
		// The flag wins over OKTA_CLIENT_IDS and a file's client_ids,
		// which an issuer's own list would otherwise keep.
		cfg.Policy.ClientIDs = o.clientIDs
		for i := range cfg.Providers {
			cfg.Providers[i].ClientIDs = nil
		}
	}
	if len(cfg.Policy.Audiences) == 0 && !cfg.Policy.AllowAnyAudience {
		missing := true
		for _, p := range cfg.Providers {
			if len(p.Audiences) > 0 {
				missing = false
			}
		}
		if missing {
			return cfg, errors.New("no accepted audience: pass --audience with the aud your API expects (for Okta's default server, api://default)")
		}
	}
	// One token, one verification: nothing to cache.
	cfg.TokenCache.Disabled = true
	cfg.HTTPClient = httpClientFor(ios)
	return cfg, nil
}

func providerFromFlags(o *verifyOptions) (verify.ProviderConfig, error) {
	switch {
	case o.oktaDomain != "":
		if o.issuer != "" || o.jwksURL != "" || len(o.pemFiles) > 0 {
			return verify.ProviderConfig{}, errors.New("--okta-domain derives the issuer and keys itself; drop --issuer, --jwks-url and --pem")
		}
		as := o.authServerID
		if as == "" {
			as = "default"
		}
		pc := verify.Okta(o.oktaDomain, as)
		if strings.Contains(o.oktaDomain, "://") {
			// A URL names a local or proxied server: keep its scheme and
			// host (plain http is allowed for loopback only).
			u, err := url.Parse(o.oktaDomain)
			if err != nil || u.Host == "" {
				return pc, fmt.Errorf("--okta-domain %q: give a domain such as example.okta.com or a URL such as http://127.0.0.1:8080", o.oktaDomain)
			}
			pc.Domain, pc.BaseURL = u.Host, u.Scheme+"://"+u.Host
		}
		if as == "org" {
			// Only the org server's ID tokens can be checked outside
			// Okta, for the one client they were issued to.
			pc.AllowOrgServer = true
			if len(o.clientIDs) != 1 {
				return pc, errors.New("--auth-server-id org: the org server's access tokens can only be validated by Okta (introspection); to check its ID tokens, name their client with one --client-id")
			}
			pc.ClientID = o.clientIDs[0]
		}
		return pc, nil
	case o.authServerID != "":
		return verify.ProviderConfig{}, errors.New("--auth-server-id needs --okta-domain")
	case o.issuer == "":
		return verify.ProviderConfig{}, errors.New("--jwks-url and --pem need --issuer: the exact iss value your tokens carry")
	case len(o.pemFiles) > 0:
		if o.jwksURL != "" {
			return verify.ProviderConfig{}, errors.New("give either --jwks-url or --pem, not both")
		}
		return verify.StaticKeys(o.issuer, o.pemFiles...), nil
	}
	pc := verify.OIDC(o.issuer)
	pc.JWKSURL = o.jwksURL
	return pc, nil
}

// loadVerifyConfig reads a verify.Config from YAML, refusing unknown keys
// so that a misspelt policy field does not silently loosen the policy.
func loadVerifyConfig(path string) (verify.Config, error) {
	var cfg verify.Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("--config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("--config %s: %w", path, err)
	}
	return cfg, nil
}

// principalJSON is the --output json form of a verified principal.
type principalJSON struct {
	Subject      string         `json:"subject"`
	User         string         `json:"user,omitempty"`
	Issuer       string         `json:"issuer"`
	Provider     string         `json:"provider"`
	ClientID     string         `json:"clientId,omitempty"`
	Audience     []string       `json:"audience"`
	Scopes       []string       `json:"scopes"`
	Groups       []string       `json:"groups"`
	Roles        []string       `json:"roles"`
	Expires      time.Time      `json:"expires"`
	ExpiresIn    string         `json:"expiresIn"`
	IssuedAt     *time.Time     `json:"issuedAt,omitempty"`
	Introspected bool           `json:"introspected"`
	Claims       map[string]any `json:"claims,omitempty"`
}

// verifyResultJSON is the --output json document of token verify.
type verifyResultJSON struct {
	Valid     bool           `json:"valid"`
	Principal *principalJSON `json:"principal,omitempty"`
	// The RFC 6750 side of a failure: what an API would answer.
	Status           int    `json:"status,omitempty"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
	WWWAuthenticate  string `json:"wwwAuthenticate,omitempty"`
	// Detail is the full reason, for the operator, never for clients.
	Detail string `json:"detail,omitempty"`
}

func runVerify(ctx context.Context, ios *IOStreams, v *verify.Verifier, tok, output string) error {
	p, err := v.Verify(ctx, tok)
	now := time.Now()
	if err != nil {
		status, www := verify.Challenge(err, "")
		res := verifyResultJSON{Status: status, WWWAuthenticate: www, Detail: err.Error()}
		code := 1
		var ve *verify.Error
		if errors.As(err, &ve) {
			res.Error, res.ErrorDescription = string(ve.Code), ve.Description
			if res.ErrorDescription == "" {
				res.ErrorDescription = ve.Reason.Error()
			}
			if errors.Is(err, verify.ErrKeysUnavailable) || errors.Is(err, verify.ErrIntrospectionRefused) {
				code = exitCodeUndecided
			}
		}
		if output == "json" {
			if err := writeJSON(ios.Out, res); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(ios.Out, "%s token refused: %s\n", colorize(ios, red, "✗"), res.Detail)
			fmt.Fprintf(ios.Out, "HTTP %d\nWWW-Authenticate: %s\n", status, www)
			if hint := refusalHint(err, v, tok); hint != "" {
				fmt.Fprintln(ios.ErrOut, hint)
			}
			if code == exitCodeUndecided {
				fmt.Fprintln(ios.ErrOut, "The issuer's keys could not be fetched; check the issuer URL and your network, then retry.")
			}
		}
		return &exitError{code: code, err: silentError{}}
	}
	pj := &principalJSON{
		Subject: p.Subject, User: p.User, Issuer: p.Issuer, Provider: p.Provider, ClientID: p.ClientID,
		Audience: nonNil(p.Audience), Scopes: nonNil(p.Scopes), Groups: nonNil(p.Groups), Roles: nonNil(p.Roles),
		Expires: p.Expiry, ExpiresIn: relative(p.Expiry, now), Introspected: p.Introspected,
	}
	if !p.IssuedAt.IsZero() {
		iat := p.IssuedAt
		pj.IssuedAt = &iat
	}
	if output == "json" {
		if c, err := p.Claims(); err == nil {
			pj.Claims = c
		}
		return writeJSON(ios.Out, verifyResultJSON{Valid: true, Principal: pj})
	}
	fmt.Fprintf(ios.Out, "%s valid token\n", colorize(ios, green, "✓"))
	tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("subject", p.Subject)
	if p.User != p.Subject {
		row("user", p.User)
	}
	row("issuer", p.Issuer)
	row("provider", p.Provider)
	row("client", p.ClientID)
	row("audience", strings.Join(p.Audience, " "))
	row("scopes", strings.Join(p.Scopes, " "))
	groups := append([]string(nil), p.Groups...)
	sort.Strings(groups)
	row("groups", strings.Join(groups, " "))
	row("roles", strings.Join(p.Roles, " "))
	row("expires", p.Expiry.Local().Format(time.RFC3339)+" ("+pj.ExpiresIn+")")
	if pj.IssuedAt != nil {
		row("issued", pj.IssuedAt.Local().Format(time.RFC3339))
	}
	if p.Introspected {
		row("checked by", "introspection")
	}
	return tw.Flush()
}

// refusalHint says what to change for the refusals a misconfiguration
// usually causes. It reads the token's claims without trusting them: they
// only serve to point at the mismatch.
func refusalHint(err error, v *verify.Verifier, tok string) string {
	d, derr := verify.Decode(tok)
	if derr != nil {
		return ""
	}
	switch {
	case errors.Is(err, verify.ErrUnknownIssuer):
		iss, _ := d.Claims["iss"].(string)
		return fmt.Sprintf("The token names the issuer %q; this check trusts %s. Point --issuer or --okta-domain/--auth-server-id at the token's issuer if you trust it.",
			iss, strings.Join(quoteAll(v.Issuers()), ", "))
	case errors.Is(err, verify.ErrAudience):
		aud, _ := json.Marshal(d.Claims["aud"])
		return fmt.Sprintf("The token's audience is %s; pass it with --audience if your API is that audience.", aud)
	}
	return ""
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
