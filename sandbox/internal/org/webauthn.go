package org

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// WebAuthn (FIDO2 security keys, platform authenticators such as Touch ID
// and Windows Hello) is verified with go-webauthn: the client data's
// origin and challenge, the RP ID hash, the signature over the
// authenticator data with the public key registered for the factor, the
// sign counter (a counter that does not grow means a cloned key and is
// refused) and the user-verification flag when the factor's policy
// requires it.
//
// Browsers refuse WebAuthn on IP-address origins, so the org must be
// reached by a host name (the sandbox's host: localhost) for a security
// key to work; the RP ID is that host name.

// webauthnState holds the org's relying party and every registered
// credential, per factor. Guarded by Org.mu.
type webauthnState struct {
	rp    *webauthn.WebAuthn
	rpErr error
	creds map[string][]webauthn.Credential // factor id → credentials
}

func newWebAuthnState(o *Org) *webauthnState {
	s := &webauthnState{creds: map[string][]webauthn.Credential{}}
	host := o.baseURL.Hostname()
	if protocol.ValidateRPID(host) != nil || strings.Trim(host, "0123456789.:[]") == "" {
		s.rpErr = fmt.Errorf("security keys need the org to be reached by a host name, not the IP address %s (start the sandbox with host: localhost)", host)
		return s
	}
	s.rp, s.rpErr = webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: o.name,
		RPOrigins:     []string{o.base},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
	return s
}

// webauthnUser is a user as go-webauthn sees it, with one factor's
// credentials.
type webauthnUser struct {
	u     *user
	creds []webauthn.Credential
}

func (w webauthnUser) WebAuthnID() []byte   { return []byte(w.u.id) }
func (w webauthnUser) WebAuthnName() string { return w.u.login }
func (w webauthnUser) WebAuthnDisplayName() string {
	return strings.TrimSpace(w.u.first + " " + w.u.last)
}
func (w webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// uvRequirement maps the factor's user_verification to WebAuthn's.
func uvRequirement(f *factor) protocol.UserVerificationRequirement {
	switch f.userVerification {
	case "required":
		return protocol.VerificationRequired
	case "discouraged":
		return protocol.VerificationDiscouraged
	}
	return protocol.VerificationPreferred
}

// webauthnFactor returns u's WebAuthn factor, or nil.
func webauthnFactor(u *user) *factor {
	for _, f := range u.factors {
		if f.kind == "webauthn" {
			return f
		}
	}
	return nil
}

// errKeyRejected is any failed ceremony: which check failed goes to the
// log, not to whoever holds the key. The page shows msgKeyRejected.
var errKeyRejected = errors.New("security key not accepted")

const msgKeyRejected = "Your security key was not accepted. Try again with the key you set up for this account."

// beginWebAuthn starts a registration (no credential yet) or an assertion
// for f and records its session data on t. Needs o.mu.
func (o *Org) beginWebAuthn(t *hostedTxn, f *factor) (any, bool, error) {
	ws := o.webauthn
	if ws.rpErr != nil {
		return nil, false, ws.rpErr
	}
	wu := webauthnUser{u: t.user, creds: ws.creds[f.id]}
	uv := uvRequirement(f)
	if len(wu.creds) == 0 {
		creation, sd, err := ws.rp.BeginRegistration(wu,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: uv, ResidentKey: protocol.ResidentKeyRequirementDiscouraged}),
			webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
		if err != nil {
			return nil, false, err
		}
		t.webauthn, t.enrolling = sd, true
		return creation, true, nil
	}
	assertion, sd, err := ws.rp.BeginLogin(wu, webauthn.WithUserVerification(uv))
	if err != nil {
		return nil, false, err
	}
	t.webauthn, t.enrolling = sd, false
	return assertion, false, nil
}

// finishWebAuthn checks the browser's answer to the ceremony begun on t.
// Needs o.mu.
func (o *Org) finishWebAuthn(t *hostedTxn, f *factor, body []byte) error {
	ws := o.webauthn
	sd := t.webauthn
	t.webauthn = nil // a challenge is answered once
	if ws.rpErr != nil {
		return ws.rpErr
	}
	if sd == nil {
		return errors.New("no security key challenge is open: start again")
	}
	wu := webauthnUser{u: t.user, creds: ws.creds[f.id]}
	if t.enrolling {
		parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
		if err != nil {
			o.log.Info("webauthn registration refused", "login", t.user.login, "err", err)
			return errKeyRejected
		}
		cred, err := ws.rp.CreateCredential(wu, *sd, parsed)
		if err != nil {
			o.log.Info("webauthn registration refused", "login", t.user.login, "err", err)
			return errKeyRejected
		}
		ws.creds[f.id] = append(ws.creds[f.id], *cred)
		o.log.Info("security key registered", "login", t.user.login, "factor", f.id)
		return nil
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		o.log.Info("webauthn assertion refused", "login", t.user.login, "err", err)
		return errKeyRejected
	}
	cred, err := ws.rp.ValidateLogin(wu, *sd, parsed)
	if err != nil {
		o.log.Info("webauthn assertion refused", "login", t.user.login, "err", err)
		return errKeyRejected
	}
	if cred.Authenticator.CloneWarning {
		o.log.Info("webauthn assertion refused", "login", t.user.login, "err", "sign counter did not increase (cloned key?)")
		return errKeyRejected
	}
	// Keep the new sign counter and flags.
	list := ws.creds[f.id]
	for i := range list {
		if bytes.Equal(list[i].ID, cred.ID) {
			list[i] = *cred
		}
	}
	return nil
}
