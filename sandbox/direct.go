package sandbox

import (
	"context"
	"errors"
	"strings"

	"github.com/oktafed/oktafed/sandbox/internal/authserver"
	"github.com/oktafed/oktafed/sandbox/internal/org"
)

// The org's factors, for the authorization servers' direct
// authentication grants (authserver.MFADirectory).

var _ authserver.MFADirectory = directory{}

func (d directory) RequiresMFA(login string) bool { return d.org.RequiresMFA(login) }

func (d directory) VerifyOTP(ctx context.Context, login, code string) error {
	err := d.org.VerifyOTP(ctx, login, code)
	if errors.Is(err, org.ErrCodeReused) {
		return authserver.ErrOTPReused
	}
	return err
}

func (d directory) StartPush(ctx context.Context, login string) (authserver.Push, error) {
	p, err := d.org.StartPush(ctx, login)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (d directory) Identity(login string) (*authserver.Identity, bool) {
	u, ok := d.org.User(login)
	if !ok {
		return nil, false
	}
	return &authserver.Identity{ID: u.ID, Login: u.Login, Email: u.Email, Name: strings.TrimSpace(u.FirstName + " " + u.LastName), Groups: u.Groups}, true
}
