package wsgate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// The handshake contract (DESIGN.md, "Handshake contract" and "Security
// rules"), tested from the outside: every refusal is checked for its
// status, its JSON body and the absence of an upgrade.

// ---------------------------------------------------------------- mounting

func TestHandshakeMountedOnMux(t *testing.T) {
	t.Parallel()
	gw := newWhoamiGateway(t, cookieJWTOptions(t))
	mux := http.NewServeMux()
	mux.Handle("GET /ws", gw)
	mux.Handle("OPTIONS /ws", gw)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "app page", http.StatusTeapot) })
	srv := wsgatetest.NewServer(t, mux)

	opts := withCookie(testSigner.Token(t, "alice", nil))
	opts.Path = "/ws"
	c := srv.Dial(opts)
	wantWhoami(t, c, "alice")
	c.Close()

	// Another path of the same mux is not the gateway (Refused would fail
	// the test: the answer is not a wsgate refusal).
	opts.Path = "/other"
	var he *wsgatetest.HandshakeError
	if _, err := srv.DialErr(opts); !errors.As(err, &he) || he.Status != http.StatusTeapot {
		t.Fatalf("other path: %v, want the mux's own answer", err)
	}
}

func TestHandshakeTwoGatewaysDoNotInterfere(t *testing.T) {
	t.Parallel()
	const originA, originB = "https://a.example.org", "https://b.example.org"
	keyB := []byte("gateway-b-has-its-own-key-0123456789ab")
	signerB := wsgatetest.Signer{Key: keyB, Issuer: testIssuer, Audience: testAudience}
	verB, err := wsgate.NewJWT[roleClaims](wsgate.JWTOptions{Methods: []string{"HS256"}, Key: keyB, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	authA, callsA := countingAuthenticator(roleJWT(t))
	authB, callsB := countingAuthenticator(verB)
	gwA := newWhoamiGateway(t, wsgate.Options{Origins: []string{originA}, Authenticator: authA})
	gwB := newWhoamiGateway(t, wsgate.Options{Origins: []string{originB}, Authenticator: authB})
	mux := http.NewServeMux()
	mux.Handle("/a", gwA)
	mux.Handle("/b", gwB)
	srv := wsgatetest.NewServer(t, mux)

	dial := func(path, origin, token string) wsgatetest.DialOptions {
		return wsgatetest.DialOptions{Path: path, Origin: origin,
			Cookies: []*http.Cookie{{Name: wsgate.DefaultTokenCookie, Value: token}}}
	}
	tokA, tokB := testSigner.Token(t, "alice", nil), signerB.Token(t, "bob", nil)

	a := srv.Dial(dial("/a", originA, tokA))
	wantWhoami(t, a, "alice")
	b := srv.Dial(dial("/b", originB, tokB))
	wantWhoami(t, b, "bob")

	// A's token at B, and B's at A: signed with the other key.
	wantRefusal(t, srv.Refused(dial("/b", originB, tokA)), http.StatusUnauthorized, "invalid token")
	wantRefusal(t, srv.Refused(dial("/a", originA, tokB)), http.StatusUnauthorized, "invalid token")
	// A's origin at B, and B's at A.
	beforeA, beforeB := callsA.Load(), callsB.Load()
	wantRefusal(t, srv.Refused(dial("/b", originA, tokB)), http.StatusForbidden, "origin not allowed")
	wantRefusal(t, srv.Refused(dial("/a", originB, tokA)), http.StatusForbidden, "origin not allowed")
	if callsA.Load() != beforeA || callsB.Load() != beforeB {
		t.Fatalf("an authenticator ran for a refused origin")
	}
	if gwA.Len() != 1 || gwB.Len() != 1 {
		t.Fatalf("Len: A %d, B %d; want 1 each", gwA.Len(), gwB.Len())
	}
	a.Close()
	b.Close()
}

// ------------------------------------------------------------------ origin

func TestHandshakeOriginPolicy(t *testing.T) {
	t.Parallel()
	auth, calls := countingAuthenticator(roleJWT(t))
	_, srv := newWhoamiServer(t, wsgate.Options{
		Origins:       []string{testOrigin, "https://*.example.com", "http://localhost:3000"},
		Authenticator: auth,
	})
	token := testSigner.Token(t, "alice", nil)
	dial := func(origin string) wsgatetest.DialOptions {
		o := withCookie(token)
		o.Origin = origin
		return o
	}

	for _, origin := range []string{
		testOrigin,
		"https://app.example.org:443", // the default port is the same origin
		"https://chat.example.com",    // one label under the wildcard
		"http://localhost:3000",
	} {
		c := srv.Dial(dial(origin))
		wantWhoami(t, c, "alice")
		c.Close()
	}

	for _, origin := range []string{
		"https://a.b.example.com",          // a wildcard is one label, not several
		"https://example.com",              // nor none
		"https://evilexample.com",          // not a subdomain at all
		"http://chat.example.com",          // scheme mismatch
		"http://app.example.org",           // scheme mismatch on an exact entry
		"https://app.example.org:8443",     // port mismatch
		"https://app.example.org.evil.net", // suffix trick
		"https://localhost:3000",           // scheme mismatch
		"null",                             // sandboxed frames, file: pages
		"https://app.example.org/",         // not a serialised origin
		"https://user@app.example.org",     // nor this
		"app.example.org",                  // nor this
	} {
		t.Run(origin, func(t *testing.T) {
			before := calls.Load()
			he := srv.Refused(dial(origin))
			wantRefusal(t, he, http.StatusForbidden, "origin not allowed")
			if he.Body.Code != wsgate.CodeOriginNotAllowed {
				t.Errorf("code %q, want %q", he.Body.Code, wsgate.CodeOriginNotAllowed)
			}
			wantNoLeak(t, he.RawBody, token)
			if calls.Load() != before {
				t.Fatalf("the authenticator ran for a refused origin")
			}
		})
	}
}

func TestHandshakeOriginHeaderTwice(t *testing.T) {
	t.Parallel()
	auth, calls := countingAuthenticator(roleJWT(t))
	_, srv := newWhoamiServer(t, wsgate.Options{Origins: []string{testOrigin, "https://other.example.org"}, Authenticator: auth})
	token := testSigner.Token(t, "alice", nil)
	for _, origins := range [][]string{
		{testOrigin, testOrigin},
		{testOrigin, "https://other.example.org"},
		{"https://evil.example.net", testOrigin},
	} {
		opts := withCookie(token)
		opts.Origin = ""
		opts.Header = http.Header{"Origin": origins}
		wantRefusal(t, srv.Refused(opts), http.StatusForbidden, "origin not allowed")
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("authenticator called %d times", n)
	}
}

func TestHandshakeOriginFunc(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var asked []string
	_, srv := newWhoamiServer(t, wsgate.Options{
		Origins: []string{testOrigin},
		OriginFunc: func(origin string) bool {
			mu.Lock()
			asked = append(asked, origin)
			mu.Unlock()
			return origin == "https://partner.example.net"
		},
		Authenticator: roleJWT(t),
	})
	token := testSigner.Token(t, "alice", nil)

	opts := withCookie(token)
	opts.Origin = "https://PARTNER.example.net:443"
	c := srv.Dial(opts)
	wantWhoami(t, c, "alice")
	c.Close()

	opts.Origin = "https://stranger.example.net"
	wantRefusal(t, srv.Refused(opts), http.StatusForbidden, "origin not allowed")

	opts.Origin = testOrigin // allowed by the list: the func is not asked
	srv.Dial(opts).Close()

	mu.Lock()
	defer mu.Unlock()
	want := []string{"https://partner.example.net", "https://stranger.example.net"}
	if strings.Join(asked, " ") != strings.Join(want, " ") {
		t.Fatalf("OriginFunc asked about %q, want %q (normalised, list entries not asked)", asked, want)
	}
}

func TestHandshakeMissingOrigin(t *testing.T) {
	t.Parallel()
	token := testSigner.Token(t, "alice", nil)
	noOrigin := func(opts wsgatetest.DialOptions) wsgatetest.DialOptions {
		opts.Origin = ""
		return opts
	}
	cookieOnly := noOrigin(withCookie(token))
	bearerOnly := wsgatetest.DialOptions{Header: bearerHeader(token)}

	t.Run("cookie", func(t *testing.T) {
		t.Parallel()
		for _, allowMissing := range []bool{false, true} {
			auth, calls := countingAuthenticator(roleJWT(t))
			_, srv := newWhoamiServer(t, wsgate.Options{
				Origins: []string{testOrigin}, Authenticator: auth, AllowMissingOrigin: allowMissing,
			})
			he := srv.Refused(cookieOnly)
			if he.Status != http.StatusForbidden {
				t.Fatalf("AllowMissingOrigin=%v: %d %s, want 403", allowMissing, he.Status, he.RawBody)
			}
			wantNoLeak(t, he.RawBody, token)
			if calls.Load() != 0 {
				t.Fatalf("AllowMissingOrigin=%v: the authenticator ran for a cookie without Origin", allowMissing)
			}
		}
	})

	t.Run("bearer", func(t *testing.T) {
		t.Parallel()
		opts := wsgate.Options{
			Origins:       []string{testOrigin},
			Authenticator: roleJWT(t),
			TokenSources:  []wsgate.TokenSource{wsgate.BearerToken()},
		}
		_, strict := newWhoamiServer(t, opts)
		if he := strict.Refused(bearerOnly); he.Status != http.StatusForbidden {
			t.Fatalf("default: %d %s, want 403", he.Status, he.RawBody)
		}
		opts.AllowMissingOrigin = true
		_, lenient := newWhoamiServer(t, opts)
		c := lenient.Dial(bearerOnly)
		wantWhoami(t, c, "alice")
		c.Close()
	})

	// Both sources configured, only the cookie sent: the ambient rule
	// follows the source that found the token, not the configuration.
	t.Run("cookie among sources", func(t *testing.T) {
		t.Parallel()
		auth, calls := countingAuthenticator(roleJWT(t))
		_, srv := newWhoamiServer(t, wsgate.Options{
			Origins:            []string{testOrigin},
			Authenticator:      auth,
			TokenSources:       []wsgate.TokenSource{wsgate.BearerToken(), wsgate.CookieToken(wsgate.DefaultTokenCookie)},
			AllowMissingOrigin: true,
		})
		if he := srv.Refused(cookieOnly); he.Status != http.StatusForbidden {
			t.Fatalf("%d %s, want 403", he.Status, he.RawBody)
		}
		if calls.Load() != 0 {
			t.Fatalf("the authenticator ran for a cookie without Origin")
		}
		c := srv.Dial(bearerOnly)
		wantWhoami(t, c, "alice")
		c.Close()
	})
}

func TestHandshakeNewRefusesCookieAuthWithoutOrigins(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]wsgate.Options{
		"default source": {Authenticator: roleJWT(t)},
		"explicit cookie": {Authenticator: roleJWT(t), TokenSources: []wsgate.TokenSource{
			wsgate.BearerToken(), wsgate.CookieToken("__Host-session"),
		}},
		"missing origin allowed": {Authenticator: roleJWT(t), AllowMissingOrigin: true},
	} {
		if gw, err := wsgate.New(opts); err == nil || gw != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, gw, err)
		}
	}
	// Header tokens need no origin list: no browser sends them by itself.
	if _, err := wsgate.New(wsgate.Options{Authenticator: roleJWT(t), TokenSources: []wsgate.TokenSource{wsgate.BearerToken()}}); err != nil {
		t.Errorf("bearer only: %v", err)
	}
}

func TestHandshakeInsecureAllowAnyOrigin(t *testing.T) {
	t.Parallel()
	_, srv := newWhoamiServer(t, wsgate.Options{Authenticator: roleJWT(t), InsecureAllowAnyOrigin: true})
	token := testSigner.Token(t, "alice", nil)
	for _, origin := range []string{"https://anything.example.net", "http://localhost:5173"} {
		opts := withCookie(token)
		opts.Origin = origin
		c := srv.Dial(opts)
		wantWhoami(t, c, "alice")
		c.Close()
	}
	opts := withCookie(token)
	opts.Origin = "null"
	wantRefusal(t, srv.Refused(opts), http.StatusForbidden, "origin not allowed")
	opts.Origin = "" // still a cookie: an Origin is required
	if he := srv.Refused(opts); he.Status != http.StatusForbidden {
		t.Fatalf("no Origin: %d %s, want 403", he.Status, he.RawBody)
	}
}

// ------------------------------------------- our gate before coder's Accept

// realDial dials a real server with coder/websocket's client. On a
// refusal it returns the response, its body read.
func realDial(t *testing.T, wsURL string, header http.Header) (*websocket.Conn, *http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: header})
	if err == nil {
		return ws, resp, nil
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return nil, resp, body
}

// TestHandshakeAcceptUnreachableWithoutOurGate shows, over a real
// net/http server, that the requests coder/websocket's own origin check
// would let through never reach its Accept: they get our 403 JSON.
func TestHandshakeAcceptUnreachableWithoutOurGate(t *testing.T) {
	t.Parallel()

	// The control: coder/websocket's Accept with its default check.
	bare := realServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err == nil {
			ws.CloseNow()
		}
	}))
	bareHost := strings.TrimPrefix(bare.URL, "http://")
	sameHostOtherScheme := "https://" + bareHost
	ws, resp, body := realDial(t, "ws"+strings.TrimPrefix(bare.URL, "http"), http.Header{"Origin": {sameHostOtherScheme}})
	if ws == nil {
		t.Fatalf("control: coder's own check refused %s (%d %s); the premise of this test is gone", sameHostOtherScheme, resp.StatusCode, body)
	}
	ws.CloseNow()

	gw := newWhoamiGateway(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: roleJWT(t), AllowMissingOrigin: true})
	shutdownOnCleanup(t, gw)
	srv := realServer(t, gw)
	host := strings.TrimPrefix(srv.URL, "http://")
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")
	cookie := wsgate.DefaultTokenCookie + "=" + testSigner.Token(t, "alice", nil)

	for _, header := range []http.Header{
		{"Origin": {"https://" + host}},          // same host, another scheme
		{"Origin": {"http://" + host}},           // same host, same scheme: still not on our list
		{"Origin": {"https://evil.example.net"}}, // plainly not allowed
		{"Origin": {"null"}},
		{}, // no Origin, token in a cookie: coder lets a missing Origin through
	} {
		header.Set("Cookie", cookie)
		ws, resp, body := realDial(t, wsURL, header)
		if ws != nil {
			ws.CloseNow()
			t.Fatalf("Origin %q: upgraded", header.Get("Origin"))
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("Origin %q: %d %s, want 403", header.Get("Origin"), resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Origin %q: Content-Type %q, want our application/json (not coder's text/plain)", header.Get("Origin"), ct)
		}
		var e struct{ Status, Message, Code string }
		if err := json.Unmarshal(body, &e); err != nil || e.Status != "error" || e.Code != wsgate.CodeOriginNotAllowed {
			t.Fatalf("Origin %q: body %q, want our JSON refusal", header.Get("Origin"), body)
		}
	}

	// And the allowed origin does upgrade, over the same real server.
	ws, _, body = realDial(t, wsURL, http.Header{"Origin": {testOrigin}, "Cookie": {cookie}})
	if ws == nil {
		t.Fatalf("allowed origin refused: %s", body)
	}
	ws.Close(websocket.StatusNormalClosure, "")
}

// ------------------------------------------------------------------ tokens

// forgedTokens returns tokens that must all be refused by roleJWT, with the
// message the client should see.
func forgedTokens(t *testing.T) []struct{ name, token, message string } {
	t.Helper()
	good := testSigner.Token(t, "alice", nil)
	other := testSigner.Token(t, "mallory", nil)
	parts := strings.Split(good, ".")
	otherParts := strings.Split(other, ".")
	now := time.Now()
	claims := func(edit func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
		c := jwt.RegisteredClaims{
			Subject: "alice", Issuer: testIssuer, Audience: jwt.ClaimStrings{testAudience},
			IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return []struct{ name, token, message string }{
		{"not a JWT", "not-a-jwt-at-all", "invalid token"},
		{"two segments", parts[0] + "." + parts[1], "invalid token"},
		{"garbage segments", "aaaaaaaaaa.bbbbbbbbbb.cccccccccc", "invalid token"},
		{"oversized", good + strings.Repeat("A", 8<<10), "token too large"},
		{"signature of another token", parts[0] + "." + parts[1] + "." + otherParts[2], "invalid token"},
		{"payload swapped", parts[0] + "." + otherParts[1] + "." + parts[2], "invalid token"},
		{"signed with another key", wsgatetest.Signer{Key: otherKey, Issuer: testIssuer, Audience: testAudience}.Token(t, "alice", nil), "invalid token"},
		{"alg none", none, "invalid token"},
		{"alg none, signature kept", strings.Split(none, ".")[0] + "." + parts[1] + "." + parts[2], "invalid token"},
		{"HS384 where HS256 is required", wsgatetest.Signer{Method: jwt.SigningMethodHS384, Key: testKey, Issuer: testIssuer, Audience: testAudience}.Token(t, "alice", nil), "invalid token"},
		{"expired", testSigner.Expired(t, "alice"), "token expired"},
		{"not valid yet", testSigner.NotYetValid(t, "alice"), "token not valid yet"},
		{"no exp", testSigner.Sign(t, claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })), "invalid token"},
		{"wrong iss", testSigner.Sign(t, claims(func(c *jwt.RegisteredClaims) { c.Issuer = "https://evil.example.net" })), "invalid token"},
		{"no iss", testSigner.Sign(t, claims(func(c *jwt.RegisteredClaims) { c.Issuer = "" })), "invalid token"},
		{"wrong aud", testSigner.Sign(t, claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"another-service"} })), "invalid token"},
		{"no sub", testSigner.Sign(t, claims(func(c *jwt.RegisteredClaims) { c.Subject = "" })), "invalid token"},
	}
}

func TestHandshakeTokenRefusals(t *testing.T) {
	t.Parallel()
	cookieAuth, cookieCalls := countingAuthenticator(roleJWT(t))
	_, cookieSrv := newWhoamiServer(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: cookieAuth})
	_, bearerSrv := newWhoamiServer(t, wsgate.Options{
		Origins: []string{testOrigin}, Authenticator: roleJWT(t),
		TokenSources: []wsgate.TokenSource{wsgate.BearerToken()},
	})

	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		wantRefusal(t, cookieSrv.Refused(wsgatetest.DialOptions{Origin: testOrigin}), http.StatusUnauthorized, "missing token")
		// Other cookies are not the token.
		opts := wsgatetest.DialOptions{Origin: testOrigin, Cookies: []*http.Cookie{{Name: "session", Value: "x"}, {Name: "Access_Token", Value: testSigner.Token(t, "alice", nil)}}}
		wantRefusal(t, cookieSrv.Refused(opts), http.StatusUnauthorized, "missing token")
		wantRefusal(t, bearerSrv.Refused(wsgatetest.DialOptions{Origin: testOrigin}), http.StatusUnauthorized, "missing token")
		wantRefusal(t, bearerSrv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Header: http.Header{"Authorization": {"Basic YWxpY2U6c2VjcmV0"}}}), http.StatusUnauthorized, "missing token")
	})

	for _, tc := range forgedTokens(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := cookieCalls.Load()
			he := cookieSrv.Refused(withCookie(tc.token))
			wantRefusal(t, he, http.StatusUnauthorized, tc.message)
			wantNoLeak(t, he.RawBody, tc.token)
			if cookieCalls.Load() == before {
				t.Errorf("the authenticator was not asked about the cookie")
			}

			he = bearerSrv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Header: bearerHeader(tc.token)})
			wantRefusal(t, he, http.StatusUnauthorized, tc.message)
			wantNoLeak(t, he.RawBody, tc.token)
		})
	}

	t.Run("malformed bearer header", func(t *testing.T) {
		t.Parallel()
		good := testSigner.Token(t, "alice", nil)
		for _, h := range []http.Header{
			{"Authorization": {"Bearer "}},
			{"Authorization": {"Bearer " + good + " trailing"}},
			{"Authorization": {"Bearer " + good, "Bearer " + good}},
		} {
			he := bearerSrv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Header: h})
			if he.Status != http.StatusUnauthorized {
				t.Fatalf("%q: %d %s, want 401", h.Values("Authorization"), he.Status, he.RawBody)
			}
			wantNoLeak(t, he.RawBody, good)
		}
	})
}

func TestHandshakeCookieParsing(t *testing.T) {
	t.Parallel()
	_, srv := newWhoamiServer(t, cookieJWTOptions(t))
	good := testSigner.Token(t, "alice", nil)
	tossed := testSigner.Token(t, "mallory", nil)
	withLines := func(lines ...string) wsgatetest.DialOptions {
		return wsgatetest.DialOptions{Origin: testOrigin, Header: http.Header{"Cookie": lines}}
	}

	for name, opts := range map[string]wsgatetest.DialOptions{
		"twice in one line, same value":      withLines("access_token=" + good + "; access_token=" + good),
		"twice in one line, tossed first":    withLines("access_token=" + tossed + "; access_token=" + good),
		"across two lines":                   withLines("access_token="+good, "theme=dark; access_token="+tossed),
		"second one malformed":               withLines("access_token=" + good + "; access_token=\"bad\\value"),
		"second one empty":                   withLines("access_token=" + good + "; access_token="),
		"quoted and unquoted across lines":   withLines("access_token=\""+good+"\"", "access_token="+good),
		"duplicate in the same line, spaced": withLines("access_token = " + good + " ;access_token=" + good),
	} {
		t.Run(name, func(t *testing.T) {
			he := srv.Refused(opts)
			wantRefusal(t, he, http.StatusUnauthorized, "ambiguous token")
			wantNoLeak(t, he.RawBody, good)
			wantNoLeak(t, he.RawBody, tossed)
		})
	}

	for name, opts := range map[string]wsgatetest.DialOptions{
		"malformed pairs around it": withLines("junk; =nameless; bad name=x; a=\"unterminated; access_token=" + good + "; novalue; b=\\x"),
		"quoted value":              withLines("theme=dark; access_token=\"" + good + "\""),
		"in the second line":        withLines("theme=dark", "lang=en; access_token="+good),
		"spaces around it":          withLines("  access_token=" + good + "  ;theme=dark"),
	} {
		t.Run(name, func(t *testing.T) {
			c := srv.Dial(opts)
			wantWhoami(t, c, "alice")
			c.Close()
		})
	}
}

func TestHandshakeHostPrefixedCookie(t *testing.T) {
	t.Parallel()
	_, srv := newWhoamiServer(t, wsgate.Options{
		Origins: []string{testOrigin}, Authenticator: roleJWT(t),
		TokenSources: []wsgate.TokenSource{wsgate.CookieToken("__Host-access_token")},
	})
	token := testSigner.Token(t, "alice", nil)
	c := srv.Dial(wsgatetest.DialOptions{Origin: testOrigin, Cookies: []*http.Cookie{{Name: "__Host-access_token", Value: token}}})
	wantWhoami(t, c, "alice")
	c.Close()
	// The unprefixed name (which any subdomain can set) is another cookie.
	wantRefusal(t, srv.Refused(withCookie(token)), http.StatusUnauthorized, "missing token")
	// And the prefixed one present twice is as ambiguous as any other.
	wantRefusal(t, srv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Cookies: []*http.Cookie{
		{Name: "__Host-access_token", Value: token}, {Name: "__Host-access_token", Value: token},
	}}), http.StatusUnauthorized, "ambiguous token")
}

func TestHandshakeTokenSourceOrder(t *testing.T) {
	t.Parallel()
	auth, calls := countingAuthenticator(roleJWT(t))
	_, srv := newWhoamiServer(t, wsgate.Options{
		Origins: []string{testOrigin}, Authenticator: auth,
		TokenSources: []wsgate.TokenSource{wsgate.BearerToken(), wsgate.CookieToken(wsgate.DefaultTokenCookie)},
	})
	bob, carol := testSigner.Token(t, "bob", nil), testSigner.Token(t, "carol", nil)
	both := func(bearer http.Header, cookie string) wsgatetest.DialOptions {
		o := withCookie(cookie)
		o.Header = bearer
		return o
	}

	// Both present: the first source wins.
	c := srv.Dial(both(bearerHeader(bob), carol))
	wantWhoami(t, c, "bob")
	c.Close()
	// Only the second present: it is used.
	c = srv.Dial(withCookie(carol))
	wantWhoami(t, c, "carol")
	c.Close()

	// The first present but bad: refused, never a fall-through to the
	// good cookie.
	for name, bearer := range map[string]http.Header{
		"bad signature": bearerHeader(testSigner.Expired(t, "bob")),
		"empty":         {"Authorization": {"Bearer "}},
		"not b64token":  {"Authorization": {"Bearer " + bob + "!"}},
		"twice":         {"Authorization": {"Bearer " + bob, "Bearer " + bob}},
	} {
		before := calls.Load()
		he := srv.Refused(both(bearer, carol))
		if he.Status != http.StatusUnauthorized {
			t.Fatalf("%s: %d %s, want 401", name, he.Status, he.RawBody)
		}
		if name != "bad signature" && calls.Load() != before {
			t.Fatalf("%s: the authenticator ran (fell through to the cookie?)", name)
		}
	}
}

func TestHandshakeQueryToken(t *testing.T) {
	t.Parallel()
	token := testSigner.Token(t, "alice", nil)
	q := url.Values{"access_token": {token}}

	_, with := newWhoamiServer(t, wsgate.Options{
		Origins: []string{testOrigin}, Authenticator: roleJWT(t), AllowMissingOrigin: true,
		TokenSources: []wsgate.TokenSource{wsgate.QueryToken("access_token")},
	})
	c := with.Dial(wsgatetest.DialOptions{Origin: testOrigin, Query: q})
	wantWhoami(t, c, "alice")
	c.Close()
	c = with.Dial(wsgatetest.DialOptions{Query: q}) // not ambient: no Origin needed with the option
	wantWhoami(t, c, "alice")
	c.Close()
	he := with.Refused(wsgatetest.DialOptions{Origin: testOrigin, Query: url.Values{"access_token": {token, token}}})
	wantRefusal(t, he, http.StatusUnauthorized, "invalid token")
	wantNoLeak(t, he.RawBody, token)

	// Not configured: a query token is ignored, even a valid one.
	_, without := newWhoamiServer(t, cookieJWTOptions(t))
	he = without.Refused(wsgatetest.DialOptions{Origin: testOrigin, Query: q})
	wantRefusal(t, he, http.StatusUnauthorized, "missing token")
	wantNoLeak(t, he.RawBody, token)
}

func TestHandshakeSubprotocolToken(t *testing.T) {
	t.Parallel()
	_, srv := newWhoamiServer(t, wsgate.Options{
		Origins: []string{testOrigin}, Authenticator: roleJWT(t),
		TokenSources: []wsgate.TokenSource{wsgate.SubprotocolToken("access_token")},
	})
	token := testSigner.Token(t, "alice", nil)

	c := srv.Dial(wsgatetest.DialOptions{Origin: testOrigin, Subprotocols: []string{"access_token", token}})
	if got := c.Response.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != "access_token" {
		t.Fatalf("negotiated %q, want [access_token]", got)
	}
	for name, values := range c.Response.Header {
		for _, v := range values {
			wantNoLeak(t, []byte(name+": "+v), token)
		}
	}
	wantWhoami(t, c, "alice")
	c.Close()

	// The protocol without a token after it, or with a bad one: 401.
	wantRefusal(t, srv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Subprotocols: []string{"access_token"}}), http.StatusUnauthorized, "invalid token")
	he := srv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Subprotocols: []string{"access_token", testSigner.Expired(t, "alice")}})
	wantRefusal(t, he, http.StatusUnauthorized, "token expired")
	if he.Header.Get("Sec-WebSocket-Protocol") != "" {
		t.Fatalf("a refusal negotiated a subprotocol: %v", he.Header)
	}
	wantRefusal(t, srv.Refused(wsgatetest.DialOptions{Origin: testOrigin}), http.StatusUnauthorized, "missing token")
}

func TestHandshakeAllowAnonymous(t *testing.T) {
	t.Parallel()
	opts := cookieJWTOptions(t)
	opts.AllowAnonymous = true
	var mu sync.Mutex
	var principals []*wsgate.Principal
	opts.ConnectGuards = []wsgate.Guard{func(c *wsgate.Context) error {
		mu.Lock()
		principals = append(principals, c.Principal())
		mu.Unlock()
		return nil
	}}
	_, srv := newWhoamiServer(t, opts)

	c := srv.Dial(wsgatetest.DialOptions{Origin: testOrigin})
	wantWhoami(t, c, "")
	c.Close()
	mu.Lock()
	if len(principals) != 1 || principals[0] != nil {
		t.Fatalf("connect guard saw %v, want one nil principal", principals)
	}
	mu.Unlock()

	c = srv.Dial(withCookie(testSigner.Token(t, "alice", nil)))
	wantWhoami(t, c, "alice")
	c.Close()

	// Present but bad is refused all the same.
	for _, tc := range forgedTokens(t) {
		he := srv.Refused(withCookie(tc.token))
		if he.Status != http.StatusUnauthorized {
			t.Fatalf("%s: %d %s, want 401", tc.name, he.Status, he.RawBody)
		}
	}
	wantRefusal(t, srv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Header: http.Header{
		"Cookie": {"access_token=a; access_token=b"},
	}}), http.StatusUnauthorized, "ambiguous token")
	wantRefusal(t, srv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Header: http.Header{
		"Cookie": {"access_token="},
	}}), http.StatusUnauthorized, "invalid token")
	// A token cookie whose value is malformed is a broken token, not none.
	wantRefusal(t, srv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Header: http.Header{
		"Cookie": {`a=1; access_token=to"ken; b=2`},
	}}), http.StatusUnauthorized, "invalid token")
}

// TestHandshakeAuthenticatorErrors: an *Error from a custom authenticator
// reaches the client with its message and code (as a 401, whatever its
// Status); a principal without a subject is "invalid token" and nothing
// more. Any other error is the authenticator's own failure, not the
// token's: 503 "authentication unavailable"
// (TestHandshakeAuthenticatorUnavailable).
func TestHandshakeAuthenticatorErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		principal     *wsgate.Principal
		err           error
		message, code string
	}{
		{"gateway error", nil, wsgate.NewError("REVOKED", "session revoked"), "session revoked", "REVOKED"},
		{"gateway error with a status", nil, &wsgate.Error{Status: http.StatusForbidden, Message: "banned"}, "banned", wsgate.CodeUnauthorized},
		{"wrapped gateway error", nil, fmt.Errorf("session store: %w", wsgate.NewError("REVOKED", "session revoked")), "session revoked", "REVOKED"},
		{"empty subject", &wsgate.Principal{}, nil, "invalid token", wsgate.CodeUnauthorized},
		{"no principal", nil, nil, "invalid token", wsgate.CodeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			auth := wsgate.AuthenticatorFunc(func(context.Context, string) (*wsgate.Principal, error) {
				return tc.principal, tc.err
			})
			_, srv := newWhoamiServer(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: auth})
			he := srv.Refused(withCookie("opaque-session-token"))
			wantRefusal(t, he, http.StatusUnauthorized, tc.message)
			if he.Body.Code != tc.code {
				t.Errorf("code %q, want %q", he.Body.Code, tc.code)
			}
			if bytes.Contains(he.RawBody, []byte("10.0.0.7")) {
				t.Errorf("body %s leaks the error's text", he.RawBody)
			}
		})
	}
}

// ---------------------------------------------------------- connect guards

func TestHandshakeConnectGuards(t *testing.T) {
	t.Parallel()
	token := testSigner.Token(t, "alice", nil)

	for _, tc := range []struct {
		name    string
		guard   wsgate.Guard
		status  int
		message string
		code    string
	}{
		{"ErrForbidden", func(*wsgate.Context) error { return wsgate.ErrForbidden }, http.StatusForbidden, "Forbidden resource", wsgate.CodeForbidden},
		{"Allow false", wsgate.Allow(func(*wsgate.Context) bool { return false }), http.StatusForbidden, "Forbidden resource", wsgate.CodeForbidden},
		{"own status", func(*wsgate.Context) error {
			return &wsgate.Error{Status: http.StatusPaymentRequired, Code: "PAYMENT_REQUIRED", Message: "subscription lapsed"}
		}, http.StatusPaymentRequired, "subscription lapsed", "PAYMENT_REQUIRED"},
		{"no status means 403", func(*wsgate.Context) error { return wsgate.NewError("BANNED", "banned") }, http.StatusForbidden, "banned", "BANNED"},
		{"wrapped Error", func(*wsgate.Context) error {
			return errors.Join(errors.New("db row 42 secret"), &wsgate.Error{Status: http.StatusTooManyRequests, Code: "SLOW_DOWN", Message: "slow down"})
		}, http.StatusTooManyRequests, "slow down", "SLOW_DOWN"},
		{"plain error", func(*wsgate.Context) error { return errors.New("db at 10.0.0.7 refused: secret") }, http.StatusInternalServerError, "Internal server error", wsgate.CodeInternal},
		{"panic", func(*wsgate.Context) error { panic("secret panic text at /srv/app/guard.go") }, http.StatusInternalServerError, "Internal server error", wsgate.CodeInternal},
		{"panic with error", func(*wsgate.Context) error { panic(errors.New("secret error value")) }, http.StatusInternalServerError, "Internal server error", wsgate.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var after atomic.Int64
			opts := cookieJWTOptions(t)
			opts.ConnectGuards = []wsgate.Guard{tc.guard, func(*wsgate.Context) error { after.Add(1); return nil }}
			gw, srv := newWhoamiServer(t, opts)
			he := srv.Refused(withCookie(token))
			wantRefusal(t, he, tc.status, tc.message)
			if he.Body.Code != tc.code {
				t.Errorf("code %q, want %q", he.Body.Code, tc.code)
			}
			for _, secret := range []string{"secret", "goroutine", ".go", "10.0.0.7", "42"} {
				if bytes.Contains(he.RawBody, []byte(secret)) {
					t.Errorf("body %s leaks %q", he.RawBody, secret)
				}
			}
			wantNoLeak(t, he.RawBody, token)
			if after.Load() != 0 {
				t.Errorf("the guard after the denial ran")
			}
			if gw.Len() != 0 {
				t.Errorf("Len = %d after a denial", gw.Len())
			}
		})
	}
}

func TestHandshakeConnectGuardSeesRequestAndPrincipal(t *testing.T) {
	t.Parallel()
	type seen struct {
		subject, path, origin, role, event string
		hasConn                            bool
		deadline                           bool
	}
	got := make(chan seen, 1)
	opts := cookieJWTOptions(t)
	opts.ConnectTimeout = time.Minute
	opts.ConnectGuards = []wsgate.Guard{func(c *wsgate.Context) error {
		s := seen{path: c.Request().URL.Path, origin: c.Request().Header.Get("Origin"), event: c.Event(), hasConn: c.Conn() != nil}
		if p := c.Principal(); p != nil {
			s.subject = p.Subject
			if r, ok := p.Claim("role"); ok {
				s.role, _ = r.(string)
			}
		}
		if cl, ok := wsgate.ClaimsFrom[*roleClaims](c); !ok || cl.Role != s.role {
			s.role = "ClaimsFrom disagrees"
		}
		_, s.deadline = c.Context().Deadline()
		got <- s
		if s.role != "admin" {
			return wsgate.ErrForbidden
		}
		return nil
	}}
	_, srv := newWhoamiServer(t, opts)

	dial := withCookie(testSigner.Token(t, "alice", map[string]any{"role": "admin"}))
	dial.Path = "/chat"
	c := srv.Dial(dial)
	want := seen{subject: "alice", path: "/chat", origin: testOrigin, role: "admin", deadline: true}
	if s := <-got; s != want {
		t.Fatalf("guard saw %+v, want %+v", s, want)
	}
	wantWhoami(t, c, "alice")
	c.Close()

	dial = withCookie(testSigner.Token(t, "bob", map[string]any{"role": "viewer"}))
	wantRefusal(t, srv.Refused(dial), http.StatusForbidden, "Forbidden resource")
	if s := <-got; s.subject != "bob" || s.role != "viewer" {
		t.Fatalf("guard saw %+v", s)
	}
}

// ---------------------------------------------------------- connect timeout

func TestHandshakeConnectTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond

	blockingAuth := wsgate.AuthenticatorFunc(func(ctx context.Context, _ string) (*wsgate.Principal, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	blockingGuard := func(c *wsgate.Context) error {
		<-c.Context().Done()
		return c.Context().Err()
	}
	for name, opts := range map[string]wsgate.Options{
		"authenticator": {Origins: []string{testOrigin}, Authenticator: blockingAuth, ConnectTimeout: timeout},
		"connect guard": {Origins: []string{testOrigin}, Authenticator: roleJWT(t), ConnectTimeout: timeout,
			ConnectGuards: []wsgate.Guard{blockingGuard}},
		"guard ignoring the error": {Origins: []string{testOrigin}, Authenticator: roleJWT(t), ConnectTimeout: timeout,
			ConnectGuards: []wsgate.Guard{func(c *wsgate.Context) error { <-c.Context().Done(); return nil }}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gw, srv := newWhoamiServer(t, opts)
			start := time.Now()
			he := srv.Refused(withCookie(testSigner.Token(t, "alice", nil)))
			elapsed := time.Since(start)
			wantRefusal(t, he, http.StatusServiceUnavailable, "handshake timed out")
			if he.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			if elapsed < timeout-10*time.Millisecond || elapsed > timeout+2*time.Second {
				t.Errorf("refused after %v, want about %v", elapsed, timeout)
			}
			if gw.Len() != 0 {
				t.Errorf("Len = %d", gw.Len())
			}
		})
	}
}

// TestHandshakeConnectTimeoutUncooperative: an authenticator that ignores
// its context cannot hold the client past ConnectTimeout.
func TestHandshakeConnectTimeoutUncooperative(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	returned := make(chan struct{})
	t.Cleanup(func() {
		close(release)
		<-returned // the straggler ends when its authenticator returns
	})
	stubborn := wsgate.AuthenticatorFunc(func(context.Context, string) (*wsgate.Principal, error) {
		defer close(returned)
		<-release // ignores ctx
		return &wsgate.Principal{Subject: "late"}, nil
	})
	gw, srv := newWhoamiServer(t, wsgate.Options{
		Origins: []string{testOrigin}, Authenticator: stubborn, ConnectTimeout: 50 * time.Millisecond,
	})
	// Dial's own deadline (5 s) is far past ConnectTimeout: only the
	// gateway's answer can end this before it.
	he := srv.Refused(withCookie("token"))
	wantRefusal(t, he, http.StatusServiceUnavailable, "handshake timed out")
	if gw.Len() != 0 {
		t.Errorf("Len = %d", gw.Len())
	}
}

// TestHandshakeConnectTimeoutUncooperativeJWT: the built-in JWT verifier
// with a KeyFunc, and a built-in verifier behind a caller's own token
// source, run the caller's code: when it ignores the handshake's deadline
// the client is still answered at ConnectTimeout.
func TestHandshakeConnectTimeoutUncooperativeJWT(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"KeyFunc", "TokenSource"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			returned := make(chan struct{})
			t.Cleanup(func() {
				close(release)
				<-returned
			})
			opts := wsgate.Options{Origins: []string{testOrigin}, ConnectTimeout: 50 * time.Millisecond}
			switch name {
			case "KeyFunc":
				v, err := wsgate.NewJWT[roleClaims](wsgate.JWTOptions{
					Methods: []string{"HS256"}, Issuer: testIssuer, Audience: testAudience,
					KeyFunc: func(context.Context, string, string) (any, error) {
						defer close(returned)
						<-release // ignores ctx
						return testKey, nil
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				opts.Authenticator = v
			case "TokenSource":
				cookie := wsgate.CookieToken("access_token")
				extract := cookie.Extract
				cookie.Extract = func(r *http.Request) (string, error) {
					defer close(returned)
					<-release // a lookup that hangs
					return extract(r)
				}
				opts.Authenticator = roleJWT(t)
				opts.TokenSources = []wsgate.TokenSource{cookie}
			}
			gw, srv := newWhoamiServer(t, opts)
			he := srv.Refused(withCookie(testSigner.Token(t, "alice", nil)))
			wantRefusal(t, he, http.StatusServiceUnavailable, "handshake timed out")
			if gw.Len() != 0 {
				t.Errorf("Len = %d", gw.Len())
			}
		})
	}
}

// ---------------------------------------------------------------- shutdown

func TestHandshakeRefusedAfterShutdown(t *testing.T) {
	t.Parallel()
	auth, calls := countingAuthenticator(roleJWT(t))
	gw, srv := newWhoamiServer(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: auth})
	c := srv.Dial(withCookie(testSigner.Token(t, "alice", nil)))
	wantWhoami(t, c, "alice")

	shutdown(t, gw)
	if st := c.WaitClosed(); st.Code != wsgate.StatusGoingAway {
		t.Fatalf("open connection closed with %d, want 1001", st.Code)
	}
	before := calls.Load()
	he := srv.Refused(withCookie(testSigner.Token(t, "alice", nil)))
	wantRefusal(t, he, http.StatusServiceUnavailable, "shutting down")
	if he.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %v", he.Header)
	}
	if calls.Load() != before {
		t.Fatalf("the authenticator ran after Shutdown")
	}
	// The origin policy still comes first.
	opts := withCookie("x")
	opts.Origin = "https://evil.example.net"
	wantRefusal(t, srv.Refused(opts), http.StatusForbidden, "origin not allowed")
}

// ------------------------------------------------- a real net/http server

// TestHandshakeServerTimeoutsDoNotReachTheSocket runs the gateway under an
// http.Server with short read and write timeouts: hijacking must clear the
// connection's deadlines, or an idle WebSocket would die with them.
func TestHandshakeServerTimeoutsDoNotReachTheSocket(t *testing.T) {
	t.Parallel()
	gw := newWhoamiGateway(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: roleJWT(t)})
	gw.Handle("echo", func(c *wsgate.Context) (any, error) { return json.RawMessage(bytes.Clone(c.Data())), nil }, wsgate.HandlerOptions{})
	shutdownOnCleanup(t, gw)
	srv := httptest.NewUnstartedServer(gw)
	srv.Config.ReadHeaderTimeout = 100 * time.Millisecond
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Config.IdleTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	ws, _, body := realDial(t, "ws"+strings.TrimPrefix(srv.URL, "http"), http.Header{
		"Origin": {testOrigin},
		"Cookie": {wsgate.DefaultTokenCookie + "=" + testSigner.Token(t, "alice", nil)},
	})
	if ws == nil {
		t.Fatalf("refused: %s", body)
	}
	defer ws.CloseNow()

	roundTrip := func(id int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		req := `{"event":"echo","data":"ping","id":` + strconv.Itoa(id) + `}`
		if err := ws.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
			t.Fatalf("request %d: write: %v", id, err)
		}
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("request %d: read: %v", id, err)
		}
		want := `{"id":` + strconv.Itoa(id) + `,"data":"ping"}`
		if string(b) != want {
			t.Fatalf("request %d: got %s, want %s", id, b, want)
		}
	}
	roundTrip(1)
	time.Sleep(600 * time.Millisecond) // three times every server timeout
	roundTrip(2)
	// Server to client after a pause, too: the write deadline is gone.
	time.Sleep(300 * time.Millisecond)
	if err := gw.Broadcast("tick", 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if _, b, err := ws.Read(ctx); err != nil || string(b) != `{"event":"tick","data":1}` {
		t.Fatalf("broadcast after idle: %s, %v", b, err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
}
