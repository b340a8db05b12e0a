package iam

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes the sandbox returns, spelled as AWS spells them on the wire so
// that SDKs map them to their typed errors (smithy's APIError.ErrorCode()).
const (
	// Common to every query-protocol service.
	CodeAccessDenied               = "AccessDenied"
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeInvalidAction              = "InvalidAction"
	CodeInvalidClientTokenID       = "InvalidClientTokenId"
	CodeInvalidParameterValue      = "InvalidParameterValue"
	CodeMalformedQueryString       = "MalformedQueryString"
	CodeMissingAction              = "MissingAction"
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	CodeMissingParameter           = "MissingParameter"
	CodeRequestExpired             = "RequestExpired"
	CodeSignatureDoesNotMatch      = "SignatureDoesNotMatch"
	CodeExpiredToken               = "ExpiredToken"
	CodeValidationError            = "ValidationError"
	CodeInternalFailure            = "InternalFailure"

	// STS operation errors.
	CodeExpiredTokenException = "ExpiredTokenException"
	CodeIDPCommunicationError = "IDPCommunicationError"
	CodeIDPRejectedClaim      = "IDPRejectedClaim"
	CodeInvalidIdentityToken  = "InvalidIdentityToken"
	CodeMalformedPolicy       = "MalformedPolicyDocument"

	// IAM's answer to metadata it cannot use (CreateSAMLProvider).
	CodeInvalidInput = "InvalidInput"
)

// statusOf gives the HTTP status AWS pairs with each code. Codes not listed
// are client errors answered with 400.
var statusOf = map[string]int{
	CodeAccessDenied:               http.StatusForbidden,
	CodeInvalidClientTokenID:       http.StatusForbidden,
	CodeMissingAuthenticationToken: http.StatusForbidden,
	CodeSignatureDoesNotMatch:      http.StatusForbidden,
	CodeExpiredToken:               http.StatusForbidden,
	CodeIDPRejectedClaim:           http.StatusForbidden,
	CodeMalformedQueryString:       http.StatusNotFound,
	CodeInternalFailure:            http.StatusInternalServerError,
}

// Error is a refusal carrying the AWS error code that a real service would
// return for the same request. Other sandbox services return it from their
// own handlers through WriteError.
type Error struct {
	Code    string
	Message string
	// Status is the HTTP status code of the error response.
	Status int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrorCode returns the AWS error code, mirroring smithy.APIError so tests
// can treat sandbox and SDK errors alike.
func (e *Error) ErrorCode() string { return e.Code }

// ErrorMessage returns the human-readable message.
func (e *Error) ErrorMessage() string { return e.Message }

// Fault is "Receiver" for server-side failures and "Sender" otherwise, as in
// the <Type> element of a query-protocol error.
func (e *Error) Fault() string {
	if e.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

// newError builds an Error with the status AWS uses for code.
func newError(code, format string, args ...any) *Error {
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusBadRequest
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// ErrorCodeOf returns the AWS code of err, or "" when err is not an *Error.
func ErrorCodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// asError converts any error into an *Error, hiding unexpected internal
// errors behind InternalFailure so their text never reaches a client.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newError(CodeInternalFailure, "An internal error occurred.")
}
