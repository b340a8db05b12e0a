package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Security keys in tests are Chromium's virtual authenticators
// (WebAuthn.addVirtualAuthenticator over the DevTools protocol): CTAP2
// over USB, with a PIN or biometric (user verification) that succeeds
// when userVerified is true and fails otherwise. Presence is simulated, so
// navigator.credentials answers at once.

// AddVirtualKey adds a virtual security key to the tab of the chromedp
// context ctx, holding creds (copies of keys registered elsewhere).
func AddVirtualKey(ctx context.Context, userVerified bool, creds ...*webauthn.Credential) (webauthn.AuthenticatorID, error) {
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		return "", fmt.Errorf("WebAuthn.enable: %w", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                webauthn.Ctap2versionCtap21,
		Transport:                   webauthn.AuthenticatorTransportUsb,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              userVerified,
		AutomaticPresenceSimulation: true,
		// cdproto always sends generateCmtgKeyOnNextOperation with a
		// credential, which Chromium refuses unless the key has the extension.
		HasCmtgKey: true,
	}})
	if err != nil {
		return "", fmt.Errorf("WebAuthn.addVirtualAuthenticator: %w", err)
	}
	for _, c := range creds {
		// getCredentials reports trust-group key fields that addCredential
		// refuses for an authenticator without that extension.
		cp := *c
		cp.CmtgKeys, cp.ActiveCmtgKeyIndex, cp.GenerateCmtgKeyOnNextOperation = nil, nil, false
		c := &cp
		if _, err := chromedp.Call(ctx, webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: res.AuthenticatorID, Credential: c}); err != nil {
			return "", fmt.Errorf("WebAuthn.addCredential: %w", err)
		}
	}
	return res.AuthenticatorID, nil
}

// ForgedKey returns a credential with the id and user of c but a new
// private key: a security key that claims to be the registered one, whose
// signatures the org must refuse.
func ForgedKey(c *webauthn.Credential) (*webauthn.Credential, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	f := *c
	f.PrivateKey = der
	f.SignCount = c.SignCount + 100
	return &f, nil
}

// FillSignIn waits for the org's hosted sign-in page in the tab of ctx
// and submits login and password, as a person would type them.
func FillSignIn(ctx context.Context, login, password string) error {
	return chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), login),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("submit")),
	)
}

// RegisterSecurityKey signs login in on the org's hosted sign-in page in
// a headless Chromium of its own, where the org asks to set up a security
// key; a virtual authenticator registers one. It returns the registered
// credential, private key included, for AddVirtualKey in another browser.
// appURL is a link whose sign-in ends the registration (the AWS app's).
func RegisterSecurityKey(t testing.TB, appURL, login, password string) *webauthn.Credential {
	t.Helper()
	bin := Chromium(t)
	dir := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.UserDataDir(dir), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		// The app page posts the SAML response to AWS after the sign-in:
		// resolve nothing but localhost, so it cannot leave the machine.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost"))
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(tab, 90*time.Second)
	defer cancel()
	id, err := AddVirtualKey(tab, true)
	if err != nil {
		t.Fatalf("register a security key: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(appURL)); err != nil {
		t.Fatalf("register a security key: open %s: %v", appURL, err)
	}
	if err := FillSignIn(ctx, login, password); err != nil {
		t.Fatalf("register a security key: sign in: %v", err)
	}
	// The org opens its session once it has verified the new key.
	u, _ := url.Parse(appURL)
	org := u.Scheme + "://" + u.Host + "/"
	for {
		cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{org}})
		if err != nil {
			t.Fatalf("register a security key: read cookies: %v", err)
		}
		found := false
		for _, c := range cookies.Cookies {
			found = found || c.Name == "sid"
		}
		if found {
			break
		}
		select {
		case <-ctx.Done():
			msg, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("register a security key: no Okta session after 90 s; the page shows:\n%s", msg)
		case <-time.After(100 * time.Millisecond):
		}
	}
	creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil || len(creds.Credentials) != 1 {
		t.Fatalf("register a security key: credentials %v, %v", creds, err)
	}
	return creds.Credentials[0]
}
