package wsgate_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// CORS on the gateway's path (DESIGN.md, "Handshake contract": preflights
// and plain CORS requests are handled by rs/cors with the same origin
// policy as the upgrade). Every request here is a plain HTTP request, so
// the authenticator must never run.

// corsPartner is allowed only by the gateway's OriginFunc.
const corsPartner = "https://partner.example.net"

// corsGateway serves a cookie-authenticated gateway whose policy has an
// exact entry, a wildcard entry and an OriginFunc. The returned counters
// are the authenticator's calls and the origins OriginFunc was asked about.
func corsGateway(t *testing.T) (*wsgatetest.Server, *atomic.Int64, *atomic.Value) {
	t.Helper()
	v, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: []byte("cors-test-key-0123456789-abcdefghij"),
		AllowAnyIssuer: true, AllowAnyAudience: true,
	})
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	auth, calls := countingAuthenticator(v)
	var asked atomic.Value
	gw, err := wsgate.New(wsgate.Options{
		Origins: []string{"https://app.example.org", "https://*.example.com"},
		OriginFunc: func(origin string) bool {
			asked.Store(origin)
			return origin == corsPartner
		},
		Authenticator: auth,
		Logger:        quietLogger(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return wsgatetest.NewServer(t, gw), calls, &asked
}

// doWithOrigins sends one plain HTTP request with the given Origin lines (none
// for nil) and returns the response and its body.
func doWithOrigins(t *testing.T, srv *wsgatetest.Server, method string, origins []string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://wsgatetest.invalid/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for _, o := range origins {
		req.Header.Add("Origin", o)
	}
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading the body: %v", method, err)
	}
	return resp, body
}

// wantJSONErrorBody checks a JSON refusal body: exactly status, message and
// code, with the given message and code.
func wantJSONErrorBody(t *testing.T, resp *http.Response, body []byte, message, code string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	want := map[string]any{"status": "error", "message": message, "code": code}
	if len(got) != len(want) {
		t.Errorf("body = %s, want exactly the keys status, message, code", body)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("body[%q] = %v, want %q (body %s)", k, got[k], v, body)
		}
	}
}

// wantNoCORSHeaders checks that a response grants nothing to a browser.
func wantNoCORSHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods"} {
		if v, ok := resp.Header[h]; ok {
			t.Errorf("%s: %q on a refused origin", h, v)
		}
	}
}

// wantCORSGranted checks that a response grants origin, with credentials.
func wantCORSGranted(t *testing.T, resp *http.Response, origin string) {
	t.Helper()
	if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != origin {
		t.Errorf("Access-Control-Allow-Origin = %q, want exactly %q", got, origin)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials = %q, want true", got)
	}
	if !slices.ContainsFunc(resp.Header.Values("Vary"), func(v string) bool { return strings.Contains(v, "Origin") }) {
		t.Errorf("Vary = %q, want it to name Origin (the answer depends on it)", resp.Header.Values("Vary"))
	}
}

// corsOrigins is the policy's verdict on each origin the tests send.
var corsOrigins = []struct {
	name    string
	origin  string
	allowed bool
}{
	{"exact entry", "https://app.example.org", true},
	{"wildcard one label", "https://chat.example.com", true},
	{"wildcard one label with hyphen", "https://eu-west.example.com", true},
	{"OriginFunc", corsPartner, true},
	{"wildcard two labels", "https://a.b.example.com", false},
	{"wildcard apex", "https://example.com", false},
	{"wildcard lookalike", "https://evilexample.com", false},
	{"wildcard lookalike subdomain", "https://chat.evilexample.com", false},
	{"wildcard suffix trick", "https://chat.example.com.evil.net", false},
	{"wildcard other scheme", "http://chat.example.com", false},
	{"wildcard other port", "https://chat.example.com:8443", false},
	{"exact entry other scheme", "http://app.example.org", false},
	{"exact entry subdomain", "https://x.app.example.org", false},
	{"not allowed", "https://evil.example", false},
	{"OriginFunc says no", "https://other.example.net", false},
	{"null", "null", false},
	{"empty", "", false},
	{"with path", "https://app.example.org/", false},
	{"with userinfo", "https://user@app.example.org", false},
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	for _, tt := range corsOrigins {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, calls, _ := corsGateway(t)
			resp, body := doWithOrigins(t, srv, http.MethodOptions, []string{tt.origin}, http.Header{
				"Access-Control-Request-Method": {"GET"},
			})
			if tt.allowed {
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("preflight from %q: %d %s, want 204", tt.origin, resp.StatusCode, body)
				}
				wantCORSGranted(t, resp, tt.origin)
				if got := resp.Header.Get("Access-Control-Allow-Methods"); got != "GET" {
					t.Errorf("Access-Control-Allow-Methods = %q, want GET", got)
				}
				if len(body) != 0 {
					t.Errorf("preflight body = %q, want none", body)
				}
			} else {
				wantOriginRefused(t, resp, body, "preflight from "+tt.origin)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("a preflight called the authenticator %d times", n)
			}
		})
	}
}

// wantOriginRefused checks the origin policy's answer: 403 with its JSON body
// and no CORS header.
func wantOriginRefused(t *testing.T, resp *http.Response, body []byte, what string) {
	t.Helper()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("%s: %d %s, want 403", what, resp.StatusCode, body)
	}
	wantNoCORSHeaders(t, resp)
	wantJSONErrorBody(t, resp, body, "origin not allowed", wsgate.CodeOriginNotAllowed)
}

func TestCORSPlainRequest(t *testing.T) {
	t.Parallel()
	for _, tt := range corsOrigins {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, calls, _ := corsGateway(t)
			// A cookie rides along, as a browser's credentialed fetch
			// would send it: it must not be read.
			resp, body := doWithOrigins(t, srv, http.MethodGet, []string{tt.origin}, http.Header{
				"Cookie": {"access_token=not-a-token"},
			})
			if tt.allowed {
				if resp.StatusCode != http.StatusUpgradeRequired {
					t.Fatalf("GET from %q: %d %s, want 426", tt.origin, resp.StatusCode, body)
				}
				wantCORSGranted(t, resp, tt.origin)
				wantJSONErrorBody(t, resp, body, "WebSocket upgrade required", wsgate.CodeUpgradeRequired)
				if got := resp.Header.Get("Upgrade"); got != "websocket" {
					t.Errorf("Upgrade = %q, want websocket", got)
				}
			} else {
				wantOriginRefused(t, resp, body, "GET from "+tt.origin)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("a plain request called the authenticator %d times", n)
			}
		})
	}
}

// A request without Origin is not a CORS request: a plain GET gets its
// 426 and no CORS header; a preflight-shaped OPTIONS gets nothing granted.
func TestCORSNoOrigin(t *testing.T) {
	t.Parallel()
	srv, calls, _ := corsGateway(t)

	resp, body := doWithOrigins(t, srv, http.MethodGet, nil, nil)
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("GET without Origin: %d %s, want 426", resp.StatusCode, body)
	}
	wantJSONErrorBody(t, resp, body, "WebSocket upgrade required", wsgate.CodeUpgradeRequired)
	wantNoCORSHeaders(t, resp)

	resp, body = doWithOrigins(t, srv, http.MethodOptions, nil, http.Header{"Access-Control-Request-Method": {"GET"}})
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusForbidden {
		t.Errorf("OPTIONS without Origin: %d %s", resp.StatusCode, body)
	}
	wantNoCORSHeaders(t, resp)
	if n := calls.Load(); n != 0 {
		t.Errorf("the authenticator was called %d times", n)
	}
}

// Two Origin lines, each allowed on its own, are refused: which one the
// browser meant cannot be told.
func TestCORSTwoOrigins(t *testing.T) {
	t.Parallel()
	srv, _, _ := corsGateway(t)
	two := []string{"https://app.example.org", "https://chat.example.com"}
	for _, method := range []string{http.MethodOptions, http.MethodGet} {
		resp, body := doWithOrigins(t, srv, method, two, http.Header{"Access-Control-Request-Method": {"GET"}})
		wantOriginRefused(t, resp, body, method+" with two Origin lines")
	}
}

// OriginFunc is asked with the normalised origin, and its answer also
// decides CORS; the header echoes the origin as the browser sent it.
func TestCORSOriginFuncNormalised(t *testing.T) {
	t.Parallel()
	srv, _, asked := corsGateway(t)
	sent := "HTTPS://Partner.Example.NET:443"
	resp, body := doWithOrigins(t, srv, http.MethodOptions, []string{sent}, http.Header{"Access-Control-Request-Method": {"GET"}})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight from %q: %d %s, want 204", sent, resp.StatusCode, body)
	}
	wantCORSGranted(t, resp, sent)
	if got, _ := asked.Load().(string); got != corsPartner {
		t.Errorf("OriginFunc was asked about %q, want the normalised %q", got, corsPartner)
	}
}

// The same policy gates the upgrade: an origin CORS grants can connect,
// one it refuses cannot (and is refused before its token is read).
func TestCORSSamePolicyAsUpgrade(t *testing.T) {
	t.Parallel()
	for _, tt := range corsOrigins {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, calls, _ := corsGateway(t)
			r := srv.Refused(wsgatetest.DialOptions{
				Origin:  tt.origin,
				Cookies: []*http.Cookie{{Name: "access_token", Value: "not-a-token"}},
			})
			switch {
			case tt.allowed && (r.Status != http.StatusUnauthorized || calls.Load() != 1):
				t.Errorf("upgrade from allowed %q: %d %s with %d authenticator calls, want 401 after one",
					tt.origin, r.Status, r.RawBody, calls.Load())
			case !tt.allowed && (r.Status != http.StatusForbidden || calls.Load() != 0):
				t.Errorf("upgrade from refused %q: %d %s with %d authenticator calls, want 403 before any",
					tt.origin, r.Status, r.RawBody, calls.Load())
			}
		})
	}
}
