package wsgate

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// originPolicy decides which browser origins may open a WebSocket and (the
// same decision) which get CORS headers. It is immutable once built, so it
// is safe for concurrent use.
//
// It is stricter than coder/websocket's own check, which lets a missing
// Origin and any same-host origin through whatever the scheme, and matches
// with path.Match globs in which "*" crosses dots.
type originPolicy struct {
	exact map[string]struct{} // normalised origins
	// verbatim holds the entries of exact that parse back to themselves:
	// an Origin header equal to one is allowed without being parsed.
	verbatim map[string]struct{}
	wildcard []wildcardOrigin
	fn       func(origin string) bool
	allowAny bool
}

// wildcardOrigin is a pattern such as "https://*.example.com:8443": labels
// leading "*" labels, each matching exactly one DNS label, then suffix.
type wildcardOrigin struct {
	scheme string
	labels int    // number of leading "*" labels
	suffix string // ".example.com", with the leading dot
	port   string // "" for the scheme's default
}

// parsedOrigin is a parsed serialised origin, scheme://host[:port].
type parsedOrigin struct {
	scheme string // "http" or "https"
	host   string // lower-cased; an IPv6 literal in canonical form, with brackets
	port   string // "" for the scheme's default
}

func (o parsedOrigin) String() string {
	if o.port == "" {
		return o.scheme + "://" + o.host
	}
	return o.scheme + "://" + o.host + ":" + o.port
}

// newOriginPolicy builds the policy. patterns are "scheme://host[:port]"
// entries; a host may start with one or more whole-label wildcards "*."
// (e.g. "https://*.example.com"), each matching exactly one DNS label, and
// at least two literal labels must follow them. Entries are normalised:
// scheme and host lower-cased, default ports removed, IPv6 literals kept in
// brackets in canonical form. An entry with a path (even "/"), query,
// fragment, userinfo or a scheme other than http or https is an error that
// names it. fn, when non-nil, is consulted with the normalised origin for
// origins no pattern matched. allowAny allows every valid origin (explicit,
// unsafe opt-in).
func newOriginPolicy(patterns []string, fn func(origin string) bool, allowAny bool) (*originPolicy, error) {
	p := &originPolicy{exact: make(map[string]struct{}), verbatim: make(map[string]struct{}), fn: fn, allowAny: allowAny}
	for _, pat := range patterns {
		if err := p.add(pat); err != nil {
			return nil, fmt.Errorf("wsgate: invalid origin %q: %w", pat, err)
		}
	}
	return p, nil
}

// add parses one pattern into the policy.
func (p *originPolicy) add(pattern string) error {
	o, err := parseOrigin(pattern, true)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(o.host, "*.") {
		norm := o.String()
		p.exact[norm] = struct{}{}
		if again, err := parseOrigin(norm, false); err == nil && again.String() == norm {
			p.verbatim[norm] = struct{}{}
		}
		return nil
	}
	w := wildcardOrigin{scheme: o.scheme, port: o.port}
	rest := o.host
	for strings.HasPrefix(rest, "*.") {
		w.labels++
		rest = rest[len("*."):]
	}
	if strings.Count(rest, ".") < 1 {
		return errors.New("a wildcard must be followed by at least two labels")
	}
	last := rest[strings.LastIndexByte(rest, '.')+1:]
	if isDigits(last) {
		return errors.New("a wildcard cannot match part of an IP address")
	}
	w.suffix = "." + rest
	for _, have := range p.wildcard {
		if have == w {
			return nil
		}
	}
	p.wildcard = append(p.wildcard, w)
	return nil
}

// empty reports whether the policy allows no origin at all.
func (p *originPolicy) empty() bool {
	return len(p.exact) == 0 && len(p.wildcard) == 0 && p.fn == nil && !p.allowAny
}

// allowed reports whether the Origin header value, as sent by the browser,
// is allowed. The literal "null", an empty string and anything that is not a
// serialised origin (scheme://host[:port], nothing else) are never allowed,
// even with allowAny.
func (p *originPolicy) allowed(origin string) bool {
	// The common case, a browser's Origin spelt as it was configured, needs
	// no parsing: it would parse to itself.
	if _, ok := p.verbatim[origin]; ok {
		return true
	}
	o, err := parseOrigin(origin, false)
	if err != nil {
		return false
	}
	if p.allowAny {
		return true
	}
	norm := o.String()
	if _, ok := p.exact[norm]; ok {
		return true
	}
	for _, w := range p.wildcard {
		if w.match(o) {
			return true
		}
	}
	return p.fn != nil && p.fn(norm)
}

// match reports whether o is w's scheme and port, and its host is exactly
// w.labels non-empty labels followed by w.suffix.
func (w wildcardOrigin) match(o parsedOrigin) bool {
	if o.scheme != w.scheme || o.port != w.port || !strings.HasSuffix(o.host, w.suffix) {
		return false
	}
	prefix := o.host[:len(o.host)-len(w.suffix)]
	if prefix == "" || strings.HasPrefix(o.host, "[") {
		return false
	}
	labels := strings.Split(prefix, ".")
	if len(labels) != w.labels {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
	}
	return true
}

// normalizeOrigin returns the normalised form of a serialised origin, or
// false if origin is not one.
func normalizeOrigin(origin string) (string, bool) {
	o, err := parseOrigin(origin, false)
	if err != nil {
		return "", false
	}
	return o.String(), true
}

// parseOrigin parses scheme://host[:port] and nothing else. With wildcard,
// the host may start with "*." labels (checked further by add).
func parseOrigin(s string, wildcard bool) (parsedOrigin, error) {
	if s == "" || s == "null" {
		return parsedOrigin{}, errors.New("not an origin")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return parsedOrigin{}, errors.New("want scheme://host[:port]")
	}
	o := parsedOrigin{scheme: strings.ToLower(scheme)}
	if o.scheme != "http" && o.scheme != "https" {
		return parsedOrigin{}, errors.New("scheme must be http or https")
	}
	if i := strings.IndexAny(rest, "/?#@\\"); i >= 0 {
		return parsedOrigin{}, errors.New("an origin has no path, query, fragment or userinfo")
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return parsedOrigin{}, err
	}
	if o.port, err = normalizePort(o.scheme, port); err != nil {
		return parsedOrigin{}, err
	}
	if o.host, err = normalizeHost(host, wildcard); err != nil {
		return parsedOrigin{}, err
	}
	return o, nil
}

// splitHostPort splits host[:port], where host may be a bracketed IPv6
// literal. Input without a port gives port "".
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("unterminated IPv6 literal")
		}
		host, rest := s[:end+1], s[end+1:]
		if rest == "" {
			return host, "", nil
		}
		if rest[0] != ':' {
			return "", "", errors.New("unexpected text after IPv6 literal")
		}
		return host, rest[1:], checkPortPresent(rest[1:])
	}
	host, port, hasPort := strings.Cut(s, ":")
	if !hasPort {
		return host, "", nil
	}
	return host, port, checkPortPresent(port)
}

func checkPortPresent(port string) error {
	if port == "" {
		return errors.New("empty port")
	}
	return nil
}

// normalizePort checks a decimal port and returns it without leading zeros,
// or "" when it is the scheme's default.
func normalizePort(scheme, port string) (string, error) {
	if port == "" {
		return "", nil
	}
	if !isDigits(port) || len(port) > 5 {
		return "", errors.New("invalid port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n > 65535 {
		return "", errors.New("invalid port")
	}
	if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
		return "", nil
	}
	return strconv.Itoa(n), nil
}

// normalizeHost lower-cases a host name (ASCII only: a Unicode host is
// compared as it is, without IDNA mapping; browsers send the punycode
// form) and puts an IPv6 literal in canonical form.
func normalizeHost(host string, wildcard bool) (string, error) {
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", errors.New("invalid IPv6 literal")
		}
		return "[" + a.String() + "]", nil
	}
	if host == "" {
		return "", errors.New("empty host")
	}
	if !utf8.ValidString(host) {
		return "", errors.New("invalid host")
	}
	host = asciiLower(host)
	rest, wildcards := host, true
	for {
		label, more, found := strings.Cut(rest, ".")
		// Only leading labels may be wildcards.
		wildcards = wildcards && wildcard && label == "*" && found
		if !wildcards && !isHostLabel(label) {
			return "", errors.New("invalid host")
		}
		if !found {
			return host, nil
		}
		rest = more
	}
}

// isHostLabel reports whether label is a non-empty run of letters, digits,
// '-', '_' (which browsers accept in host names) or non-ASCII characters.
func isHostLabel(label string) bool {
	if label == "" {
		return false
	}
	for i := 0; i < len(label); i++ {
		b := label[i]
		switch {
		case 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '-', b == '_', b >= utf8.RuneSelf:
		default:
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
