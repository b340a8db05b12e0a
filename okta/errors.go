package okta

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Returned errors match them with errors.Is, whether they
// come from a transaction state or from an Okta error code.
var (
	// ErrInvalidCredentials: wrong username or password (E0000004).
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrLockedOut: too many failed attempts locked the account.
	ErrLockedOut = errors.New("your Okta account is locked out after too many failed sign-ins: wait for it to unlock, reset your password in a browser, or ask your Okta admin to unlock it")
	// ErrPasswordExpired: the password must be changed before signing in.
	ErrPasswordExpired = errors.New("your Okta password has expired: change it by signing in to Okta in a browser, then run this again with the new password")
	// ErrSessionExpired: the Okta session (sid) is gone; sign in again.
	ErrSessionExpired = errors.New("the Okta session has expired or was closed: sign in again")
	// ErrInvalidCode: Okta refused an MFA passcode.
	ErrInvalidCode = errors.New("the MFA code was not accepted by Okta")
	// ErrPushRejected: the push notification was rejected on the phone.
	ErrPushRejected = errors.New("the Okta Verify push was rejected on your phone")
	// ErrPushTimeout: the push notification was not answered in time.
	ErrPushTimeout = errors.New("the Okta Verify push was not answered in time: run this again and approve it on your phone")
	// ErrEnrollRequired: the user must enroll an MFA factor first.
	ErrEnrollRequired = errors.New("okta requires you to set up a multi-factor authenticator first: sign in to Okta in a browser to enroll one, then run this again")
	// ErrNoUsableFactor: none of the user's factors can be used here.
	ErrNoUsableFactor = errors.New("none of your Okta MFA factors can be used from the command line (supported: Okta Verify push, TOTP authenticator apps, SMS, voice call, email, hardware tokens, security question)")
	// ErrTransactionExpired: the stateToken expired mid-sign-in (E0000011).
	ErrTransactionExpired = errors.New("the Okta sign-in took too long and expired: start again")
	// ErrRateLimited: Okta's rate limit, and waiting would take too long.
	ErrRateLimited = errors.New("the Okta rate limit was reached")
	// ErrResend may be returned by an MFA Code callback to ask Okta to send
	// the SMS, call or email again instead of verifying a code.
	ErrResend = errors.New("okta: resend the code")
	// ErrAppNotFound is an app sign-on URL that leads to no app (HTTP
	// 404): a wrong app id or embed link, which no retry fixes.
	ErrAppNotFound = errors.New("okta: no such app")
)

// Error is an error body from Okta ({"errorCode", "errorSummary", ...}),
// with the HTTP status it came with. Its message is written for the person
// at the terminal; Code and Summary keep Okta's own words for programs.
type Error struct {
	Status  int      // HTTP status
	Code    string   // errorCode, e.g. E0000004
	Summary string   // errorSummary
	Causes  []string // errorCauses[].errorSummary
	ID      string   // errorId, which Okta support can look up
	// RetryAt is when a rate limit resets, for 429s that were not retried.
	RetryAt time.Time
}

// friendly replaces Okta's summaries where they leave a user guessing.
var friendly = map[string]string{
	"E0000004": "invalid username or password",
	"E0000005": "Okta refused the request: the session is not valid",
	"E0000006": "Okta denied access: you do not have permission for this",
	"E0000011": "the Okta sign-in expired or its token is invalid: start again",
	"E0000047": "Okta's rate limit was reached: wait a minute and try again",
	"E0000064": "your Okta password has expired: change it in a browser, then try again",
	"E0000068": "Okta did not accept the MFA code: check it and try again",
	"E0000069": "your Okta account is locked: wait for it to unlock or ask your Okta admin",
	"E0000079": "Okta does not allow that step at this point of the sign-in: start again",
	"E0000082": "that MFA code was already used: wait for the next code and try again",
	"E0000109": "an SMS was sent moments ago: wait 30 seconds before asking for another",
	// Okta answers E0000119 when a locked-out account tries again.
	"E0000119": "your Okta account is locked: wait for it to unlock, reset your password in a browser, or ask your Okta admin",
}

func (e *Error) Error() string {
	msg := friendly[e.Code]
	if msg == "" {
		msg = strings.TrimRight(e.Summary, ".")
	}
	if msg == "" {
		msg = fmt.Sprintf("Okta answered HTTP %d", e.Status)
	}
	if len(e.Causes) > 0 && friendly[e.Code] == "" {
		msg += " (" + strings.Join(e.Causes, "; ") + ")"
	}
	if !e.RetryAt.IsZero() {
		msg += "; retry after " + e.RetryAt.UTC().Format(time.RFC3339)
	}
	ref := e.Code
	if ref == "" {
		ref = fmt.Sprintf("HTTP %d", e.Status)
	}
	if e.ID != "" {
		ref += ", errorId " + e.ID
	}
	return msg + " [Okta " + ref + "]"
}

// Is lets errors.Is(err, okta.ErrInvalidCredentials) and friends work on
// Okta error codes.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalidCredentials:
		return e.Code == "E0000004"
	case ErrLockedOut:
		return e.Code == "E0000069" || e.Code == "E0000119"
	case ErrPasswordExpired:
		return e.Code == "E0000064"
	case ErrInvalidCode:
		return e.Code == "E0000068" || e.Code == "E0000082"
	case ErrTransactionExpired:
		return e.Code == "E0000011"
	case ErrRateLimited:
		return e.Status == 429
	}
	return false
}
