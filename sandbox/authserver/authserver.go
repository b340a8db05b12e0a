// Package authserver holds the sandbox's Okta authorization servers: the org
// server and custom servers, with discovery, JWKS, tokens, introspection and
// revocation.
package authserver

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/oktafed/oktafed/internal/clock"
)

// Config is the oauth part of sandbox.yaml.
type Config struct{}

// Identity is a user known to the org, as token claims need it.
type Identity struct {
	ID, Login, Email, Name string
	Groups                 []string
}

// Directory is the org's user store as the authorization servers see it.
type Directory interface {
	CheckPassword(ctx context.Context, login, password string) (*Identity, error)
}

// Options are the servers' runtime dependencies.
type Options struct {
	Clock     clock.Clock
	BaseURL   string
	Directory Directory
	Logger    *slog.Logger
}

// Servers is the set of running authorization servers.
type Servers struct{}

// New builds the servers from configuration.
func New(cfg Config, opts Options) (*Servers, error) { return &Servers{}, nil }

// Register adds the servers' endpoints to mux.
func (s *Servers) Register(mux *http.ServeMux) {}
