package wsgate

import (
	"errors"
	"net/http"
	"strings"
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
// one: the value may be shared with other requests when it is one of your
// own package-level sentinels. The gateway's own ErrForbidden and
// ErrUnauthorized are not *Error values and cannot be changed; filters see a
// fresh *Error for each of their denials.
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

// Is reports whether target carries the same code: an *Error with that
// code, or one of the gateway's sentinels such as ErrForbidden, so that
// errors.Is(err, ErrForbidden) matches any error carrying CodeForbidden.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		return t.Code != "" && t.Code == e.Code
	case *sentinel:
		return t.e.Code == e.Code
	}
	return false
}

// Error codes the gateway itself sends. Application codes may be anything
// else; codes are never reused with another meaning. Each constant is named
// after its value.
const (
	CodeBadRequest         = "BAD_REQUEST"          // a frame that is not a valid envelope
	CodeUnknownEvent       = "UNKNOWN_EVENT"        // no handler is registered for the event
	CodeInvalidData        = "INVALID_DATA"         // data that does not bind to the handler's input type
	CodeValidationFailed   = "VALIDATION_FAILED"    // the input's Validate method refused it
	CodeUnauthorized       = "UNAUTHORIZED"         // no principal where one is required, or a bad token
	CodeForbidden          = "FORBIDDEN"            // a guard denied the request
	CodeRateLimited        = "RATE_LIMITED"         // too many events in too short a time
	CodeInternal           = "INTERNAL"             // any error that is not an *Error
	CodeOriginNotAllowed   = "ORIGIN_NOT_ALLOWED"   // the handshake's Origin is refused or missing (403)
	CodeUnavailable        = "UNAVAILABLE"          // shutting down, over a limit, a handshake that timed out, or authentication unavailable (503)
	CodeTooManyConnections = "TOO_MANY_CONNECTIONS" // over MaxConnectionsPerSubject (429)
	CodeUpgradeRequired    = "UPGRADE_REQUIRED"     // a plain HTTP request to the gateway (426)
)

// Errors a guard (or a handler) may return. They are sentinels compared
// with errors.Is, as io.EOF is, and nobody can change what they say: their
// type is unexported and has no fields to set. Wherever the gateway answers
// one, or hands one to a filter, it turns it into a fresh *Error with the
// sentinel's status, code and message, so Catch[*Error] and errors.As find
// an *Error as for any other denial. errors.Is(err, ErrForbidden) is true for
// any error carrying CodeForbidden, whoever made it.
var (
	// ErrForbidden is NestJS's answer for a guard that says no: 403
	// before the upgrade, FORBIDDEN "Forbidden resource" after it.
	ErrForbidden error = &sentinel{e: Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "Forbidden resource"}}
	// ErrUnauthorized is the answer for a request that needs a principal and
	// has none: 401 before the upgrade, UNAUTHORIZED "Unauthorized" after it.
	ErrUnauthorized error = &sentinel{e: Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "Unauthorized"}}
)

// sentinel is the immutable form of the gateway's exported error values:
// what it says is fixed at construction and never handed out by pointer.
type sentinel struct{ e Error }

func (s *sentinel) Error() string { return s.e.Error() }

// Is reports whether target carries the sentinel's code, so that
// errors.Is(ErrForbidden, &Error{Code: CodeForbidden}) holds as its mirror
// image does.
func (s *sentinel) Is(target error) bool {
	if t, ok := target.(*Error); ok {
		return t.Code == s.e.Code
	}
	return false
}

// errInternal is what the client sees in place of any error that is not an
// *Error.
var errInternal = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal server error"}

// asError returns err as an *Error when it is one (or wraps one). A sentinel
// such as ErrForbidden, alone or wrapped, becomes a fresh *Error holding its
// status, code and message; when it was wrapped, the wrapping error is kept
// as the cause.
func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var s *sentinel
	if errors.As(err, &s) {
		e := s.e // a copy: the sentinel itself is never handed out
		if err != error(s) {
			e.Err = err
		}
		return &e, true
	}
	return nil, false
}

// FieldError is one invalid field of an event's input: the shape, in the
// error's data, that NestJS users know from class-validator.
type FieldError struct {
	// Field names the field as the client spelled it, such as "name" or
	// "address.zip".
	Field string `json:"field"`
	// Message says what is wrong with it, such as "required". It is sent
	// to the client as it is.
	Message string `json:"message"`
}

// ValidationError reports the invalid fields of an event's input. Return it
// from a Validate method; the client gets VALIDATION_FAILED with the fields
// in the error's data:
//
//	{"status":"error","message":"name: required; age: must be at least 18",
//	 "code":"VALIDATION_FAILED",
//	 "data":{"fields":[{"field":"name","message":"required"},{"field":"age","message":"must be at least 18"}]}}
//
// Build it with Add and return Err, which is nil when no field was added:
//
//	func (in SignUp) Validate() error {
//		var v wsgate.ValidationError
//		if in.Name == "" {
//			v.Add("name", "required")
//		}
//		return v.Err()
//	}
//
// Only On (and Bind) turn a ValidationError into that answer. Returned from
// a handler or a guard, wrap it yourself:
// &wsgate.Error{Code: wsgate.CodeValidationFailed, Message: v.Error(), Data: v}.
type ValidationError struct {
	// Fields are the invalid fields, in the order they were added.
	Fields []FieldError `json:"fields"`
}

// Add records that field is invalid, for the reason message.
func (v *ValidationError) Add(field, message string) {
	v.Fields = append(v.Fields, FieldError{Field: field, Message: message})
}

// Err returns v as an error when it holds at least one field, and nil
// otherwise, so that a Validate method can end with "return v.Err()"
// without returning a non-nil interface that holds no fields.
func (v *ValidationError) Err() error {
	if v == nil || len(v.Fields) == 0 {
		return nil
	}
	return v
}

// Error lists the fields and their messages: "name: required; age: …".
func (v *ValidationError) Error() string {
	if len(v.Fields) == 0 {
		return "validation failed"
	}
	var b strings.Builder
	for i, f := range v.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	return b.String()
}
