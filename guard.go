package wsgate

import "fmt"

// A Guard decides whether a request may go on. It returns nil to allow it.
// An *Error denies with its message and code (ErrForbidden is NestJS's
// "Forbidden resource"); any other error is an internal error, filtered and
// logged like a handler's.
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
// guard is recovered into an internal error.
func runGuards(c *Context, guards []Guard) error {
	for _, g := range guards {
		if err := protect(func() error { return g(c) }); err != nil {
			if e, ok := err.(*Error); ok && (e == ErrForbidden || e == ErrUnauthorized) {
				// Filters may edit the error they are given: never
				// hand them the package's shared value.
				cp := *e
				return &cp
			}
			return err
		}
	}
	return nil
}
