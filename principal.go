package wsgate

import (
	"encoding/json"
	"sync"
	"time"
)

// A Principal is who a connection is authenticated as. An Authenticator
// returns one; guards and handlers read it from their Context. A connection
// admitted anonymously has no principal (nil).
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
	// typed with ClaimsFrom.
	Claims any

	// RawClaims is the claims object as JSON, used by Claim. The JWT verifier
	// fills it; a custom authenticator may leave it nil, and Claim then
	// encodes Claims once instead.
	RawClaims json.RawMessage

	claimsOnce sync.Once
	claimsMap  map[string]any
}

// Claim returns the claim called name as encoding/json decodes it into an
// any (a string, float64, bool, []any or map[string]any). Names are exact and
// case-sensitive. The claims are decoded once per principal.
func (p *Principal) Claim(name string) (any, bool) {
	if p == nil {
		return nil, false
	}
	p.claimsOnce.Do(func() {
		raw := p.RawClaims
		if raw == nil && p.Claims != nil {
			raw, _ = json.Marshal(p.Claims)
		}
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			p.claimsMap = m
		}
	})
	v, ok := p.claimsMap[name]
	return v, ok
}

// expired reports whether the principal's authentication has run out at now.
func (p *Principal) expired(now time.Time) bool {
	return p != nil && !p.Expires.IsZero() && !now.Before(p.Expires)
}

// ClaimsFrom returns the typed claims of the principal behind c, with no type
// assertion in user code:
//
//	claims, ok := wsgate.ClaimsFrom[*AppClaims](c)
//
// ok is false for an anonymous connection or claims of another type.
func ClaimsFrom[T any](c *Context) (T, bool) {
	var zero T
	p := c.Principal()
	if p == nil {
		return zero, false
	}
	t, ok := p.Claims.(T)
	return t, ok
}
