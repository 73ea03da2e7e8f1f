package wsgate_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
)

// A KeyFunc for key rotation says whose fault a failure is: ErrUnknownKey
// when no key has the token's kid (the token is refused, 401), any other
// error when the keys could not be fetched (the gateway answers 503 with
// Retry-After, and the client keeps its token).
func ExampleJWTOptions_keyFunc() {
	clock := func() time.Time { return time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC) }
	current := []byte("the current HS256 secret, 32+ bytes")
	keyServerDown := false

	verifier, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods:  []string{"HS256"},
		Issuer:   "https://auth.example.com",
		Audience: "chat",
		Now:      clock,
		KeyFunc: func(ctx context.Context, kid, alg string) (any, error) {
			if keyServerDown { // in real code: the fetch from the key server failed
				return nil, errors.New("key server: connection refused")
			}
			if kid != "2030-01" {
				return nil, fmt.Errorf("kid %q: %w", kid, wsgate.ErrUnknownKey)
			}
			return current, nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sign := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
			Issuer: "https://auth.example.com", Subject: "alice", Audience: jwt.ClaimStrings{"chat"},
			ExpiresAt: jwt.NewNumericDate(clock().Add(time.Hour)),
		})
		tok.Header["kid"] = kid
		s, _ := tok.SignedString(current)
		return s
	}

	p, err := verifier.Authenticate(context.Background(), sign("2030-01"))
	fmt.Println(p.Subject, err)

	_, err = verifier.Authenticate(context.Background(), sign("2029-12"))
	fmt.Println(err) // an *Error: the token is refused

	keyServerDown = true
	_, err = verifier.Authenticate(context.Background(), sign("2030-01"))
	fmt.Println(errors.Is(err, wsgate.ErrAuthUnavailable)) // not the token's fault

	// Output:
	// alice <nil>
	// UNAUTHORIZED: invalid token
	// true
}
