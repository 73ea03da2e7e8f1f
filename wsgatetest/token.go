package wsgatetest

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signer mints tokens for the gateway under test: give it the signing key
// that matches the gateway's verification key (for HMAC, the same bytes).
type Signer struct {
	// Method signs the tokens, jwt.SigningMethodHS256 by default.
	Method jwt.SigningMethod
	// Key is the signing key: []byte for HMAC, *rsa.PrivateKey,
	// *ecdsa.PrivateKey or ed25519.PrivateKey.
	Key any
	// Issuer and Audience, when set, go into every token made by Token,
	// Expired, NotYetValid and ExpiringIn.
	Issuer   string
	Audience string // see Issuer
	// Lifetime of a token made by Token; one hour by default.
	Lifetime time.Duration
}

// Sign signs claims, any jwt.Claims (a struct embedding
// jwt.RegisteredClaims, or jwt.MapClaims), and fails the test on error.
func (s Signer) Sign(tb testing.TB, claims jwt.Claims) string {
	tb.Helper()
	method := s.Method
	if method == nil {
		method = jwt.SigningMethodHS256
	}
	tok, err := jwt.NewWithClaims(method, claims).SignedString(s.Key)
	if err != nil {
		tb.Fatalf("wsgatetest: signing a token: %v", err)
	}
	return tok
}

// Token returns a valid token for subject, with extra claims added.
func (s Signer) Token(tb testing.TB, subject string, extra map[string]any) string {
	tb.Helper()
	now := time.Now()
	life := s.Lifetime
	if life <= 0 {
		life = time.Hour
	}
	return s.Sign(tb, s.claims(subject, now.Add(-time.Minute), now.Add(-time.Minute), now.Add(life), extra))
}

// Expired returns a token for subject that expired an hour ago: past any
// reasonable leeway.
func (s Signer) Expired(tb testing.TB, subject string) string {
	tb.Helper()
	now := time.Now()
	return s.Sign(tb, s.claims(subject, now.Add(-2*time.Hour), now.Add(-2*time.Hour), now.Add(-time.Hour), nil))
}

// NotYetValid returns a token for subject that becomes valid in an hour.
func (s Signer) NotYetValid(tb testing.TB, subject string) string {
	tb.Helper()
	now := time.Now()
	return s.Sign(tb, s.claims(subject, now, now.Add(time.Hour), now.Add(2*time.Hour), nil))
}

// ExpiringIn returns a token for subject that expires after d, for tests of
// token lifetime (the gateway adds its leeway).
func (s Signer) ExpiringIn(tb testing.TB, subject string, d time.Duration) string {
	tb.Helper()
	now := time.Now()
	return s.Sign(tb, s.claims(subject, now.Add(-time.Minute), now.Add(-time.Minute), now.Add(d), nil))
}

func (s Signer) claims(sub string, iat, nbf, exp time.Time, extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": sub,
		"iat": iat.Unix(),
		"nbf": nbf.Unix(),
		"exp": exp.Unix(),
	}
	if s.Issuer != "" {
		c["iss"] = s.Issuer
	}
	if s.Audience != "" {
		c["aud"] = s.Audience
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}
