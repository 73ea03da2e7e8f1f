package wsgate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// rawToken signs claims (JSON text) with testKey, valid
// for roleJWT apart from what the members change.
func rawToken(t *testing.T, members string) string {
	t.Helper()
	now := time.Now()
	claims := fmt.Sprintf(`{"iss":%q,"aud":%q,"iat":%d,"exp":%d,%s}`,
		testIssuer, testAudience, now.Add(-time.Minute).Unix(), now.Add(time.Hour).Unix(), members)
	return rawHS256(t, testKey, hs256Header, claims)
}

// TestHandshakeAuthenticatorUnavailable: an authenticator that fails
// (its database or key server is down) is answered 503 with Retry-After
// and logged at Error level, so that no client concludes its token is bad;
// the token's own faults stay 401.
func TestHandshakeAuthenticatorUnavailable(t *testing.T) {
	t.Parallel()
	errDown := errors.New("db at 10.0.0.7 is down")
	jwtWithKeys := func(t *testing.T, keyErr error) wsgate.Authenticator {
		v, err := wsgate.NewJWT[roleClaims](wsgate.JWTOptions{
			Methods: []string{"HS256"}, Issuer: testIssuer, Audience: testAudience,
			KeyFunc: func(context.Context, string, string) (any, error) {
				if keyErr != nil {
					return nil, keyErr
				}
				return testKey, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	fixed := func(err error) func(*testing.T) wsgate.Authenticator {
		return func(*testing.T) wsgate.Authenticator {
			return wsgate.AuthenticatorFunc(func(context.Context, string) (*wsgate.Principal, error) { return nil, err })
		}
	}
	for _, tc := range []struct {
		name          string
		auth          func(*testing.T) wsgate.Authenticator
		status        int
		message, code string
	}{
		{"plain error", fixed(errDown), http.StatusServiceUnavailable, "authentication unavailable", wsgate.CodeUnavailable},
		{"wrapped context error", fixed(fmt.Errorf("query: %w", context.DeadlineExceeded)), http.StatusServiceUnavailable, "authentication unavailable", wsgate.CodeUnavailable},
		{"ErrAuthUnavailable beside an *Error", fixed(errors.Join(wsgate.NewError("X", "x"), wsgate.ErrAuthUnavailable, errDown)), http.StatusServiceUnavailable, "authentication unavailable", wsgate.CodeUnavailable},
		{"KeyFunc cannot fetch keys", func(t *testing.T) wsgate.Authenticator { return jwtWithKeys(t, errDown) }, http.StatusServiceUnavailable, "authentication unavailable", wsgate.CodeUnavailable},
		{"KeyFunc knows no such key", func(t *testing.T) wsgate.Authenticator {
			return jwtWithKeys(t, fmt.Errorf("kid: %w", wsgate.ErrUnknownKey))
		}, http.StatusUnauthorized, "invalid token", wsgate.CodeUnauthorized},
		{"gateway error", fixed(wsgate.NewError("REVOKED", "session revoked")), http.StatusUnauthorized, "session revoked", "REVOKED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := new(logBuffer)
			gw, srv := newWhoamiServer(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: tc.auth(t), Logger: logs.logger()})
			token := testSigner.Token(t, "alice", nil)
			he := srv.Refused(withCookie(token))
			wantRefusal(t, he, tc.status, tc.message)
			if he.Body.Code != tc.code {
				t.Errorf("code %q, want %q", he.Body.Code, tc.code)
			}
			if bytes.Contains(he.RawBody, []byte("10.0.0.7")) {
				t.Errorf("body %s leaks the error's text", he.RawBody)
			}
			wantNoLeak(t, he.RawBody, token)
			if gw.Len() != 0 {
				t.Errorf("Len = %d", gw.Len())
			}
			if tc.status != http.StatusServiceUnavailable {
				if strings.Contains(logs.String(), "level=ERROR") {
					t.Errorf("a refused token logged at Error level:\n%s", logs)
				}
				return
			}
			if he.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %v", he.Header)
			}
			if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "authenticator unavailable") ||
				!strings.Contains(got, `source="cookie \"access_token\""`) {
				t.Errorf("the outage is not logged at Error level with its source:\n%s", got)
			}
		})
	}
}

// TestHandshakeUnusablePrincipal: a custom authenticator's principal whose
// expiry cannot be written as RFC 3339 (the $refresh answer) is refused
// like one without a subject, and logged.
func TestHandshakeUnusablePrincipal(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]*wsgate.Principal{
		"Expires in year 10000": {Subject: "alice", Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"empty subject":         {Expires: time.Now().Add(time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			logs := new(logBuffer)
			auth := wsgate.AuthenticatorFunc(func(context.Context, string) (*wsgate.Principal, error) { return p, nil })
			_, srv := newWhoamiServer(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: auth, Logger: logs.logger()})
			wantRefusal(t, srv.Refused(withCookie("opaque")), http.StatusUnauthorized, "invalid token")
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("not logged at Error level:\n%s", logs)
			}
		})
	}
	// The last second of year 9999 is fine.
	auth := wsgate.AuthenticatorFunc(func(context.Context, string) (*wsgate.Principal, error) {
		return &wsgate.Principal{Subject: "alice", Expires: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}, nil
	})
	_, srv := newWhoamiServer(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: auth})
	c := srv.Dial(withCookie("opaque"))
	wantWhoami(t, c, "alice")
	c.Close()
}

// TestHandshakeStrictTokens: the verifier's strictness holds at the
// handshake: 401 "invalid token", nothing more.
func TestHandshakeStrictTokens(t *testing.T) {
	t.Parallel()
	_, srv := newWhoamiServer(t, cookieJWTOptions(t))
	for _, tc := range []struct{ name, token string }{
		{"SUB beside sub", rawToken(t, `"sub":"alice","SUB":"bob"`)},
		{"SUB alone", rawToken(t, `"SUB":"bob"`)},
		{"role twice", rawToken(t, `"sub":"alice","role":"viewer","role":"admin"`)},
		{"Role", rawToken(t, `"sub":"alice","Role":"admin"`)},
		{"exp past year 9999", rawHS256(t, testKey, hs256Header, fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":253402300800}`, testIssuer, testAudience))},
		{"exp a string", rawHS256(t, testKey, hs256Header, fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":%q}`, testIssuer, testAudience, strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)))},
		{"exp overflowing", rawHS256(t, testKey, hs256Header, fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":1e300}`, testIssuer, testAudience))},
		{"crit", rawHS256(t, testKey, `{"alg":"HS256","crit":["urn:example:ext"],"urn:example:ext":1}`, fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":%d}`, testIssuer, testAudience, time.Now().Add(time.Hour).Unix()))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			he := srv.Refused(withCookie(tc.token))
			wantRefusal(t, he, http.StatusUnauthorized, "invalid token")
			wantNoLeak(t, he.RawBody, tc.token)
		})
	}
	// The same claims, spelt exactly, connect.
	c := srv.Dial(withCookie(rawToken(t, `"sub":"alice","role":"admin"`)))
	wantWhoami(t, c, "alice")
	c.Close()
}

// TestRefreshAuthenticatorUnavailable: during $refresh too, an
// authenticator that fails is UNAVAILABLE, not UNAUTHORIZED, and the
// connection keeps its principal.
func TestRefreshAuthenticatorUnavailable(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	verifier := roleJWT(t)
	auth := wsgate.AuthenticatorFunc(func(ctx context.Context, token string) (*wsgate.Principal, error) {
		if down.Load() {
			return nil, errors.New("key server 10.0.0.9 unreachable")
		}
		return verifier.Authenticate(ctx, token)
	})
	logs := new(logBuffer)
	_, srv := newWhoamiServer(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: auth, Logger: logs.logger()})
	c := srv.Dial(withCookie(testSigner.Token(t, "alice", nil)))
	defer c.Close()

	down.Store(true)
	ack := c.Request(wsgate.RefreshEvent, map[string]string{"token": testSigner.Token(t, "alice", nil)})
	if ack.OK() || ack.Error.Code != wsgate.CodeUnavailable || ack.Error.Message != "authentication unavailable" {
		t.Fatalf("refresh while the authenticator is down: %s %+v, want UNAVAILABLE", ack.Data, ack.Error)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "10.0.0.9") {
		t.Errorf("the outage is not logged at Error level:\n%s", logs)
	}
	down.Store(false)
	forged := wsgatetest.Signer{Key: otherKey, Issuer: testIssuer, Audience: testAudience}.Token(t, "alice", nil)
	ack = c.Request(wsgate.RefreshEvent, map[string]string{"token": forged})
	if ack.OK() || ack.Error.Code != wsgate.CodeUnauthorized || ack.Error.Message != "invalid token" {
		t.Fatalf("refresh with a forged token: %s %+v, want UNAUTHORIZED", ack.Data, ack.Error)
	}
	ack = c.Request(wsgate.RefreshEvent, map[string]string{"token": rawToken(t, `"sub":"alice","SUB":"bob"`)})
	if ack.OK() || ack.Error.Code != wsgate.CodeUnauthorized {
		t.Fatalf("refresh with an ambiguous token: %s %+v, want UNAUTHORIZED", ack.Data, ack.Error)
	}
	wantWhoami(t, c, "alice")
	ack = c.Request(wsgate.RefreshEvent, map[string]string{"token": testSigner.Sign(t, jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "alice", "exp": time.Now().Add(2 * time.Hour).Unix(),
	})})
	if !ack.OK() {
		t.Fatalf("refresh with a good token: %+v", ack.Error)
	}
}
