package wsgate

import (
	"errors"
	"net/http"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
)

// ErrNoToken is returned by a TokenSource that finds no token in the
// request, so that the gateway tries its next source.
var ErrNoToken = errors.New("wsgate: no token")

// Errors of token sources that found something unusable. Their texts are
// short and safe to log: they never hold the token.
var (
	errEmptyToken         = errors.New("wsgate: empty token")
	errMalformedToken     = errors.New("wsgate: malformed token")
	errMalformedCookie    = errors.New("wsgate: token cookie with a malformed value")
	errMultipleAuthHeader = errors.New("wsgate: more than one Authorization header")
	errDuplicateQuery     = errors.New("wsgate: token query parameter present more than once")
	errDuplicateProtocol  = errors.New("wsgate: token subprotocol offered more than once")
	errMissingProtoToken  = errors.New("wsgate: token subprotocol offered without a token after it")
)

// A TokenSource finds the connection's token in the upgrade request. The
// gateway tries its sources in order; the first that does not return
// ErrNoToken decides, and a source returning another error refuses the
// handshake with 401.
//
// The constructors CookieToken, BearerToken, QueryToken and
// SubprotocolToken cover the usual places; a custom source is a TokenSource
// with its own Extract.
type TokenSource struct {
	// Name describes the source in logs, e.g. `cookie "access_token"`.
	Name string
	// Ambient reports that browsers attach this credential by themselves,
	// as they do cookies. The gateway accepts an ambient token only from a
	// request whose Origin is allowed, never from one without Origin:
	// otherwise any web site could open a connection with the user's
	// credential (cross-site WebSocket hijacking).
	Ambient bool
	// Subprotocol, when set, is a WebSocket subprotocol the gateway must
	// offer so that it is negotiated (echoed back) for a client that sent
	// its token this way; browsers fail a connection that offered
	// subprotocols and got none back.
	Subprotocol string
	// Extract returns the token found in r, or ErrNoToken.
	Extract func(r *http.Request) (string, error)

	// builtin is the code address of the Extract a constructor of this
	// package set, which only reads the request (see bounded).
	builtin uintptr
}

// builtinSource marks s, made by a constructor of this package, as one
// whose Extract only reads the request.
func builtinSource(s TokenSource) TokenSource {
	s.builtin = reflect.ValueOf(s.Extract).Pointer()
	return s
}

// bounded reports whether s's Extract is still the package's own, which
// never waits: the gateway may then run it without a goroutine of its own
// (see Gateway.verify). An Extract replaced by the caller's is not.
func (s TokenSource) bounded() bool {
	return s.builtin != 0 && s.Extract != nil && reflect.ValueOf(s.Extract).Pointer() == s.builtin
}

// CookieToken reads the token from the cookie called name, the way NestJS
// gateways commonly do. It is Ambient, so the gateway requires an allowed
// Origin for it. Prefer a "__Host-" name, set with Secure, HttpOnly and
// SameSite=Lax: a sibling subdomain can then not set a cookie of that name.
//
// All Cookie lines of the request are one list. The cookie absent (or
// present only with a malformed value) is ErrNoToken. The cookie present
// more than once is an error wrapping ErrDuplicateCookie, and a header over
// net/http's cookie-count limit is ErrTooManyCookies: both refuse the
// handshake rather than guess. A present but empty cookie is an error too,
// not ErrNoToken, so that a broken session cookie does not silently fall
// through to another source or to an anonymous connection.
//
// CookieToken panics if name is not a valid cookie name (an HTTP token).
func CookieToken(name string) TokenSource {
	if !isCookieName(name) {
		panic("wsgate: CookieToken: invalid cookie name " + strconv.Quote(name))
	}
	return builtinSource(TokenSource{
		Name:    "cookie " + strconv.Quote(name),
		Ambient: true,
		Extract: func(r *http.Request) (string, error) {
			v, err := cookieValue(r.Header, name)
			if err != nil {
				return "", err
			}
			if v == "" {
				return "", errEmptyToken
			}
			return v, nil
		},
	})
}

// BearerToken reads the token from an "Authorization: Bearer <token>"
// header (RFC 6750), the usual choice for non-browser clients: browsers
// cannot set headers on a WebSocket. The scheme is matched without regard to
// case. No Authorization header, or one with another scheme, is ErrNoToken;
// more than one Authorization header, "Bearer" without a token, or a token
// that is not an RFC 6750 b64token is an error.
func BearerToken() TokenSource {
	return builtinSource(TokenSource{
		Name:    "bearer token",
		Extract: bearerToken,
	})
}

func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", errMultipleAuthHeader
	}
	v := textproto.TrimString(values[0])
	scheme, token, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	token = textproto.TrimString(token)
	if token == "" {
		return "", errEmptyToken
	}
	if !isB64Token(token) {
		return "", errMalformedToken
	}
	return token, nil
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		b := body[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("-._~+/", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// QueryToken reads the token from the query parameter param, as in
// "wss://host/ws?token=…". It is opt-in and a last resort: URLs end up in
// server and proxy access logs, browser history and Referer headers, so the
// token leaks with them. Prefer CookieToken for browsers and BearerToken
// for other clients; if you must use it, keep tokens short-lived.
//
// The parameter absent is ErrNoToken; present more than once, or present
// and empty, is an error. QueryToken panics if param is empty.
func QueryToken(param string) TokenSource {
	if param == "" {
		panic("wsgate: QueryToken: empty parameter name")
	}
	return builtinSource(TokenSource{
		Name: "query parameter " + strconv.Quote(param),
		Extract: func(r *http.Request) (string, error) {
			values := r.URL.Query()[param]
			switch {
			case len(values) == 0:
				return "", ErrNoToken
			case len(values) > 1:
				return "", errDuplicateQuery
			case values[0] == "":
				return "", errEmptyToken
			}
			return values[0], nil
		},
	})
}

// SubprotocolToken reads the token from the Sec-WebSocket-Protocol header,
// the one header a browser lets a page set on a WebSocket:
//
//	new WebSocket(url, [protocol, token])
//
// sends "Sec-WebSocket-Protocol: <protocol>, <token>". The token is the
// entry right after protocol; the gateway negotiates protocol (never the
// token, which would otherwise be echoed back). It is opt-in: the header is
// logged by some proxies, though less often than URLs.
//
// All Sec-WebSocket-Protocol lines are one comma-separated list whose
// entries are trimmed, and protocol is matched without regard to case, as
// the WebSocket library negotiates it. protocol absent is ErrNoToken;
// protocol offered more than once, or with no (or an empty) entry after it,
// is an error. SubprotocolToken panics if protocol is not an HTTP token.
func SubprotocolToken(protocol string) TokenSource {
	if !isCookieName(protocol) {
		panic("wsgate: SubprotocolToken: invalid subprotocol " + strconv.Quote(protocol))
	}
	return builtinSource(TokenSource{
		Name:        "subprotocol " + strconv.Quote(protocol),
		Subprotocol: protocol,
		Extract: func(r *http.Request) (string, error) {
			return subprotocolToken(r.Header, protocol)
		},
	})
}

func subprotocolToken(h http.Header, protocol string) (string, error) {
	var entries []string
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for _, e := range strings.Split(line, ",") {
			entries = append(entries, strings.TrimSpace(e))
		}
	}
	at := -1
	for i, e := range entries {
		if !strings.EqualFold(e, protocol) {
			continue
		}
		if at >= 0 {
			return "", errDuplicateProtocol
		}
		at = i
	}
	switch {
	case at < 0:
		return "", ErrNoToken
	case at+1 >= len(entries):
		return "", errMissingProtoToken
	case entries[at+1] == "":
		return "", errEmptyToken
	}
	return entries[at+1], nil
}
