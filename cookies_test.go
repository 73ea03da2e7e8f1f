package wsgate_test

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wsgate/wsgate"
)

func TestParseCookies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   map[string]string
		dup    []string // names the duplicate error must mention; nil for no error
	}{
		{name: "empty", header: "", want: map[string]string{}},
		{name: "one", header: "a=1", want: map[string]string{"a": "1"}},
		{name: "several", header: "a=1; b=2;c=3", want: map[string]string{"a": "1", "b": "2", "c": "3"}},
		{name: "case-sensitive names", header: "Token=1; token=2", want: map[string]string{"Token": "1", "token": "2"}},
		{name: "quoted value", header: `a="x y"; b=""`, want: map[string]string{"a": "x y", "b": ""}},
		{name: "empty value", header: "a=; b=2", want: map[string]string{"a": "", "b": "2"}},
		{name: "value with =", header: "a=x==; b=k=v", want: map[string]string{"a": "x==", "b": "k=v"}},
		{name: "host prefix", header: "__Host-access_token=abc; __Secure-id=def", want: map[string]string{"__Host-access_token": "abc", "__Secure-id": "def"}},
		{name: "whitespace", header: "  a=1 ;\tb=2  ;  ", want: map[string]string{"a": "1", "b": "2"}},
		{name: "empty parts", header: ";;a=1;;", want: map[string]string{"a": "1"}},
		{name: "no equals skipped", header: "junk; a=1; access_token", want: map[string]string{"a": "1"}},
		{name: "empty name skipped", header: "=x; a=1", want: map[string]string{"a": "1"}},
		{name: "invalid name skipped", header: "a b=1; c@d=2; (e)=3; f=4", want: map[string]string{"f": "4"}},
		{name: "non-ASCII name skipped", header: "tökén=1; f=4", want: map[string]string{"f": "4"}},
		{name: "invalid values skipped", header: `a=x"y; b=x\y; c="x; d=caf` + "\u00e9" + `; e=` + "\x01" + `; f=ok`, want: map[string]string{"f": "ok"}},
		{name: "lone quote", header: `a="; b=2`, want: map[string]string{"b": "2"}},
		{name: "duplicate", header: "a=1; b=2; a=3", want: map[string]string{"b": "2"}, dup: []string{`"a"`}},
		{name: "duplicate same value", header: "a=1; a=1", want: map[string]string{}, dup: []string{`"a"`}},
		{name: "three times", header: "a=1; a=2; a=3; b=4", want: map[string]string{"b": "4"}, dup: []string{`"a"`}},
		{name: "two duplicates", header: "a=1; b=2; a=3; b=4; c=5", want: map[string]string{"c": "5"}, dup: []string{`"a"`, `"b"`}},
		{name: "duplicate with malformed value", header: `a=1; a=bad\value`, want: map[string]string{}, dup: []string{`"a"`}},
		{name: "names differ in case only", header: "a=1; A=2", want: map[string]string{"a": "1", "A": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := wsgate.ParseCookies(tt.header)
			if !maps.Equal(got, tt.want) || got == nil {
				t.Errorf("ParseCookies(%q) = %#v, want %#v", tt.header, got, tt.want)
			}
			if tt.dup == nil {
				if err != nil {
					t.Errorf("ParseCookies(%q) error = %v, want nil", tt.header, err)
				}
				return
			}
			if !errors.Is(err, wsgate.ErrDuplicateCookie) {
				t.Fatalf("ParseCookies(%q) error = %v, want ErrDuplicateCookie", tt.header, err)
			}
			for _, name := range tt.dup {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			}
		})
	}
}

func TestParseCookiesErrorHidesValues(t *testing.T) {
	t.Parallel()
	_, err := wsgate.ParseCookies("access_token=secret1; access_token=secret2")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error = %v; want a duplicate error without the values", err)
	}
}

func TestParseCookiesLimit(t *testing.T) {
	t.Parallel()
	pairs := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = "c=1"
		}
		parts[0] = "first=ok"
		return strings.Join(parts, "; ")
	}
	// 3000 pairs is within net/http's limit (and here full of duplicates).
	got, err := wsgate.ParseCookies(pairs(3000))
	if errors.Is(err, wsgate.ErrTooManyCookies) || got["first"] != "ok" {
		t.Fatalf("3000 pairs: got %v, %v; want parsed", got, err)
	}
	got, err = wsgate.ParseCookies(pairs(3001))
	if !errors.Is(err, wsgate.ErrTooManyCookies) || got != nil {
		t.Fatalf("3001 pairs: got %v, %v; want nil, ErrTooManyCookies", got, err)
	}
	// Empty parts count, as in net/http.
	got, err = wsgate.ParseCookies("a=1" + strings.Repeat(";", 3000))
	if !errors.Is(err, wsgate.ErrTooManyCookies) || got != nil {
		t.Fatalf("3001 parts: got %v, %v; want nil, ErrTooManyCookies", got, err)
	}
}

// TestParseCookiesAgreesWithNetHTTP checks that well-formed cookies parse as
// net/http parses them, so a handler using r.Cookie sees the same values.
func TestParseCookiesAgreesWithNetHTTP(t *testing.T) {
	t.Parallel()
	for _, header := range []string{
		`a=1; b="two"; c=x y; d=,; __Host-e=f`,
		`  a = 1`,
		`a=  1; b=2 `,
	} {
		got, err := wsgate.ParseCookies(header)
		if err != nil {
			t.Fatalf("ParseCookies(%q): %v", header, err)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		want := map[string]string{}
		for _, c := range r.Cookies() {
			want[c.Name] = c.Value
		}
		if !maps.Equal(got, want) {
			t.Errorf("ParseCookies(%q) = %q, net/http = %q", header, got, want)
		}
	}
}

// FuzzCookieToken checks CookieToken against ParseCookies and against
// net/http's strict parser of single pairs.
func FuzzCookieToken(f *testing.F) {
	for _, seed := range []string{
		"access_token=tok",
		"a=1; access_token=tok; b=2",
		`access_token="tok"`,
		"access_token=one; access_token=two",
		`junk; =x; a"b=1; access_token=tok; c=\`,
		"__Host-access_token=tok; access_token=",
	} {
		f.Add(seed)
	}
	src := wsgate.CookieToken("access_token")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		token, err := src.Extract(r)
		if err != nil && token != "" {
			t.Fatalf("Extract returned %q with error %v", token, err)
		}

		// Two pairs net/http deems well formed: never a token.
		wellFormed := 0
		for _, part := range strings.Split(header, ";") {
			if cs, err := http.ParseCookie(part); err == nil && len(cs) == 1 && cs[0].Name == "access_token" {
				wellFormed++
			}
		}
		if wellFormed >= 2 && err == nil {
			t.Fatalf("two access_token pairs in %q, yet token %q", header, token)
		}
		if err != nil {
			return
		}

		// The same answer as ParseCookies.
		cookies, perr := wsgate.ParseCookies(header)
		if got, ok := cookies["access_token"]; !ok || got != token {
			t.Fatalf("Extract = %q, ParseCookies = %q (present %v, error %v)", token, got, ok, perr)
		}

		// A tossed second cookie, in the same line or another, refuses it.
		for _, lines := range [][]string{{header + "; access_token=tossed"}, {header, "access_token=tossed"}, {"access_token=tossed", header}} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, l := range lines {
				r.Header.Add("Cookie", l)
			}
			if tok, err := src.Extract(r); err == nil {
				t.Fatalf("lines %q: token %q despite a second access_token", lines, tok)
			}
		}
	})
}
