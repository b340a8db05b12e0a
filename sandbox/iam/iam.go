// Package iam holds the sandbox's AWS side: accounts, roles, identity
// providers, issued credentials, SigV4 verification and the STS API.
package iam

import (
	"log/slog"
	"net/http"

	"github.com/oktafed/oktafed/internal/clock"
)

// Config is the aws part of sandbox.yaml.
type Config struct{}

// Options are the service's runtime dependencies.
type Options struct {
	Clock      clock.Clock
	BaseURL    string
	HTTPClient *http.Client // fetches OIDC discovery and JWKS of web-identity providers
	Logger     *slog.Logger
}

// Service is a running sandbox AWS account set.
type Service struct{}

// New builds the service from its configuration.
func New(cfg Config, opts Options) (*Service, error) { return &Service{}, nil }

// AddSAMLProviderMetadata makes arn a SAML provider trusting the IdP metadata document.
func (s *Service) AddSAMLProviderMetadata(arn string, metadata []byte) error { return nil }

// ServeHTTP answers query-protocol requests (STS) sent to the base URL.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not built yet", http.StatusNotImplemented)
}
