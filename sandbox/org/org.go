// Package org holds the sandbox's Okta org: users, groups, factors, the
// Classic authentication API, sessions and the AWS SAML app.
package org

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"

	"github.com/oktafed/oktafed/internal/clock"
)

// Config is the org part of sandbox.yaml.
type Config struct{}

// Options are the org's runtime dependencies.
type Options struct {
	Clock   clock.Clock
	BaseURL string // e.g. http://127.0.0.1:8443, no trailing slash
	Logger  *slog.Logger
}

// Org is a running sandbox org.
type Org struct{}

// User is what other sandbox parts learn about an authenticated user.
type User struct {
	ID, Login, Email, FirstName, LastName string
	Groups                                []string
}

// New builds an org from its configuration.
func New(cfg Config, opts Options) (*Org, error) { return &Org{}, nil }

// Register adds the org's endpoints to mux.
func (o *Org) Register(mux *http.ServeMux) {}

// SAMLMetadata returns the IdP metadata XML of the SAML app appID.
func (o *Org) SAMLMetadata(appID string) ([]byte, error) { return nil, errors.New("not built yet") }

// SAMLSigningCertificate returns the certificate that signs appID's assertions.
func (o *Org) SAMLSigningCertificate(appID string) (*x509.Certificate, error) {
	return nil, errors.New("not built yet")
}

// CheckPassword verifies a primary credential for OAuth grants that take one.
func (o *Org) CheckPassword(ctx context.Context, login, password string) (*User, error) {
	return nil, errors.New("not built yet")
}

// SessionUser returns the user of the Okta session a request carries (sid cookie).
func (o *Org) SessionUser(r *http.Request) (*User, bool) { return nil, false }
