package wsgate

import (
	"encoding/json"
	"reflect"
	"time"
)

// A Principal is who a connection is authenticated as. An Authenticator
// returns one; guards and handlers read it from their Context. A connection
// admitted anonymously has no principal (nil).
//
// A Principal is a plain value: it holds no lock and may be copied (go vet
// has nothing to say about p2 := *p). The gateway never changes a principal
// once an Authenticator has returned it; a refreshed token brings a new one.
type Principal struct {
	// Subject identifies the principal (the JWT "sub" claim). Per-subject
	// connection limits and token refreshes key on it.
	Subject string
	// Expires is when the authentication stops being valid: the token's
	// expiry plus the verifier's leeway. The gateway closes the connection
	// with 4001 at that instant unless the client refreshes its token. The
	// zero value means it does not expire.
	Expires time.Time
	// Claims is the authenticator's typed claims value (for the JWT
	// verifier, a pointer to the claims type it was built with). Read it
	// typed with ClaimsFrom, or guard on it with RequireClaims.
	Claims any

	// RawClaims is the claims object as JSON, used by Claim. The JWT verifier
	// fills it; a custom authenticator may leave it nil, and Claim then
	// encodes Claims instead.
	RawClaims json.RawMessage
}

// Claim returns the claim called name as encoding/json decodes it into an
// any (a string, float64, bool, []any or map[string]any). Names are exact and
// case-sensitive; of a name that appears twice, the last counts, as in
// encoding/json.
//
// Claim reads the claims on every call (it scans the JSON without
// allocating and decodes only the named claim's value), so that a Principal
// keeps no hidden state and stays safe to copy. A guard that reads claims on every event does better with
// the typed claims: RequireClaims or ClaimsFrom.
func (p *Principal) Claim(name string) (any, bool) {
	if p == nil {
		return nil, false
	}
	raw := p.RawClaims
	if raw == nil {
		if p.Claims == nil {
			return nil, false
		}
		var err error
		if raw, err = json.Marshal(p.Claims); err != nil {
			return nil, false
		}
	}
	field, ok := claimValue(raw, name)
	if !ok {
		return nil, false
	}
	var v any
	if json.Unmarshal(field, &v) != nil {
		return nil, false
	}
	return v, true
}

// claimValue returns the raw JSON of the last top-level member called name
// of the object raw. It finds it with the envelope's scanner, which does not
// allocate, and falls back to encoding/json for what that scanner refuses
// (nesting past its depth limit), so that it agrees with encoding/json.
func claimValue(raw []byte, name string) (json.RawMessage, bool) {
	s := scanner{buf: raw}
	s.skipSpace()
	if !s.consume('{') {
		return nil, false
	}
	var found json.RawMessage
	s.skipSpace()
	if s.consume('}') {
		return nil, false
	}
	for {
		key, escaped, ok := s.str()
		if !ok {
			return claimValueSlow(raw, name)
		}
		s.skipSpace()
		if !s.consume(':') {
			return claimValueSlow(raw, name)
		}
		s.skipSpace()
		start := s.pos
		if s.value() != "" {
			return claimValueSlow(raw, name)
		}
		if escaped {
			key = unescape(key)
		}
		if string(key) == name {
			found = raw[start:s.pos:s.pos]
		}
		s.skipSpace()
		if s.consume('}') {
			break
		}
		if !s.consume(',') {
			return claimValueSlow(raw, name)
		}
		s.skipSpace()
	}
	if s.skipSpace(); s.pos != len(raw) {
		return claimValueSlow(raw, name)
	}
	return found, found != nil
}

// claimValueSlow is claimValue by encoding/json.
func claimValueSlow(raw []byte, name string) (json.RawMessage, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return nil, false
	}
	field, ok := fields[name]
	return field, ok
}

// expired reports whether the principal's authentication has run out at now.
func (p *Principal) expired(now time.Time) bool {
	return p != nil && !p.Expires.IsZero() && !now.Before(p.Expires)
}

// ClaimsFrom returns the typed claims of the principal behind c, with no type
// assertion in user code. T may be the claims type or a pointer to it, as
// the code reads best; both spellings find the claims of a verifier built
// with wsgate.NewJWT[AppClaims] (which stores a *AppClaims):
//
//	claims, ok := wsgate.ClaimsFrom[*AppClaims](c) // shares the principal's value
//	claims, ok := wsgate.ClaimsFrom[AppClaims](c)  // a copy of it
//
// ok is false for an anonymous connection, claims of another type, and nil
// claims.
func ClaimsFrom[T any](c *Context) (T, bool) {
	p := c.Principal()
	if p == nil {
		var zero T
		return zero, false
	}
	return claimsAs[T](p.Claims)
}

// claimsAs returns v as a T: v itself, the value v points to when T is the
// pointed-to type, or a pointer to a copy of v when T is a pointer to v's
// type. A nil pointer is no claims.
func claimsAs[T any](v any) (T, bool) {
	var zero T
	switch x := v.(type) {
	case nil:
		return zero, false
	case T:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return zero, false
		}
		return x, true
	case *T:
		if x == nil {
			return zero, false
		}
		return *x, true
	}
	// T is a pointer to v's type (a custom authenticator that stores its
	// claims by value): hand out a pointer to a copy.
	if t := reflect.TypeFor[T](); t.Kind() == reflect.Pointer && t.Elem() == reflect.TypeOf(v) {
		ptr := reflect.New(t.Elem())
		ptr.Elem().Set(reflect.ValueOf(v))
		return ptr.Interface().(T), true
	}
	return zero, false
}
