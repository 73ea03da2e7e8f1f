package wsgate

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// ErrDuplicateCookie is returned when a cookie name appears more than once
// in a request. Browsers send every cookie whose domain and path match, so a
// second cookie of the same name usually means a sibling subdomain has set
// one of its own (cookie tossing); which of the two is genuine cannot be told
// from the request, so neither is used.
var ErrDuplicateCookie = errors.New("wsgate: cookie present more than once")

// ErrTooManyCookies is returned for a Cookie header holding more than
// maxCookies pairs, the limit net/http applies before it parses cookies.
var ErrTooManyCookies = errors.New("wsgate: too many cookies")

// maxCookies is net/http's default limit on the number of cookies in a
// request. Like net/http, it counts the ';'-separated parts of every Cookie
// line, whether or not they are well formed.
const maxCookies = 3000

// ParseCookies parses a Cookie header value as browsers send it, "a=1; b=2",
// and returns the cookies by name (what NestJS code calls parseCookieString).
// A request with several Cookie lines should have them joined with "; ".
//
// Names are case-sensitive and, as in net/http, must be HTTP tokens; values
// follow net/http's reading of RFC 6265 (cookie-octets plus space and comma),
// optionally enclosed in double quotes, which are removed. The prefixes
// "__Host-" and "__Secure-" are part of the name: a server cannot see
// cookie attributes. Malformed pairs (no '=', an empty or invalid name, an
// invalid value) are skipped and do not stop later pairs being found.
//
// A name that appears more than once is left out of the map, and the error
// wraps ErrDuplicateCookie and names it; the other cookies are still
// returned. A pair with a valid name counts as an appearance even when its
// value is malformed. A header with more than 3000 pairs (net/http's own
// limit) gives a nil map and ErrTooManyCookies.
func ParseCookies(header string) (map[string]string, error) {
	cookies := make(map[string]string)
	seen := make(map[string]int)
	var dups []string
	err := scanCookies([]string{header}, func(name, value string, valid bool) bool {
		seen[name]++
		switch seen[name] {
		case 1:
			if valid {
				cookies[name] = value
			}
		case 2:
			delete(cookies, name)
			dups = append(dups, name)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(dups) > 0 {
		return cookies, duplicateCookieError(dups)
	}
	return cookies, nil
}

// cookieValue finds the cookie called name in all of h's Cookie lines, which
// it treats as one list. It returns ErrNoToken when the cookie is absent, an
// error when it is present with a malformed value (a broken session cookie
// must not pass for no cookie at all), an error wrapping ErrDuplicateCookie
// when the name appears more than once anywhere, and ErrTooManyCookies past
// net/http's limit. It reads the lines as ParseCookies does, with the same
// scanner, and builds no map.
func cookieValue(h http.Header, name string) (string, error) {
	var (
		value string
		found bool // the name appeared
		valid bool // and its value was well formed
		twice bool // the name appeared again
	)
	err := scanCookies(h.Values("Cookie"), func(n, v string, ok bool) bool {
		if n != name {
			return true
		}
		if found {
			twice = true
			return false
		}
		found, valid, value = true, ok, v
		return true
	})
	switch {
	case err != nil:
		return "", err
	case twice:
		return "", duplicateCookieError([]string{name})
	case !found:
		return "", ErrNoToken
	case !valid:
		return "", errMalformedCookie
	}
	return value, nil
}

// scanCookies is the one Cookie header parser: ParseCookies and the token
// cookie source both read cookies through it. It treats lines as one list
// of ';'-separated pairs and calls yield, in order, for each pair with a
// valid name, with valid false when the value is malformed; a yield that
// returns false stops the scan. Before any pair is read it counts the
// parts, well formed or not, and returns ErrTooManyCookies past net/http's
// limit.
func scanCookies(lines []string, yield func(name, value string, valid bool) bool) error {
	count := 0
	for _, line := range lines {
		count += strings.Count(line, ";") + 1
	}
	if count > maxCookies {
		return ErrTooManyCookies
	}
	for _, line := range lines {
		for rest := line; rest != ""; {
			var part string
			part, rest, _ = strings.Cut(rest, ";")
			name, value, ok := parseCookiePair(part)
			if name == "" {
				continue
			}
			if !yield(name, value, ok) {
				return nil
			}
		}
	}
	return nil
}

// parseCookiePair parses one "name=value" part of a Cookie header the way
// net/http does, except that a part without '=' is skipped (a browser sends
// a cookie with an empty name that way). It returns name "" for a part to
// skip, and ok false for a valid name with a malformed value.
func parseCookiePair(part string) (name, value string, ok bool) {
	part = textproto.TrimString(part)
	name, value, hasEq := strings.Cut(part, "=")
	if !hasEq {
		return "", "", false
	}
	name = textproto.TrimString(name)
	if !isCookieName(name) {
		return "", "", false
	}
	value, ok = parseCookieValue(value)
	return name, value, ok
}

// isCookieName reports whether s is a non-empty HTTP token (RFC 9110), the
// rule net/http applies to cookie names.
func isCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// isTokenByte reports whether b is an RFC 9110 tchar.
func isTokenByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// parseCookieValue removes one pair of enclosing double quotes and checks
// that every byte is one net/http accepts in a cookie value.
func parseCookieValue(raw string) (string, bool) {
	if len(raw) > 1 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	for i := 0; i < len(raw); i++ {
		b := raw[i]
		if b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return "", false
		}
	}
	return raw, true
}

// duplicateCookieError names the duplicated cookies. Names are HTTP tokens,
// so they are safe to log; values never appear.
func duplicateCookieError(names []string) error {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return fmt.Errorf("%w: %s", ErrDuplicateCookie, strings.Join(quoted, ", "))
}
