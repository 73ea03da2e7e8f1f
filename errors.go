package wsgate

import (
	"errors"
	"net/http"
)

// Error is the gateway's own error type, the analog of NestJS's WsException.
// Its Message, Code and Data reach the client as they are; every other error
// reaches the client as "Internal server error" and is logged instead.
//
// Status is used only before the upgrade (a connect guard's denial, a refused
// handshake): it is the HTTP status of the answer. Err is the underlying cause;
// it is never sent to the client.
//
// A filter that wants to change an *Error it is given should return a new
// one: the value may be shared (the gateway copies its own ErrForbidden and
// ErrUnauthorized before filters see them, but not your sentinels).
type Error struct {
	// Status is the HTTP status used when the error refuses a handshake.
	// Zero means 403 for a guard's denial.
	Status int
	// Message is a short, human-readable reason. It is sent as is, so it
	// must not hold internal detail.
	Message string
	// Code is a stable, machine-readable identifier such as "XYZ_FAILED".
	Code string
	// Data is optional detail sent to the client as the "data" member of
	// the error object. It is marshalled with encoding/json.
	Data any
	// Err is the cause. It is kept for errors.Is, errors.As and logs, and
	// is never sent to the client.
	Err error
}

// NewError returns an Error with the given code and message.
func NewError(code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Error implements error. It returns the message, and the code when set.
func (e *Error) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, so errors.Is and errors.As see through an Error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so a sentinel
// such as ErrForbidden matches any error carrying its code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// Error codes the gateway itself sends. Application codes may be anything
// else; codes are never reused with another meaning.
const (
	CodeBadRequest    = "BAD_REQUEST"          // a frame that is not a valid envelope
	CodeUnknownEvent  = "UNKNOWN_EVENT"        // no handler is registered for the event
	CodeInvalidData   = "INVALID_DATA"         // data that does not bind to the handler's input type
	CodeValidation    = "VALIDATION_FAILED"    // the input's Validate method refused it
	CodeUnauthorized  = "UNAUTHORIZED"         // no principal where one is required, or a bad token
	CodeForbidden     = "FORBIDDEN"            // a guard denied the request
	CodeRateLimited   = "RATE_LIMITED"         // too many events in too short a time
	CodeInternal      = "INTERNAL"             // any error that is not an *Error
	CodeOriginRefused = "ORIGIN_NOT_ALLOWED"   // the handshake's Origin is refused or missing (403)
	CodeUnavailable   = "UNAVAILABLE"          // shutting down, over a limit, or a handshake that timed out
	CodeTooManyConns  = "TOO_MANY_CONNECTIONS" // over MaxConnectionsPerSubject (429)
	CodeUpgradeNeeded = "UPGRADE_REQUIRED"     // a plain HTTP request to the gateway (426)
)

// Errors a guard may return. Each is an *Error, so it reaches the client with
// its message and code.
var (
	// ErrForbidden is NestJS's answer for a guard that says no.
	ErrForbidden = &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "Forbidden resource"}
	// ErrUnauthorized is the answer for a request that needs a principal and
	// has none.
	ErrUnauthorized = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "Unauthorized"}
)

// errInternal is what the client sees in place of any error that is not an
// *Error.
var errInternal = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal server error"}

// asError returns err as an *Error when it is one (or wraps one).
func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}
