// Package errs types the domain errors once. Services return them; the HTTP
// layer maps each Kind to a status code in exactly one place
// (handlers.errorHandler). Message is safe to show to users.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a domain error.
type Kind int

const (
	Internal        Kind = iota // not shown to users
	Invalid                     // bad input: 400
	Unauthenticated             // no or wrong credentials: 401
	Forbidden                   // authenticated but not allowed: 403
	NotFound                    // 404
	Conflict                    // 409
	TooLarge                    // 413
	Unprocessable               // well-formed, but refused for what it holds (an archive that fails verification): 422
	TooMany                     // 429
	Unavailable                 // a dependency is down: 503
	// OutcomeUnknown: a change was sent to a dependency (the Notary
	// server) but its reply never came, so it may or may not have been
	// applied. The request was not refused: 504.
	OutcomeUnknown
)

// Error is a domain error with a user-facing message.
type Error struct {
	Kind    Kind
	Code    string // short machine-readable code for JSON, e.g. "invalid_name"
	Message string
	Err     error // optional cause, never shown
	// RetryAfter, when positive, tells the client when trying again may
	// succeed (TooMany, Unavailable): the HTTP layer sends it as Retry-After.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func newf(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Constructors, one per kind.
func Invalidf(code, format string, args ...any) error  { return newf(Invalid, code, format, args...) }
func NotFoundf(code, format string, args ...any) error { return newf(NotFound, code, format, args...) }
func Conflictf(code, format string, args ...any) error { return newf(Conflict, code, format, args...) }
func Forbiddenf(code, format string, args ...any) error {
	return newf(Forbidden, code, format, args...)
}
func Unauthenticatedf(code, format string, args ...any) error {
	return newf(Unauthenticated, code, format, args...)
}
func TooManyf(code, format string, args ...any) error { return newf(TooMany, code, format, args...) }
func Unprocessablef(code, format string, args ...any) error {
	return newf(Unprocessable, code, format, args...)
}
func Unavailablef(code, format string, args ...any) error {
	return newf(Unavailable, code, format, args...)
}
func OutcomeUnknownf(code, format string, args ...any) error {
	return newf(OutcomeUnknown, code, format, args...)
}

// RetryAfterOf returns the RetryAfter of the *Error in err's chain, or zero.
func RetryAfterOf(err error) time.Duration {
	if e, ok := As(err); ok {
		return e.RetryAfter
	}
	return 0
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of err (Internal when it is not a domain error).
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}
