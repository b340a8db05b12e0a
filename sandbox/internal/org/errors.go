package org

import (
	"errors"
	"net/http"
)

// oktaError is one entry of Okta's error catalogue: the status and code
// clients branch on, and the summary they show.
type oktaError struct {
	status  int
	code    string
	summary string
}

// The codes and summaries are those of Okta's published error reference.
var (
	errValidation      = oktaError{http.StatusBadRequest, "E0000001", "Api validation failed"}
	errMalformed       = oktaError{http.StatusBadRequest, "E0000003", "The request body was not well-formed."}
	errAuthFailed      = oktaError{http.StatusUnauthorized, "E0000004", "Authentication failed"}
	errNotFound        = oktaError{http.StatusNotFound, "E0000007", "Not found: Resource not found"}
	errInvalidToken    = oktaError{http.StatusUnauthorized, "E0000011", "Invalid token provided"}
	errUpdateCreds     = oktaError{http.StatusForbidden, "E0000014", "Update of credentials failed"}
	errMethod          = oktaError{http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method"}
	errRateLimit       = oktaError{http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests."}
	errPasscode        = oktaError{http.StatusForbidden, "E0000068", "Invalid Passcode/Answer"}
	errUserLocked      = oktaError{http.StatusForbidden, "E0000069", "User Locked"}
	errWrongState      = oktaError{http.StatusForbidden, "E0000079", "This operation is not allowed in the current authentication state."}
	errComplexity      = oktaError{http.StatusForbidden, "E0000080", "The password does not meet the complexity requirements of the current password policy."}
	errPasscodeReplay  = oktaError{http.StatusForbidden, "E0000082", "Each code can only be used once. Please wait for a new code and try again."}
	errSMSRecentlySent = oktaError{http.StatusTooManyRequests, "E0000109", "An SMS message was recently sent. Please wait 30 seconds before trying again."}
)

type errorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

type errorBody struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink"`
	ErrorID      string       `json:"errorId"`
	ErrorCauses  []errorCause `json:"errorCauses"`
}

// write sends the error body. summary, when given, replaces the catalogue
// text (Okta fills in details such as the missing resource); causes become
// errorCauses.
func (e oktaError) write(w http.ResponseWriter, causes ...string) {
	e.writeSummary(w, "", causes...)
}

func (e oktaError) writeSummary(w http.ResponseWriter, summary string, causes ...string) {
	if summary == "" {
		summary = e.summary
	}
	body := errorBody{
		ErrorCode:    e.code,
		ErrorSummary: summary,
		ErrorLink:    e.code,
		ErrorID:      newToken("oae", 16),
		ErrorCauses:  []errorCause{},
	}
	for _, c := range causes {
		body.ErrorCauses = append(body.ErrorCauses, errorCause{ErrorSummary: c})
	}
	writeJSON(w, e.status, body)
}

// Errors CheckPassword returns. They let an OAuth server map failures to
// its own error responses without parsing strings.
var (
	// ErrAuthenticationFailed means an unknown login or a wrong password.
	ErrAuthenticationFailed = errors.New("okta: authentication failed")
	// ErrLockedOut means the user is locked out after too many failures.
	ErrLockedOut = errors.New("okta: user locked out")
	// ErrPasswordExpired means the password is right but must be changed
	// through the authentication API first.
	ErrPasswordExpired = errors.New("okta: password expired")
)
