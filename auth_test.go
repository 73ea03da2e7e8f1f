package wsgate_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
)

// rsaKeyOnce is generated once: 2048-bit generation is slow under -race.
var rsaKeyOnce = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsaKeyOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newECKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEdKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestJWTHS256(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	want := goodVerifierClaims()
	mustAcceptToken(t, v, signToken(t, jwt.SigningMethodHS256, key, want, nil), want, wsgate.DefaultLeeway)
}

func TestJWTClaimsFrom(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	p, err := v.Authenticate(context.Background(), signToken(t, jwt.SigningMethodHS256, key, goodVerifierClaims(), nil))
	if err != nil {
		t.Fatal(err)
	}
	// The claims type is exactly what ClaimsFrom[*AppClaims] asks for.
	if _, ok := p.Claims.(*verifierClaims); !ok {
		t.Fatalf("Claims is %T", p.Claims)
	}
}

func TestJWTKeyIsCopied(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	token := signToken(t, jwt.SigningMethodHS256, key, goodVerifierClaims(), nil)
	for i := range key {
		key[i] = 0
	}
	if _, err := v.Authenticate(context.Background(), token); err != nil {
		t.Fatalf("changing the caller's slice changed the verifier's key: %v", err)
	}
}

func TestJWTAsymmetric(t *testing.T) {
	t.Parallel()
	rsaKey := newRSAKey(t)
	ec256 := newECKey(t, elliptic.P256())
	ec384 := newECKey(t, elliptic.P384())
	edPub, edPriv := newEdKey(t)
	tests := []struct {
		alg    string
		method jwt.SigningMethod
		priv   any
		pub    any
	}{
		{"RS256", jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey},
		{"PS256", jwt.SigningMethodPS256, rsaKey, &rsaKey.PublicKey},
		{"ES256", jwt.SigningMethodES256, ec256, &ec256.PublicKey},
		{"ES384", jwt.SigningMethodES384, ec384, &ec384.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, edPriv, edPub},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, jwtOpts([]string{tt.alg}, tt.pub, nil))
			want := goodVerifierClaims()
			mustAcceptToken(t, v, signToken(t, tt.method, tt.priv, want, nil), want, wsgate.DefaultLeeway)
			// Re-signed with another key of the same kind.
			other := want
			other.Role = "root"
			var otherPriv any
			switch tt.priv.(type) {
			case *rsa.PrivateKey:
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					t.Fatal(err)
				}
				otherPriv = k
			case *ecdsa.PrivateKey:
				otherPriv = newECKey(t, tt.pub.(*ecdsa.PublicKey).Curve)
			case ed25519.PrivateKey:
				_, otherPriv = newEdKey(t)
			}
			mustRefuseToken(t, v, signToken(t, tt.method, otherPriv, other, nil), "invalid token")
		})
	}
}

func TestJWTRSAFamilyAcceptsBoth(t *testing.T) {
	t.Parallel()
	rsaKey := newRSAKey(t)
	v := newVerifier(t, jwtOpts([]string{"RS256", "PS256"}, &rsaKey.PublicKey, nil))
	want := goodVerifierClaims()
	mustAcceptToken(t, v, signToken(t, jwt.SigningMethodRS256, rsaKey, want, nil), want, wsgate.DefaultLeeway)
	mustAcceptToken(t, v, signToken(t, jwt.SigningMethodPS256, rsaKey, want, nil), want, wsgate.DefaultLeeway)
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodRS512, rsaKey, want, nil), "invalid token")
}

type ctxKey struct{}

func TestJWTKeyFuncRotation(t *testing.T) {
	t.Parallel()
	keys := map[string][]byte{"a": newHMACKey(t), "b": newHMACKey(t)}
	// "No such key" is said with ErrUnknownKey; any other error is an
	// outage (TestJWTKeyFuncUnavailable).
	errUnknownKid := fmt.Errorf("kid not in the key set: %w", wsgate.ErrUnknownKey)
	var mu sync.Mutex
	var calls []string
	v := newVerifier(t, jwtOpts([]string{"HS256"}, nil, func(o *wsgate.JWTOptions) {
		o.KeyFunc = func(ctx context.Context, kid, alg string) (any, error) {
			mu.Lock()
			calls = append(calls, fmt.Sprintf("%s/%s/%v", kid, alg, ctx.Value(ctxKey{})))
			mu.Unlock()
			if k, ok := keys[kid]; ok {
				return k, nil
			}
			return nil, errUnknownKid
		}
	}))
	want := goodVerifierClaims()
	for kid, key := range keys {
		mustAcceptToken(t, v, signToken(t, jwt.SigningMethodHS256, key, want, map[string]any{"kid": kid}), want, wsgate.DefaultLeeway)
	}
	// The ctx given to Authenticate reaches KeyFunc.
	ctx := context.WithValue(context.Background(), ctxKey{}, "handshake")
	if _, err := v.Authenticate(ctx, signToken(t, jwt.SigningMethodHS256, keys["a"], want, map[string]any{"kid": "a"})); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if last := calls[len(calls)-1]; last != "a/HS256/handshake" {
		t.Errorf("KeyFunc called with %q, want kid a, alg HS256 and the Authenticate ctx", last)
	}
	mu.Unlock()

	// Signed with a's key but naming b: the signature does not verify.
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, keys["a"], want, map[string]any{"kid": "b"}), "invalid token")
	// An unknown kid: KeyFunc's error is kept for logs, never shown.
	e := mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, newHMACKey(t), want, map[string]any{"kid": "c"}), "invalid token")
	if !errors.Is(e, errUnknownKid) || !errors.Is(e, wsgate.ErrUnknownKey) {
		t.Errorf("Err = %v, want it to wrap KeyFunc's error", e.Err)
	}
	if errors.Is(e, wsgate.ErrAuthUnavailable) {
		t.Errorf("an unknown key is reported as an outage: %v", e.Err)
	}
	// No kid at all: KeyFunc sees "" and refuses.
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, keys["a"], want, nil), "invalid token")
	mu.Lock()
	if last := calls[len(calls)-1]; !strings.HasPrefix(last, "/HS256/") {
		t.Errorf("KeyFunc called with %q for a token without kid, want an empty kid", last)
	}
	mu.Unlock()
	// A kid that is not a string never reaches KeyFunc.
	mu.Lock()
	n := len(calls)
	mu.Unlock()
	for _, kid := range []any{42, []any{"a"}, map[string]any{"a": 1}, nil, true} {
		mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, keys["a"], want, map[string]any{"kid": kid}), "invalid token")
	}
	mu.Lock()
	if len(calls) != n {
		t.Errorf("KeyFunc was called for a non-string kid")
	}
	mu.Unlock()
}

func TestJWTKeyFuncKeyTypeChecked(t *testing.T) {
	t.Parallel()
	rsaKey := newRSAKey(t)
	pemKey := rsaPublicPEM(t, &rsaKey.PublicKey)
	hmacKey := newHMACKey(t)
	// One verifier for two families: KeyFunc's key must fit the token's alg.
	v := newVerifier(t, jwtOpts([]string{"HS256", "RS256"}, nil, func(o *wsgate.JWTOptions) {
		o.KeyFunc = func(_ context.Context, kid, _ string) (any, error) {
			switch kid {
			case "rsa":
				return &rsaKey.PublicKey, nil
			case "hmac":
				return hmacKey, nil
			case "short":
				return hmacKey[:16], nil
			case "set":
				return jwt.VerificationKeySet{Keys: []jwt.VerificationKey{hmacKey}}, nil
			}
			return nil, wsgate.ErrUnknownKey
		}
	}))
	want := goodVerifierClaims()
	mustAcceptToken(t, v, signToken(t, jwt.SigningMethodRS256, rsaKey, want, map[string]any{"kid": "rsa"}), want, wsgate.DefaultLeeway)
	mustAcceptToken(t, v, signToken(t, jwt.SigningMethodHS256, hmacKey, want, map[string]any{"kid": "hmac"}), want, wsgate.DefaultLeeway)
	// Algorithm confusion: HS256 signed with the RSA public key's PEM and
	// naming the RSA key.
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, pemKey, want, map[string]any{"kid": "rsa"}), "invalid token")
	// An RS256 token naming the HMAC secret.
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodRS256, rsaKey, want, map[string]any{"kid": "hmac"}), "invalid token")
	// A short HMAC secret from KeyFunc is refused as a static one would be.
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, hmacKey[:16], want, map[string]any{"kid": "short"}), "invalid token")
	// Key sets are not a supported key type.
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, hmacKey, want, map[string]any{"kid": "set"}), "invalid token")
}

func rsaPublicPEM(t testing.TB, pub *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestJWTAlgorithmConfusion(t *testing.T) {
	t.Parallel()
	rsaKey := newRSAKey(t)
	v := newVerifier(t, jwtOpts([]string{"RS256"}, &rsaKey.PublicKey, nil))
	want := goodVerifierClaims()
	der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"PKIX PEM":   rsaPublicPEM(t, &rsaKey.PublicKey),
		"PKIX DER":   der,
		"PKCS#1 DER": x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey),
		"PKCS#1 PEM": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}),
	}
	for name, secret := range secrets {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS512} {
				mustRefuseToken(t, v, signToken(t, m, secret, want, nil), "invalid token")
			}
		})
	}
}

func TestJWTRefused(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	hs := func(edit func(*verifierClaims)) string {
		c := goodVerifierClaims()
		if edit != nil {
			edit(&c)
		}
		return signToken(t, jwt.SigningMethodHS256, key, c, nil)
	}
	good := hs(nil)
	parts := strings.Split(good, ".")
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, goodVerifierClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	forged := goodVerifierClaims()
	forged.Role = "root"
	forgedPayload := strings.Split(signToken(t, jwt.SigningMethodHS256, key, forged, nil), ".")[1]
	past := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(verifierNow.Add(-d)) }
	future := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(verifierNow.Add(d)) }
	big := goodVerifierClaims()
	big.Role = strings.Repeat("x", wsgate.DefaultMaxTokenSize)

	tests := []struct {
		name  string
		token string
		msg   string
	}{
		{"empty", "", "invalid token"},
		{"one segment", "abcdefgh", "invalid token"},
		{"two segments", parts[0] + "." + parts[1], "invalid token"},
		{"four segments", good + ".abcd", "invalid token"},
		{"not base64", "!!!!." + parts[1] + "." + parts[2], "invalid token"},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2], "invalid token"},
		{"padded", parts[0] + "." + parts[1] + "=." + parts[2], "invalid token"},
		{"oversized garbage", strings.Repeat("a", wsgate.DefaultMaxTokenSize+1), "token too large"},
		{"oversized valid", signToken(t, jwt.SigningMethodHS256, key, big, nil), "token too large"},
		{"bad signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "invalid token"},
		{"no signature", parts[0] + "." + parts[1] + ".", "invalid token"},
		{"tampered payload", parts[0] + "." + forgedPayload + "." + parts[2], "invalid token"},
		{"other key", signToken(t, jwt.SigningMethodHS256, newHMACKey(t), goodVerifierClaims(), nil), "invalid token"},
		{"alg none", unsigned, "invalid token"},
		{"alg not listed", signToken(t, jwt.SigningMethodHS512, key, goodVerifierClaims(), nil), "invalid token"},
		{"expired", hs(func(c *verifierClaims) { c.ExpiresAt = past(time.Hour) }), "token expired"},
		{"expired beyond leeway", hs(func(c *verifierClaims) { c.ExpiresAt = past(wsgate.DefaultLeeway) }), "token expired"},
		{"expired with bad signature", parts[0] + "." + strings.Split(hs(func(c *verifierClaims) { c.ExpiresAt = past(time.Hour) }), ".")[1] + "." + parts[2], "invalid token"},
		{"expired and wrong issuer", hs(func(c *verifierClaims) { c.ExpiresAt = past(time.Hour); c.Issuer = "evil" }), "invalid token"},
		{"not valid yet", hs(func(c *verifierClaims) { c.NotBefore = future(time.Hour) }), "token not valid yet"},
		{"not valid yet and wrong audience", hs(func(c *verifierClaims) { c.NotBefore = future(time.Hour); c.Audience = jwt.ClaimStrings{"other"} }), "invalid token"},
		{"issued in the future", hs(func(c *verifierClaims) { c.IssuedAt = future(time.Hour) }), "invalid token"},
		{"missing exp", hs(func(c *verifierClaims) { c.ExpiresAt = nil }), "invalid token"},
		{"wrong issuer", hs(func(c *verifierClaims) { c.Issuer = "https://evil.example.com" }), "invalid token"},
		{"missing issuer", hs(func(c *verifierClaims) { c.Issuer = "" }), "invalid token"},
		{"wrong audience", hs(func(c *verifierClaims) { c.Audience = jwt.ClaimStrings{"other"} }), "invalid token"},
		{"missing audience", hs(func(c *verifierClaims) { c.Audience = nil }), "invalid token"},
		{"missing subject", hs(func(c *verifierClaims) { c.Subject = "" }), "invalid token"},
		{"claim of the wrong type", signToken(t, jwt.SigningMethodHS256, key, jwt.MapClaims{
			"iss": verifierIssuer, "aud": verifierAudience, "sub": "alice", "exp": verifierNow.Add(time.Hour).Unix(), "role": 5,
		}, nil), "invalid token"},
		{"exp of the wrong type", signToken(t, jwt.SigningMethodHS256, key, jwt.MapClaims{
			"iss": verifierIssuer, "aud": verifierAudience, "sub": "alice", "exp": "tomorrow",
		}, nil), "invalid token"},
		{"subject of the wrong type", signToken(t, jwt.SigningMethodHS256, key, jwt.MapClaims{
			"iss": verifierIssuer, "aud": verifierAudience, "sub": 7, "exp": verifierNow.Add(time.Hour).Unix(),
		}, nil), "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mustRefuseToken(t, v, tt.token, tt.msg)
		})
	}
}

func TestJWTErrIsKept(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	c := goodVerifierClaims()
	c.ExpiresAt = jwt.NewNumericDate(verifierNow.Add(-time.Hour))
	e := mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, key, c, nil), "token expired")
	if !errors.Is(e, jwt.ErrTokenExpired) {
		t.Errorf("Err = %v, want it to wrap jwt.ErrTokenExpired", e.Err)
	}
	e = mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, newHMACKey(t), goodVerifierClaims(), nil), "invalid token")
	if !errors.Is(e, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("Err = %v, want it to wrap jwt.ErrTokenSignatureInvalid", e.Err)
	}
	if !errors.Is(e, wsgate.ErrUnauthorized) {
		t.Errorf("a refused token does not match ErrUnauthorized by code")
	}
}

func TestJWTLeeway(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	expiredBy := func(d time.Duration) (string, verifierClaims) {
		c := goodVerifierClaims()
		c.ExpiresAt = jwt.NewNumericDate(verifierNow.Add(-d))
		return signToken(t, jwt.SigningMethodHS256, key, c, nil), c
	}

	t.Run("default", func(t *testing.T) {
		t.Parallel()
		v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
		tok, c := expiredBy(10 * time.Second)
		p := mustAcceptToken(t, v, tok, c, wsgate.DefaultLeeway)
		if want := verifierNow.Add(20 * time.Second); !p.Expires.Equal(want) {
			t.Errorf("Expires = %v, want exp + leeway = %v", p.Expires, want)
		}
		tok, _ = expiredBy(wsgate.DefaultLeeway + time.Second)
		mustRefuseToken(t, v, tok, "token expired")
	})
	t.Run("custom", func(t *testing.T) {
		t.Parallel()
		v := newVerifier(t, jwtOpts([]string{"HS256"}, key, func(o *wsgate.JWTOptions) { o.Leeway = 2 * time.Minute }))
		tok, c := expiredBy(time.Minute)
		mustAcceptToken(t, v, tok, c, 2*time.Minute)
		c = goodVerifierClaims()
		c.NotBefore = jwt.NewNumericDate(verifierNow.Add(time.Minute))
		c.IssuedAt = jwt.NewNumericDate(verifierNow.Add(time.Minute))
		mustAcceptToken(t, v, signToken(t, jwt.SigningMethodHS256, key, c, nil), c, 2*time.Minute)
	})
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		v := newVerifier(t, jwtOpts([]string{"HS256"}, key, func(o *wsgate.JWTOptions) { o.Leeway = -1 }))
		tok, _ := expiredBy(time.Second)
		mustRefuseToken(t, v, tok, "token expired")
		c := goodVerifierClaims()
		p := mustAcceptToken(t, v, signToken(t, jwt.SigningMethodHS256, key, c, nil), c, 0)
		if !p.Expires.Equal(c.ExpiresAt.Time) {
			t.Errorf("Expires = %v, want exp exactly", p.Expires)
		}
	})
}

func TestJWTMissingExpiration(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	c := goodVerifierClaims()
	c.ExpiresAt = nil
	tok := signToken(t, jwt.SigningMethodHS256, key, c, nil)
	mustRefuseToken(t, newVerifier(t, jwtOpts([]string{"HS256"}, key, nil)), tok, "invalid token")
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, func(o *wsgate.JWTOptions) { o.AllowMissingExpiration = true }))
	p := mustAcceptToken(t, v, tok, c, 0)
	if !p.Expires.IsZero() {
		t.Errorf("Expires = %v, want zero for a token without exp", p.Expires)
	}
	// exp is still checked when present.
	c.ExpiresAt = jwt.NewNumericDate(verifierNow.Add(-time.Hour))
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, key, c, nil), "token expired")
}

func TestJWTAllowAny(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, func(o *wsgate.JWTOptions) {
		o.Issuer, o.AllowAnyIssuer = "", true
		o.Audience, o.AllowAnyAudience = "", true
	}))
	c := goodVerifierClaims()
	c.Issuer = "anyone"
	c.Audience = nil
	mustAcceptToken(t, v, signToken(t, jwt.SigningMethodHS256, key, c, nil), c, wsgate.DefaultLeeway)
}

func TestJWTAudienceList(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	c := goodVerifierClaims()
	c.Audience = jwt.ClaimStrings{"other", verifierAudience}
	mustAcceptToken(t, v, signToken(t, jwt.SigningMethodHS256, key, c, nil), c, wsgate.DefaultLeeway)
}

func TestJWTMaxTokenSize(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	tok := signToken(t, jwt.SigningMethodHS256, key, goodVerifierClaims(), nil)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, func(o *wsgate.JWTOptions) { o.MaxTokenSize = len(tok) }))
	c := goodVerifierClaims()
	mustAcceptToken(t, v, tok, c, wsgate.DefaultLeeway)
	c.Role += "x"
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, key, c, nil), "token too large")

	// Exactly the default limit is accepted; one byte more is not.
	d := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	c = goodVerifierClaims()
	c.Role = ""
	base := len(signToken(t, jwt.SigningMethodHS256, key, c, nil))
	// Each 3 bytes of claims add 4 base64 characters; find a role length
	// that lands on the limit.
	for n := (wsgate.DefaultMaxTokenSize - base) * 3 / 4; ; n++ {
		c.Role = strings.Repeat("r", n)
		tok = signToken(t, jwt.SigningMethodHS256, key, c, nil)
		if len(tok) >= wsgate.DefaultMaxTokenSize {
			break
		}
	}
	if len(tok) == wsgate.DefaultMaxTokenSize {
		mustAcceptToken(t, d, tok, c, wsgate.DefaultLeeway)
	}
	mustRefuseToken(t, d, tok+"A", "token too large")
}

func TestJWTConcurrent(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	good := signToken(t, jwt.SigningMethodHS256, key, goodVerifierClaims(), nil)
	bad := signToken(t, jwt.SigningMethodHS256, newHMACKey(t), goodVerifierClaims(), nil)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_, err := v.Authenticate(context.Background(), good)
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
					return
				}
				if _, err := v.Authenticate(context.Background(), bad); err == nil {
					t.Errorf("goroutine %d: a bad token was accepted", i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestAuthenticatorFunc(t *testing.T) {
	t.Parallel()
	var a wsgate.Authenticator = wsgate.AuthenticatorFunc(func(_ context.Context, token string) (*wsgate.Principal, error) {
		return &wsgate.Principal{Subject: token}, nil
	})
	p, err := a.Authenticate(context.Background(), "bob")
	if err != nil || p.Subject != "bob" {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
}

func TestNewJWTRefuses(t *testing.T) {
	t.Parallel()
	hmacKey := newHMACKey(t)
	rsaKey := newRSAKey(t)
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec384 := newECKey(t, elliptic.P384())
	edPub, edPriv := newEdKey(t)
	keyFunc := func(context.Context, string, string) (any, error) { return hmacKey, nil }
	hs := []string{"HS256"}

	tests := []struct {
		name string
		opts wsgate.JWTOptions
		want string
	}{
		{"no methods", jwtOpts(nil, hmacKey, nil), "Methods is empty"},
		{"none", jwtOpts([]string{"none"}, hmacKey, nil), `"none"`},
		{"None among others", jwtOpts([]string{"HS256", "None"}, hmacKey, nil), `"none"`},
		{"unknown method", jwtOpts([]string{"HS257"}, hmacKey, nil), `unknown algorithm "HS257"`},
		{"lower-case method", jwtOpts([]string{"hs256"}, hmacKey, nil), "unknown algorithm"},
		{"both keys", jwtOpts(hs, hmacKey, func(o *wsgate.JWTOptions) { o.KeyFunc = keyFunc }), "both Key and KeyFunc"},
		{"no key", jwtOpts(hs, nil, nil), "neither Key nor KeyFunc"},
		{"empty HMAC key", jwtOpts(hs, []byte{}, nil), "at least 32"},
		{"short HMAC key", jwtOpts(hs, hmacKey[:31], nil), "at least 32"},
		{"string HMAC key", jwtOpts(hs, string(hmacKey), nil), "not a string"},
		{"RSA key for HS256", jwtOpts(hs, &rsaKey.PublicKey, nil), "HS256 needs a []byte"},
		{"Ed25519 key for HS256", jwtOpts(hs, edPub, nil), "HS256 needs a []byte"},
		{"HMAC key for RS256", jwtOpts([]string{"RS256"}, hmacKey, nil), "RS256 needs an *rsa.PublicKey"},
		{"PEM bytes for RS256", jwtOpts([]string{"RS256"}, rsaPublicPEM(t, &rsaKey.PublicKey), nil), "RS256 needs an *rsa.PublicKey"},
		{"mixed families", jwtOpts([]string{"RS256", "HS256"}, &rsaKey.PublicKey, nil), "HS256 needs a []byte"},
		{"RSA private key", jwtOpts([]string{"RS256"}, rsaKey, nil), "private key"},
		{"ECDSA private key", jwtOpts([]string{"ES384"}, ec384, nil), "private key"},
		{"Ed25519 private key", jwtOpts([]string{"EdDSA"}, edPriv, nil), "private key"},
		{"small RSA key", jwtOpts([]string{"RS256"}, &smallRSA.PublicKey, nil), "under 2048 bits"},
		{"wrong curve", jwtOpts([]string{"ES256"}, &ec384.PublicKey, nil), "P-256"},
		{"EC key for EdDSA", jwtOpts([]string{"EdDSA"}, &ec384.PublicKey, nil), "ed25519.PublicKey"},
		{"short Ed25519 key", jwtOpts([]string{"EdDSA"}, edPub[:16], nil), "bytes, not 32"},
		{"no issuer", jwtOpts(hs, hmacKey, func(o *wsgate.JWTOptions) { o.Issuer = "" }), "Issuer is empty"},
		{"issuer and any issuer", jwtOpts(hs, hmacKey, func(o *wsgate.JWTOptions) { o.AllowAnyIssuer = true }), "both Issuer and AllowAnyIssuer"},
		{"no audience", jwtOpts(hs, hmacKey, func(o *wsgate.JWTOptions) { o.Audience = "" }), "Audience is empty"},
		{"audience and any audience", jwtOpts(hs, hmacKey, func(o *wsgate.JWTOptions) { o.AllowAnyAudience = true }), "both Audience and AllowAnyAudience"},
		{"negative size", jwtOpts(hs, hmacKey, func(o *wsgate.JWTOptions) { o.MaxTokenSize = -1 }), "MaxTokenSize is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := wsgate.NewJWT[verifierClaims](tt.opts)
			if err == nil {
				t.Fatalf("NewJWT accepted the options: %+v", v)
			}
			if !strings.HasPrefix(err.Error(), "wsgate: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want a wsgate: error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), string(hmacKey)) {
				t.Errorf("error %q contains key material", err)
			}
		})
	}
}

func TestNewJWTAcceptsKeyFunc(t *testing.T) {
	t.Parallel()
	_, err := wsgate.NewJWT[verifierClaims](jwtOpts([]string{"HS256", "RS256", "ES256", "EdDSA"}, nil, func(o *wsgate.JWTOptions) {
		o.KeyFunc = func(context.Context, string, string) (any, error) { return nil, errors.New("no keys") }
	}))
	if err != nil {
		t.Fatalf("NewJWT refused several families with a KeyFunc: %v", err)
	}
}

func ExampleNewJWT() {
	// AppClaims is what the application's tokens carry.
	type AppClaims struct {
		jwt.RegisteredClaims
		Role string `json:"role"`
	}
	secret := []byte("an HS256 secret of at least 32 bytes")
	clock := func() time.Time { return time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC) }

	verifier, err := wsgate.NewJWT[AppClaims](wsgate.JWTOptions{
		Methods:  []string{"HS256"},
		Key:      secret,
		Issuer:   "https://auth.example.com",
		Audience: "chat",
		Now:      clock, // a fixed clock for the example; leave nil in production
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A token as the identity provider would issue it.
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, AppClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "https://auth.example.com",
			Subject:   "alice",
			Audience:  jwt.ClaimStrings{"chat"},
			IssuedAt:  jwt.NewNumericDate(clock()),
			ExpiresAt: jwt.NewNumericDate(clock().Add(15 * time.Minute)),
		},
		Role: "admin",
	}).SignedString(secret)

	p, err := verifier.Authenticate(context.Background(), token)
	if err != nil {
		fmt.Println(err)
		return
	}
	claims := p.Claims.(*AppClaims)
	fmt.Println(p.Subject, claims.Role)
	fmt.Println("expires", p.Expires.UTC().Format(time.RFC3339)) // exp + DefaultLeeway

	// A tampered token is refused with a message that is safe to show.
	_, err = verifier.Authenticate(context.Background(), token+"x")
	fmt.Println(err)

	// Output:
	// alice admin
	// expires 2030-01-01T12:15:30Z
	// UNAUTHORIZED: invalid token
}

// Compile-time checks: a JWT is an Authenticator, and so is a function.
var (
	_ wsgate.Authenticator = (*wsgate.JWT[verifierClaims, *verifierClaims])(nil)
	_ wsgate.Authenticator = wsgate.AuthenticatorFunc(nil)
)

// validatedClaims has its own check, which golang-jwt runs with the others.
type validatedClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

var errNoRole = errors.New("role is required")

func (c *validatedClaims) Validate() error {
	if c.Role == "" {
		return errNoRole
	}
	return nil
}

func TestJWTClaimsValidator(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v, err := wsgate.NewJWT[validatedClaims](jwtOpts([]string{"HS256"}, key, nil))
	if err != nil {
		t.Fatal(err)
	}
	c := validatedClaims{RegisteredClaims: goodVerifierClaims().RegisteredClaims, Role: "admin"}
	if _, err := v.Authenticate(context.Background(), signToken(t, jwt.SigningMethodHS256, key, &c, nil)); err != nil {
		t.Fatal(err)
	}
	c.Role = ""
	e := mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, key, &c, nil), "invalid token")
	if !errors.Is(e, errNoRole) {
		t.Errorf("Err = %v, want it to wrap the claims' own error", e.Err)
	}
	// An expired token that also fails the claims' own check is invalid,
	// not merely expired.
	c.ExpiresAt = jwt.NewNumericDate(verifierNow.Add(-time.Hour))
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS256, key, &c, nil), "invalid token")
}
