package wsgatetest

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signer mints tokens for the gateway under test: give it the signing key
// that matches the gateway's verification key (for HMAC, the same bytes).
//
// Mint signs the application's own claims type, filling in what the
// gateway checks; Token, Expired, NotYetValid and ExpiringIn are shorthands
// for a subject and a few extra claims; Sign signs claims exactly as given,
// for the tokens the others will not make (no exp, a wrong issuer).
type Signer struct {
	// Method signs the tokens, jwt.SigningMethodHS256 by default.
	Method jwt.SigningMethod
	// Key is the signing key: []byte for HMAC, *rsa.PrivateKey,
	// *ecdsa.PrivateKey or ed25519.PrivateKey.
	Key any
	// Issuer and Audience, when set, go into every token made by Mint,
	// Token, Expired, NotYetValid and ExpiringIn that has none of its own.
	Issuer   string
	Audience string // see Issuer
	// Lifetime of a token made by Mint or Token; one hour by default.
	Lifetime time.Duration
}

// TokenOptions say when a token made by Signer.Mint is valid. The zero value
// makes a token valid from a minute ago for the Signer's Lifetime.
type TokenOptions struct {
	// ExpiresIn is the time from now to the token's expiry ("exp"). Zero
	// means the Signer's Lifetime after the token becomes valid; a
	// negative value makes a token that has expired already (-time.Hour is
	// past any reasonable leeway).
	ExpiresIn time.Duration
	// ValidIn is the time from now until the token becomes valid ("nbf"):
	// a positive value makes a token that is not valid yet (time.Hour is
	// past any reasonable leeway). Zero or negative: valid from a minute
	// ago.
	ValidIn time.Duration
}

// Mint signs claims, the application's own claims type (a struct embedding
// jwt.RegisteredClaims, or jwt.MapClaims), as a token the gateway accepts,
// and fails the test on error. It fills each of "iss" and "aud" (from the
// Signer), "iat", "nbf" and "exp" (from opts) that claims leaves unset; a
// claim that claims sets itself is signed as it is. The subject is the
// claims' own ("sub"): set it.
//
//	tok := tokens.Mint(t, &AppClaims{
//		RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"},
//		Tenant:           "acme",
//	}, wsgatetest.TokenOptions{ExpiresIn: -time.Hour}) // expired
func (s Signer) Mint(tb testing.TB, claims jwt.Claims, opts TokenOptions) string {
	tb.Helper()
	raw, err := json.Marshal(claims)
	if err != nil {
		tb.Fatalf("wsgatetest: encoding claims %T: %v", claims, err)
	}
	m := jwt.MapClaims{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers are signed exactly as the claims hold them
	if err := dec.Decode(&m); err != nil || m == nil {
		tb.Fatalf("wsgatetest: claims %T do not encode as a JSON object: %s", claims, raw)
	}
	iat, nbf, exp := s.window(time.Now(), opts)
	for name, value := range map[string]any{
		"iss": s.Issuer,
		"aud": s.Audience,
		"iat": iat.Unix(),
		"nbf": nbf.Unix(),
		"exp": exp.Unix(),
	} {
		if _, set := m[name]; set || value == "" {
			continue
		}
		m[name] = value
	}
	return s.Sign(tb, m)
}

// window returns when a token made at now with opts was issued, becomes
// valid and expires. It is never issued in the future (the gateway refuses
// such a token) and always issued before it expires.
func (s Signer) window(now time.Time, opts TokenOptions) (iat, nbf, exp time.Time) {
	life := s.Lifetime
	if life <= 0 {
		life = time.Hour
	}
	iat, nbf, exp = now.Add(-time.Minute), now.Add(-time.Minute), now.Add(life)
	if opts.ValidIn > 0 {
		iat, nbf = now, now.Add(opts.ValidIn)
		exp = nbf.Add(life)
	}
	if opts.ExpiresIn != 0 {
		exp = now.Add(opts.ExpiresIn)
	}
	if !exp.After(iat) {
		// Expired long ago: issued one lifetime before its expiry.
		iat, nbf = exp.Add(-life), exp.Add(-life)
	}
	return iat, nbf, exp
}

// Sign signs claims, any jwt.Claims (a struct embedding
// jwt.RegisteredClaims, or jwt.MapClaims), exactly as given, and fails the
// test on error. Use Mint for a token the gateway should accept.
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

// Token returns a valid token for subject, with extra claims added: Mint
// with jwt.MapClaims.
func (s Signer) Token(tb testing.TB, subject string, extra map[string]any) string {
	tb.Helper()
	return s.Mint(tb, s.mapClaims(subject, extra), TokenOptions{})
}

// Expired returns a token for subject that expired an hour ago: past any
// reasonable leeway. For the application's own claims, use Mint with
// TokenOptions{ExpiresIn: -time.Hour}.
func (s Signer) Expired(tb testing.TB, subject string) string {
	tb.Helper()
	return s.Mint(tb, s.mapClaims(subject, nil), TokenOptions{ExpiresIn: -time.Hour})
}

// NotYetValid returns a token for subject that becomes valid in an hour.
// For the application's own claims, use Mint with
// TokenOptions{ValidIn: time.Hour}.
func (s Signer) NotYetValid(tb testing.TB, subject string) string {
	tb.Helper()
	return s.Mint(tb, s.mapClaims(subject, nil), TokenOptions{ValidIn: time.Hour})
}

// ExpiringIn returns a token for subject that expires after d, for tests of
// token lifetime (the gateway adds its leeway). For the application's own
// claims, use Mint with TokenOptions{ExpiresIn: d}.
func (s Signer) ExpiringIn(tb testing.TB, subject string, d time.Duration) string {
	tb.Helper()
	if d == 0 {
		// ExpiresIn zero means the default lifetime; a token that
		// expires now is what was asked for.
		return s.Mint(tb, s.mapClaims(subject, map[string]any{"exp": time.Now().Unix()}), TokenOptions{})
	}
	return s.Mint(tb, s.mapClaims(subject, nil), TokenOptions{ExpiresIn: d})
}

func (s Signer) mapClaims(subject string, extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": subject}
	for k, v := range extra {
		c[k] = v
	}
	return c
}
