package sandbox

import (
	"errors"

	"github.com/oktafed/oktafed/sandbox/authserver"
	"github.com/oktafed/oktafed/sandbox/identitycenter"
	"github.com/oktafed/oktafed/sandbox/org"
)

// wireDevices lets the org's /activate page confirm the device codes of
// the authorization servers and of Identity Center, and its
// /login/token/sso page redeem the servers' web SSO tokens. The parts meet
// only through these narrow functions, as separate services would.
func wireDevices(o *org.Org, oauth *authserver.Servers, sso *identitycenter.Service) {
	o.AddDeviceApprover(func(code string, u *org.User, approve bool) (string, bool, error) {
		id := &authserver.Identity{ID: u.ID, Login: u.Login, Email: u.Email, Name: u.FirstName + " " + u.LastName, Groups: u.Groups}
		client, err := oauth.ApproveDevice(code, id, approve)
		if errors.Is(err, authserver.ErrUnknownUserCode) {
			return "", false, nil
		}
		return client, true, err
	})
	o.AddDeviceApprover(func(code string, u *org.User, approve bool) (string, bool, error) {
		client, err := sso.ApproveDevice(code, &identitycenter.User{ID: u.ID, Login: u.Login, Groups: u.Groups}, approve)
		if errors.Is(err, identitycenter.ErrUnknownUserCode) {
			return "", false, nil
		}
		return client, true, err
	})
	o.SetWebSSORedeemer(func(token string) (org.WebSSOGrant, bool) {
		g, ok := oauth.RedeemWebSSOToken(token)
		if !ok {
			return org.WebSSOGrant{}, false
		}
		return org.WebSSOGrant{Login: g.Login, AppID: g.AppID, AMR: g.AMR, AuthTime: g.AuthTime}, true
	})
}
