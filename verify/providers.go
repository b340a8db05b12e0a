package verify

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// providerBuilder holds what building one configured provider needs; each
// provider type has its method below, which sets the issuer and where the
// keys (or the introspection answers) come from.
type providerBuilder struct {
	pc      ProviderConfig
	p       *provider
	f       *fetcher // with the provider's own redirect hosts
	kc      KeyCache
	kl      keyLimits
	maxKeys int
	names   claimNames
}

func buildProvider(pc ProviderConfig, f *fetcher, kc KeyCache, lim Limits, names claimNames) (*provider, error) {
	p := &provider{name: pc.Name, audiences: slices.Clone(pc.Audiences), types: slices.Clone(pc.Types)}
	if p.name == "" {
		p.name = pc.Type
	}
	if len(pc.RedirectHosts) > 0 {
		pf := *f
		pf.redirectHosts = slices.Clone(pc.RedirectHosts)
		f = &pf
	}
	b := &providerBuilder{pc: pc, p: p, f: f, kc: kc, kl: keyLimits{maxRSABits: lim.MaxRSABits}, maxKeys: lim.MaxKeys, names: names}
	var err error
	switch pc.Type {
	case ProviderOkta:
		err = b.okta()
	case ProviderAuth0:
		err = b.auth0()
	case ProviderAzure:
		err = b.azure()
	case ProviderOIDC:
		err = b.oidc()
	case ProviderStatic:
		err = b.static()
	case ProviderIntrospection:
		err = b.introspection()
	default:
		err = fmt.Errorf("unknown provider type %q", pc.Type)
	}
	if err != nil {
		return nil, err
	}
	if pc.BaseURL != "" {
		if err := checkURL(pc.BaseURL); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// remote is a key set fetched from the URL resolve returns.
func (b *providerBuilder) remote(resolve func(context.Context) (string, error)) *remoteKeys {
	return &remoteKeys{name: b.p.name, resolve: resolve, f: b.f, cfg: b.kc, lim: b.kl, maxKeys: b.maxKeys}
}

// fixedURL resolves to u, always.
func fixedURL(u string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return u, nil }
}

// domainBase is BaseURL when set, else https:// and the configured
// domain (Okta, Auth0), which is then required.
func (b *providerBuilder) domainBase(kind string) (string, error) {
	if base := trimSlash(b.pc.BaseURL); base != "" {
		return base, nil
	}
	if b.pc.Domain == "" {
		return "", fmt.Errorf("%s: domain is required", kind)
	}
	d, err := domainHost(kind, b.pc.Domain)
	if err != nil {
		return "", err
	}
	return "https://" + d, nil
}

// okta: a custom authorization server, or the org server when allowed.
func (b *providerBuilder) okta() error {
	base, err := b.domainBase("okta")
	if err != nil {
		return err
	}
	if id := b.pc.AuthServerID; id != "" && id != "org" {
		b.p.issuer = base + "/oauth2/" + id
		b.p.keys = b.remote(fixedURL(b.p.issuer + "/v1/keys"))
		b.p.okta = true
		return nil
	}
	if !b.pc.AllowOrgServer {
		return errors.New("okta: the org authorization server is refused unless allowed (OKTA_ALLOW_ORG_SERVER); set AuthServerID to a custom server such as \"default\"")
	}
	if b.pc.ClientID == "" {
		return errors.New("okta: the org authorization server's access tokens can only be validated by Okta (introspect them, or use a custom authorization server such as \"default\"); " +
			"to accept its ID tokens instead, set client_id to the client they are issued to (OKTA_CLIENT_IDS, with that one client)")
	}
	b.p.issuer = base
	b.p.keys = b.remote(fixedURL(base + "/oauth2/v1/keys"))
	// An ID token's audience is its client: that, and nothing else.
	b.p.orgClient = b.pc.ClientID
	b.p.audiences = []string{b.pc.ClientID}
	return nil
}

// auth0: the tenant's domain is the issuer, with its trailing slash.
func (b *providerBuilder) auth0() error {
	base, err := b.domainBase("auth0")
	if err != nil {
		return err
	}
	b.p.issuer = base + "/"
	b.p.keys = b.remote(fixedURL(base + "/.well-known/jwks.json"))
	return nil
}

// azure: one tenant's v2.0 endpoint; multi-tenant aliases have no fixed
// issuer to check.
func (b *providerBuilder) azure() error {
	switch strings.ToLower(b.pc.Tenant) {
	case "":
		return errors.New("azure: tenant is required")
	case "common", "organizations", "consumers":
		return errors.New("azure: a tenant id is required; multi-tenant aliases have no fixed issuer")
	}
	base := trimSlash(b.pc.BaseURL)
	if base == "" {
		base = "https://login.microsoftonline.com"
	}
	b.p.issuer = base + "/" + b.pc.Tenant + "/v2.0"
	b.p.keys = b.remote(fixedURL(base + "/" + b.pc.Tenant + "/discovery/v2.0/keys"))
	return nil
}

// oidc: any issuer, its keys from JWKSURL or from its discovery document.
func (b *providerBuilder) oidc() error {
	pc := b.pc
	if pc.Issuer == "" {
		return errors.New("oidc: issuer is required")
	}
	if err := checkURL(pc.Issuer); err != nil {
		return err
	}
	b.p.issuer = pc.Issuer
	if pc.JWKSURL != "" {
		b.p.keys = b.remote(fixedURL(pc.JWKSURL))
		return nil
	}
	du := pc.DiscoveryURL
	if du == "" {
		du = trimSlash(pc.Issuer) + "/.well-known/openid-configuration"
	}
	d := &discovery{url: du, issuer: pc.Issuer, f: b.f}
	b.p.keys = b.remote(func(ctx context.Context) (string, error) {
		u, err := d.jwksURI(ctx)
		if err != nil {
			d.forget()
		}
		return u, err
	})
	return nil
}

// static: keys from files (reloaded) or inline, loaded now so a bad key
// fails at start.
func (b *providerBuilder) static() error {
	pc := b.pc
	if pc.Issuer == "" {
		return errors.New("static: issuer is required")
	}
	if len(pc.KeyFiles) == 0 && pc.Keys == "" {
		return errors.New("static: key_files or keys is required")
	}
	b.p.issuer = pc.Issuer
	iv := pc.ReloadInterval
	if iv <= 0 {
		iv = DefaultReloadInterval
	}
	fk := &fileKeys{name: b.p.name, paths: pc.KeyFiles, inline: []byte(pc.Keys), interval: iv, f: b.f, lim: b.kl, maxKeys: b.maxKeys}
	if err := fk.reload(); err != nil {
		return err
	}
	b.p.keys = fk
	return nil
}

// introspection: RFC 7662 with a client secret or a private_key_jwt key,
// answers cached (refusals more briefly).
func (b *providerBuilder) introspection() error {
	pc := b.pc
	if pc.ClientID == "" {
		return errors.New("introspection: client_id is required")
	}
	b.p.issuer = pc.Issuer
	secret, err := introspectionSecret(pc)
	if err != nil {
		return err
	}
	pc.ClientSecret = secret
	in := &introspector{name: b.p.name, clientID: pc.ClientID, secret: secret, keyID: pc.PrivateKeyID, f: b.f, names: b.names,
		posTTL: pc.IntrospectTTL, negTTL: pc.NegativeTTL}
	if in.posTTL <= 0 {
		in.posTTL = DefaultIntrospectTTL
	}
	if in.negTTL <= 0 {
		in.negTTL = DefaultIntrospectNegativeTTL
	}
	in.issuer, in.okta = pc.Issuer, oktaEndpoint(pc)
	conc := pc.IntrospectConcurrency
	if conc <= 0 {
		conc = DefaultIntrospectConcurrency
	}
	rate := pc.IntrospectPerSecond
	if rate <= 0 {
		rate = DefaultIntrospectPerSecond
	}
	in.slots = make(chan struct{}, conc)
	in.bucket = tokenBucket{rate: rate, burst: max(rate, 1), level: max(rate, 1)}
	in.pos = newTTLCache[*claims](defaultIntrospectCacheSize)
	in.neg = newTTLCache[struct{}](defaultIntrospectCacheSize)
	signer, err := introspectionKey(pc)
	if err != nil {
		return err
	}
	in.signer = signer
	if in.endpoint, err = b.introspectionEndpoint(); err != nil {
		return err
	}
	b.p.intro = in
	return nil
}

// maxSecretFileBytes bounds client_secret_file: a wrong path (a log, a
// device) fails fast instead of becoming a secret.
const maxSecretFileBytes = 64 << 10

// introspectionSecret returns ClientSecret or the content of
// ClientSecretFile. Errors name the file, never its content.
func introspectionSecret(pc ProviderConfig) (string, error) {
	if pc.ClientSecretFile == "" {
		return pc.ClientSecret, nil
	}
	if pc.ClientSecret != "" {
		return "", errors.New("introspection: set client_secret or client_secret_file, not both")
	}
	f, err := os.Open(pc.ClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("introspection: client_secret_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("introspection: client_secret_file %s: %w", pc.ClientSecretFile, err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("introspection: client_secret_file %s: larger than %d bytes; is it the right file?", pc.ClientSecretFile, maxSecretFileBytes)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("introspection: client_secret_file %s is empty", pc.ClientSecretFile)
	}
	return s, nil
}

// introspectionKey reads the private_key_jwt key from PrivateKeyFile or
// PrivateKeyPEM; without one, a client secret is required.
func introspectionKey(pc ProviderConfig) (crypto.Signer, error) {
	keyPEM := []byte(pc.PrivateKeyPEM)
	if pc.PrivateKeyFile != "" {
		b, err := os.ReadFile(pc.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		keyPEM = b
	}
	if len(keyPEM) > 0 {
		return parsePrivateKey(keyPEM)
	}
	if pc.ClientSecret == "" {
		return nil, errors.New("introspection: client_secret or a private key is required")
	}
	return nil, nil
}

// introspectionEndpoint: the discovery document's introspection_endpoint
// wins over a configured IntrospectURL, as the issuer's own statement of
// where to ask.
func (b *providerBuilder) introspectionEndpoint() (func(context.Context) (string, error), error) {
	pc := b.pc
	switch {
	case pc.DiscoveryURL != "":
		d := &discovery{url: pc.DiscoveryURL, issuer: pc.Issuer, f: b.f}
		return func(ctx context.Context) (string, error) {
			doc, err := d.get(ctx)
			if err != nil {
				return "", err
			}
			if doc.IntrospectionEndpoint == "" {
				return "", errors.New("discovery document has no introspection_endpoint")
			}
			return doc.IntrospectionEndpoint, nil
		}, nil
	case pc.IntrospectURL != "":
		if err := checkURL(pc.IntrospectURL); err != nil {
			return nil, err
		}
		return fixedURL(pc.IntrospectURL), nil
	}
	return nil, errors.New("introspection: introspect_url or discovery_url is required")
}
