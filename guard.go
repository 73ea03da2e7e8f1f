package wsgate

import (
	"fmt"
	"reflect"
)

// A Guard decides whether a request may go on. It returns nil to allow it.
// An *Error denies with its message and code, as do ErrForbidden (NestJS's
// "Forbidden resource") and ErrUnauthorized; any other error is an internal
// error, filtered and logged like a handler's.
//
// The same guard protects connections and events: at connect time the
// Context has the upgrade request and the principal but no event; for a
// message it also has the event name, its payload and the handler's
// metadata. Guards run in order, gateway guards first, and the first denial
// stops the chain, so the handler never runs.
type Guard func(c *Context) error

// Allow adapts a predicate into a Guard that denies with ErrForbidden when
// the predicate is false: a guard that only says no.
func Allow(ok func(c *Context) bool) Guard {
	return func(c *Context) error {
		if ok(c) {
			return nil
		}
		return ErrForbidden
	}
}

// Authenticated is the authentication guard: it allows a request whose
// connection has a principal whose authentication has not run out, and any
// request to a handler marked Public, the way NestJS's IS_PUBLIC_KEY
// metadata lets a handler skip the JWT guard. It denies with
// ErrUnauthorized.
//
// A visitor without a token reaches a Public handler only when the gateway
// admits it in the first place: with an Authenticator, that takes
// Options.AllowAnonymous (otherwise the handshake is refused with 401).
func Authenticated(c *Context) error {
	if c.Public() {
		return nil
	}
	p := c.Principal()
	if p == nil || p.expired(c.now()) {
		return ErrUnauthorized
	}
	return nil
}

// RequireClaim returns a guard that allows a principal whose claim called
// name equals one of anyOf, or, for an array claim, contains one of them
// ("role": "admin" and "roles": ["admin","dev"] both satisfy
// RequireClaim(..., "admin")). It denies anonymous connections with
// ErrUnauthorized and the rest with ErrForbidden.
func RequireClaim(name string, anyOf ...string) Guard {
	if len(anyOf) == 0 {
		panic(fmt.Sprintf("wsgate: RequireClaim(%q) needs at least one allowed value", name))
	}
	return func(c *Context) error {
		p := c.Principal()
		if p == nil {
			return ErrUnauthorized
		}
		v, _ := p.Claim(name)
		if claimMatches(v, anyOf) {
			return nil
		}
		return ErrForbidden
	}
}

// RequireClaims returns a guard that asks allow about the principal's typed
// claims, read as ClaimsFrom reads them (C may be the claims type or a
// pointer to it):
//
//	wsgate.RequireClaims(func(c *wsgate.Context, claims *AppClaims) bool {
//		return slices.Contains(claims.Roles, "admin")
//	})
//
// It denies an anonymous connection with ErrUnauthorized and a false answer
// with ErrForbidden. Claims of another type than C are a programming error
// (the gateway's Authenticator makes another type): the guard fails with an
// internal error, logged with both type names, rather than deny every user
// in silence.
func RequireClaims[C any](allow func(c *Context, claims C) bool) Guard {
	if allow == nil {
		panic("wsgate: RequireClaims with a nil predicate")
	}
	return func(c *Context) error {
		p := c.Principal()
		if p == nil {
			return ErrUnauthorized
		}
		claims, ok := claimsAs[C](p.Claims)
		if !ok {
			return fmt.Errorf("wsgate: RequireClaims[%v]: the principal's claims are a %T", reflect.TypeFor[C](), p.Claims)
		}
		if allow(c, claims) {
			return nil
		}
		return ErrForbidden
	}
}

func claimMatches(v any, anyOf []string) bool {
	switch v := v.(type) {
	case string:
		for _, want := range anyOf {
			if v == want {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && claimMatches(s, anyOf) {
				return true
			}
		}
	}
	return false
}

// runGuards runs guards in order and returns the first denial. A panicking
// guard is recovered into an internal error. ErrForbidden and
// ErrUnauthorized cannot be changed by anyone, so a denial is returned as
// it is: whoever answers it (runFilters, the handshake) makes a fresh *Error
// of it.
func runGuards(c *Context, guards []Guard) error {
	for _, g := range guards {
		if err := protect(func() error { return g(c) }); err != nil {
			return err
		}
	}
	return nil
}
