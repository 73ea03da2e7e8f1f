package wsgate_test

import (
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/wsgate/wsgate"
)

// Names of the fuzzed sources.
const (
	fuzzQueryParam  = "token"
	fuzzSubprotocol = "wsgate.v1"
	fuzzCookie      = "access_token"
)

// fuzzRequest builds an upgrade request from fuzzed parts. A header value
// holds one line per '\n'-separated part; an empty value is no header, so
// the fuzzer can produce zero, one or several lines of each.
func fuzzRequest(auth, rawQuery, protocols, cookie string) *http.Request {
	h := make(http.Header)
	for name, v := range map[string]string{
		"Authorization":          auth,
		"Sec-Websocket-Protocol": protocols,
		"Cookie":                 cookie,
	} {
		if v != "" {
			h[name] = strings.Split(v, "\n")
		}
	}
	return &http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Path: "/ws", RawQuery: rawQuery},
		Header: h,
	}
}

// fuzzExtract runs src and checks what every source promises: a token or
// an error, never both, never neither.
func fuzzExtract(t *testing.T, src wsgate.TokenSource, r *http.Request) (string, error) {
	t.Helper()
	token, err := src.Extract(r)
	switch {
	case err != nil && token != "":
		t.Fatalf("%s: Extract returned token %q and error %v", src.Name, token, err)
	case err == nil && token == "":
		t.Fatalf("%s: Extract returned neither a token nor an error", src.Name)
	}
	return token, err
}

// fuzzIsB64Token is RFC 6750's b64token, written independently of the library.
func fuzzIsB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	return strings.Trim(body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") == ""
}

// FuzzTokenSources feeds arbitrary Authorization lines, query strings,
// Sec-WebSocket-Protocol lines and Cookie lines to BearerToken, QueryToken,
// SubprotocolToken and CookieToken, and checks each answer against what
// the source documents. A token a source returns is also fed back in its
// canonical form and must come out unchanged.
func FuzzTokenSources(f *testing.F) {
	for _, s := range []struct{ auth, query, protocols, cookie string }{
		{"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "token=abc.def.ghi", "wsgate.v1, eyJ.x.y", "access_token=tok"},
		{"bearer  tok==", "", "chat, WSGATE.V1 , tok", "a=1; access_token=\"tok\"; b=2"},
		{"Basic dXNlcjpwdw==", "token=a&token=b", "wsgate.v1", "access_token=a; access_token=b"},
		{"Bearer", "token=", "wsgate.v1,", "access_token="},
		{"Bearer a b", "token=%00%0d%0a", "wsgate.v1, , tok", "access_token=a;b"},
		{"Bearer tok\nBearer tok", "token=a;token=b", "wsgate.v1\nwsgate.v1, tok", "access_token=a\naccess_token=b"},
		{"Bearer =abc", "%74oken=x&token=y", "tok, wsgate.v1", "access_token= spaced "},
		{"\tBearer\ttok", "token=%ZZ", "wsgate.v1, wsgate.v1", `access_token=bad\value`},
		{"Bearer t\u00e9k", "token=+a+", "wsgate.v1 , \u00a0tok\u00a0", "access_token=\x7f"},
	} {
		f.Add(s.auth, s.query, s.protocols, s.cookie)
	}

	bearer := wsgate.BearerToken()
	query := wsgate.QueryToken(fuzzQueryParam)
	proto := wsgate.SubprotocolToken(fuzzSubprotocol)
	cookie := wsgate.CookieToken(fuzzCookie)

	f.Fuzz(func(t *testing.T, auth, rawQuery, protocols, cookieHeader string) {
		r := fuzzRequest(auth, rawQuery, protocols, cookieHeader)

		t.Run("bearer", func(t *testing.T) {
			token, err := fuzzExtract(t, bearer, r)
			lines := r.Header.Values("Authorization")
			if len(lines) == 0 && !errors.Is(err, wsgate.ErrNoToken) {
				t.Fatalf("no Authorization header: %q, %v; want ErrNoToken", token, err)
			}
			if len(lines) > 1 && (err == nil || errors.Is(err, wsgate.ErrNoToken)) {
				t.Fatalf("%d Authorization lines: %q, %v; want an error other than ErrNoToken", len(lines), token, err)
			}
			if len(lines) != 1 {
				return
			}
			line := textproto.TrimString(lines[0])
			isBearer := len(line) >= len("bearer") && strings.EqualFold(line[:len("bearer")], "bearer") &&
				(len(line) == len("bearer") || line[len("bearer")] == ' ')
			if errors.Is(err, wsgate.ErrNoToken) == isBearer {
				t.Fatalf("Authorization %q: %q, %v; want ErrNoToken exactly for another scheme", lines[0], token, err)
			}
			if err != nil {
				return
			}
			if !fuzzIsB64Token(token) {
				t.Fatalf("Authorization %q gave %q, not an RFC 6750 b64token", lines[0], token)
			}
			if got := textproto.TrimString(line[len("bearer"):]); got != token {
				t.Fatalf("Authorization %q gave %q, not the credentials %q", lines[0], token, got)
			}
			again, err := bearer.Extract(fuzzRequest("Bearer "+token, "", "", ""))
			if err != nil || again != token {
				t.Fatalf("Bearer %q extracted as %q, %v", token, again, err)
			}
		})

		t.Run("query", func(t *testing.T) {
			token, err := fuzzExtract(t, query, r)
			values := r.URL.Query()[fuzzQueryParam]
			switch {
			case len(values) == 0:
				if !errors.Is(err, wsgate.ErrNoToken) {
					t.Fatalf("query %q has no %q: %q, %v; want ErrNoToken", rawQuery, fuzzQueryParam, token, err)
				}
			case len(values) > 1:
				if err == nil || errors.Is(err, wsgate.ErrNoToken) {
					t.Fatalf("query %q has %q %d times: %q, %v; want an error other than ErrNoToken", rawQuery, fuzzQueryParam, len(values), token, err)
				}
			case err == nil && token != values[0]:
				t.Fatalf("query %q gave %q, want %q", rawQuery, token, values[0])
			case err != nil && (values[0] != "" || errors.Is(err, wsgate.ErrNoToken)):
				t.Fatalf("query %q: %v, want the token %q", rawQuery, err, values[0])
			}
			if err != nil {
				return
			}
			again, err := query.Extract(fuzzRequest("", url.Values{fuzzQueryParam: {token}}.Encode(), "", ""))
			if err != nil || again != token {
				t.Fatalf("query token %q extracted as %q, %v", token, again, err)
			}
		})

		t.Run("subprotocol", func(t *testing.T) {
			token, err := fuzzExtract(t, proto, r)
			var entries []string
			offered := 0
			for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
				for _, e := range strings.Split(line, ",") {
					entries = append(entries, e)
					if strings.EqualFold(strings.TrimSpace(e), fuzzSubprotocol) {
						offered++
					}
				}
			}
			switch {
			case offered == 0:
				if !errors.Is(err, wsgate.ErrNoToken) {
					t.Fatalf("protocols %q without %q: %q, %v; want ErrNoToken", protocols, fuzzSubprotocol, token, err)
				}
			case offered > 1:
				if err == nil || errors.Is(err, wsgate.ErrNoToken) {
					t.Fatalf("protocols %q offer %q %d times: %q, %v; want an error other than ErrNoToken", protocols, fuzzSubprotocol, offered, token, err)
				}
			case errors.Is(err, wsgate.ErrNoToken):
				t.Fatalf("protocols %q offer %q: ErrNoToken", protocols, fuzzSubprotocol)
			}
			if err != nil {
				return
			}
			if strings.Contains(token, ",") || strings.TrimSpace(token) != token {
				t.Fatalf("protocols %q gave %q: not one trimmed list entry", protocols, token)
			}
			if strings.EqualFold(token, fuzzSubprotocol) {
				t.Fatalf("protocols %q gave the protocol itself as the token", protocols)
			}
			// The token is the entry right after the protocol.
			for i, e := range entries {
				if strings.EqualFold(strings.TrimSpace(e), fuzzSubprotocol) {
					if i+1 >= len(entries) || strings.TrimSpace(entries[i+1]) != token {
						t.Fatalf("protocols %q gave %q, not the entry after %q", protocols, token, fuzzSubprotocol)
					}
				}
			}
			again, err := proto.Extract(fuzzRequest("", "", fuzzSubprotocol+", "+token, ""))
			if err != nil || again != token {
				t.Fatalf("subprotocol token %q extracted as %q, %v", token, again, err)
			}
		})

		t.Run("cookie", func(t *testing.T) {
			token, err := fuzzExtract(t, cookie, r)
			if !strings.Contains(cookieHeader, fuzzCookie) && !errors.Is(err, wsgate.ErrNoToken) {
				t.Fatalf("Cookie %q without %q: %q, %v; want ErrNoToken", cookieHeader, fuzzCookie, token, err)
			}
			if err != nil {
				return
			}
			for i := 0; i < len(token); i++ {
				if b := token[i]; b < 0x20 || b >= 0x7f || b == ';' || b == '"' || b == '\\' {
					t.Fatalf("Cookie %q gave %q, with byte %#x outside a cookie value", cookieHeader, token, b)
				}
			}
			if !strings.Contains(cookieHeader, token) {
				t.Fatalf("Cookie %q gave %q, which it does not contain", cookieHeader, token)
			}
			again, err := cookie.Extract(fuzzRequest("", "", "", fuzzCookie+`="`+token+`"`))
			if err != nil || again != token {
				t.Fatalf("cookie token %q extracted as %q, %v", token, again, err)
			}
		})
	})
}
