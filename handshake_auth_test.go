package wsgate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// logBuffer collects a gateway's log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogBuffer() (*logBuffer, *slog.Logger) {
	b := new(logBuffer)
	return b, slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// hsRawToken signs claims (JSON text) with the handshake tests' key, valid
// for hsJWT apart from what the members change.
func hsRawToken(t *testing.T, members string) string {
	t.Helper()
	now := time.Now()
	claims := fmt.Sprintf(`{"iss":%q,"aud":%q,"iat":%d,"exp":%d,%s}`,
		hsIssuer, hsAudience, now.Add(-time.Minute).Unix(), now.Add(time.Hour).Unix(), members)
	return rawHS256(t, hsKey, hs256Header, claims)
}

// TestHandshakeAuthenticatorUnavailable: an authenticator that fails
// (its database or key server is down) is answered 503 with Retry-After
// and logged at Error level, so that no client concludes its token is bad;
// the token's own faults stay 401.
func TestHandshakeAuthenticatorUnavailable(t *testing.T) {
	t.Parallel()
	errDown := errors.New("db at 10.0.0.7 is down")
	jwtWithKeys := func(t *testing.T, keyErr error) wsgate.Authenticator {
		v, err := wsgate.NewJWT[hsClaims](wsgate.JWTOptions{
			Methods: []string{"HS256"}, Issuer: hsIssuer, Audience: hsAudience,
			KeyFunc: func(context.Context, string, string) (any, error) {
				if keyErr != nil {
					return nil, keyErr
				}
				return hsKey, nil
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
			logs, logger := newLogBuffer()
			gw, srv := hsNew(t, wsgate.Options{Origins: []string{hsOrigin}, Authenticator: tc.auth(t), Logger: logger})
			token := hsSigner.Token(t, "alice", nil)
			he := srv.Refused(hsWithCookie(token))
			hsWantRefusal(t, he, tc.status, tc.message)
			if he.Body.Code != tc.code {
				t.Errorf("code %q, want %q", he.Body.Code, tc.code)
			}
			if bytes.Contains(he.RawBody, []byte("10.0.0.7")) {
				t.Errorf("body %s leaks the error's text", he.RawBody)
			}
			hsWantNoLeak(t, he.RawBody, token)
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
			logs, logger := newLogBuffer()
			auth := wsgate.AuthenticatorFunc(func(context.Context, string) (*wsgate.Principal, error) { return p, nil })
			_, srv := hsNew(t, wsgate.Options{Origins: []string{hsOrigin}, Authenticator: auth, Logger: logger})
			hsWantRefusal(t, srv.Refused(hsWithCookie("opaque")), http.StatusUnauthorized, "invalid token")
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("not logged at Error level:\n%s", logs)
			}
		})
	}
	// The last second of year 9999 is fine.
	auth := wsgate.AuthenticatorFunc(func(context.Context, string) (*wsgate.Principal, error) {
		return &wsgate.Principal{Subject: "alice", Expires: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}, nil
	})
	_, srv := hsNew(t, wsgate.Options{Origins: []string{hsOrigin}, Authenticator: auth})
	c := srv.Dial(hsWithCookie("opaque"))
	hsWhoami(t, c, "alice")
	c.Close()
}

// TestHandshakeStrictTokens: the verifier's strictness holds at the
// handshake: 401 "invalid token", nothing more.
func TestHandshakeStrictTokens(t *testing.T) {
	t.Parallel()
	_, srv := hsNew(t, hsCookieOpts(t))
	for _, tc := range []struct{ name, token string }{
		{"SUB beside sub", hsRawToken(t, `"sub":"alice","SUB":"bob"`)},
		{"SUB alone", hsRawToken(t, `"SUB":"bob"`)},
		{"role twice", hsRawToken(t, `"sub":"alice","role":"viewer","role":"admin"`)},
		{"Role", hsRawToken(t, `"sub":"alice","Role":"admin"`)},
		{"exp past year 9999", rawHS256(t, hsKey, hs256Header, fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":253402300800}`, hsIssuer, hsAudience))},
		{"exp a string", rawHS256(t, hsKey, hs256Header, fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":%q}`, hsIssuer, hsAudience, strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)))},
		{"exp overflowing", rawHS256(t, hsKey, hs256Header, fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":1e300}`, hsIssuer, hsAudience))},
		{"crit", rawHS256(t, hsKey, `{"alg":"HS256","crit":["urn:example:ext"],"urn:example:ext":1}`, fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":%d}`, hsIssuer, hsAudience, time.Now().Add(time.Hour).Unix()))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			he := srv.Refused(hsWithCookie(tc.token))
			hsWantRefusal(t, he, http.StatusUnauthorized, "invalid token")
			hsWantNoLeak(t, he.RawBody, tc.token)
		})
	}
	// The same claims, spelt exactly, connect.
	c := srv.Dial(hsWithCookie(hsRawToken(t, `"sub":"alice","role":"admin"`)))
	hsWhoami(t, c, "alice")
	c.Close()
}

// TestRefreshAuthenticatorUnavailable: during $refresh too, an
// authenticator that fails is UNAVAILABLE, not UNAUTHORIZED, and the
// connection keeps its principal.
func TestRefreshAuthenticatorUnavailable(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	verifier := hsJWT(t)
	auth := wsgate.AuthenticatorFunc(func(ctx context.Context, token string) (*wsgate.Principal, error) {
		if down.Load() {
			return nil, errors.New("key server 10.0.0.9 unreachable")
		}
		return verifier.Authenticate(ctx, token)
	})
	logs, logger := newLogBuffer()
	_, srv := hsNew(t, wsgate.Options{Origins: []string{hsOrigin}, Authenticator: auth, Logger: logger})
	c := srv.Dial(hsWithCookie(hsSigner.Token(t, "alice", nil)))
	defer c.Close()

	down.Store(true)
	ack := c.Request(wsgate.RefreshEvent, map[string]string{"token": hsSigner.Token(t, "alice", nil)})
	if ack.OK() || ack.Error.Code != wsgate.CodeUnavailable || ack.Error.Message != "authentication unavailable" {
		t.Fatalf("refresh while the authenticator is down: %s %+v, want UNAVAILABLE", ack.Data, ack.Error)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "10.0.0.9") {
		t.Errorf("the outage is not logged at Error level:\n%s", logs)
	}
	down.Store(false)
	forged := wsgatetest.Signer{Key: hsOtherKey, Issuer: hsIssuer, Audience: hsAudience}.Token(t, "alice", nil)
	ack = c.Request(wsgate.RefreshEvent, map[string]string{"token": forged})
	if ack.OK() || ack.Error.Code != wsgate.CodeUnauthorized || ack.Error.Message != "invalid token" {
		t.Fatalf("refresh with a forged token: %s %+v, want UNAUTHORIZED", ack.Data, ack.Error)
	}
	ack = c.Request(wsgate.RefreshEvent, map[string]string{"token": hsRawToken(t, `"sub":"alice","SUB":"bob"`)})
	if ack.OK() || ack.Error.Code != wsgate.CodeUnauthorized {
		t.Fatalf("refresh with an ambiguous token: %s %+v, want UNAUTHORIZED", ack.Data, ack.Error)
	}
	hsWhoami(t, c, "alice")
	ack = c.Request(wsgate.RefreshEvent, map[string]string{"token": hsSigner.Sign(t, jwt.MapClaims{
		"iss": hsIssuer, "aud": hsAudience, "sub": "alice", "exp": time.Now().Add(2 * time.Hour).Unix(),
	})})
	if !ack.OK() {
		t.Fatalf("refresh with a good token: %+v", ack.Error)
	}
}
