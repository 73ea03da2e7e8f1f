package wsgate_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wsgate/wsgate"
)

// tokenCase is one request for a token source and what it must yield. A
// wantErr of nil with fails set means any error other than ErrNoToken.
type tokenCase struct {
	name    string
	target  string              // request URI; "/" when empty
	header  map[string][]string // header lines
	want    string
	wantErr error
	fails   bool
}

func runTokenCases(t *testing.T, src wsgate.TokenSource, tests []tokenCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := tt.target
			if target == "" {
				target = "/"
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			for k, lines := range tt.header {
				for _, l := range lines {
					r.Header.Add(k, l)
				}
			}
			got, err := src.Extract(r)
			switch {
			case tt.fails:
				if err == nil || errors.Is(err, wsgate.ErrNoToken) {
					t.Fatalf("Extract = %q, %v; want an error other than ErrNoToken", got, err)
				}
				if got != "" {
					t.Errorf("Extract returned token %q with error %v", got, err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Extract = %q, %v; want %v", got, err, tt.wantErr)
				}
			default:
				if err != nil || got != tt.want {
					t.Fatalf("Extract = %q, %v; want %q", got, err, tt.want)
				}
			}
			if err != nil && tt.want != "" && strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestCookieToken(t *testing.T) {
	t.Parallel()
	src := wsgate.CookieToken("access_token")
	if !src.Ambient || src.Subprotocol != "" || src.Name != `cookie "access_token"` {
		t.Errorf("CookieToken = %+v; want Ambient, no subprotocol, a descriptive name", src)
	}
	runTokenCases(t, src, []tokenCase{
		{name: "absent", wantErr: wsgate.ErrNoToken},
		{name: "other cookies", header: map[string][]string{"Cookie": {"a=1; b=2"}}, wantErr: wsgate.ErrNoToken},
		{name: "found", header: map[string][]string{"Cookie": {"a=1; access_token=eyJ.x.y; b=2"}}, want: "eyJ.x.y"},
		{name: "second line", header: map[string][]string{"Cookie": {"a=1", "access_token=tok"}}, want: "tok"},
		{name: "malformed around", header: map[string][]string{"Cookie": {`x; =1; a"b=2; c=d"e; access_token=tok; f=\`}}, want: "tok"},
		{name: "empty", header: map[string][]string{"Cookie": {"access_token="}}, fails: true},
		{name: "empty quoted", header: map[string][]string{"Cookie": {`access_token=""`}}, fails: true},
		{name: "duplicate", header: map[string][]string{"Cookie": {"access_token=good; access_token=tossed"}}, wantErr: wsgate.ErrDuplicateCookie},
		{name: "duplicate across lines", header: map[string][]string{"Cookie": {"access_token=good", "access_token=tossed"}}, wantErr: wsgate.ErrDuplicateCookie},
		{name: "too many", header: map[string][]string{"Cookie": {"access_token=tok" + strings.Repeat(";a=1", 3000)}}, wantErr: wsgate.ErrTooManyCookies},
		{name: "case differs", header: map[string][]string{"Cookie": {"Access_Token=tok"}}, wantErr: wsgate.ErrNoToken},
	})
}

func TestCookieTokenPrefixedName(t *testing.T) {
	t.Parallel()
	runTokenCases(t, wsgate.CookieToken("__Host-access_token"), []tokenCase{
		{name: "found", header: map[string][]string{"Cookie": {"access_token=plain; __Host-access_token=tok"}}, want: "tok"},
		{name: "unprefixed is another cookie", header: map[string][]string{"Cookie": {"access_token=plain"}}, wantErr: wsgate.ErrNoToken},
		{name: "duplicate", header: map[string][]string{"Cookie": {"__Host-access_token=a; __Host-access_token=b"}}, wantErr: wsgate.ErrDuplicateCookie},
	})
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	src := wsgate.BearerToken()
	if src.Ambient || src.Subprotocol != "" || src.Name == "" {
		t.Errorf("BearerToken = %+v; want not ambient, no subprotocol, a name", src)
	}
	auth := func(lines ...string) map[string][]string { return map[string][]string{"Authorization": lines} }
	runTokenCases(t, src, []tokenCase{
		{name: "absent", wantErr: wsgate.ErrNoToken},
		{name: "found", header: auth("Bearer eyJ.x-y_z"), want: "eyJ.x-y_z"},
		{name: "scheme case", header: auth("bEARER tok"), want: "tok"},
		{name: "padding", header: auth("Bearer ab+/c=="), want: "ab+/c=="},
		{name: "extra spaces", header: auth("Bearer    tok  "), want: "tok"},
		{name: "basic", header: auth("Basic dXNlcjpwYXNz"), wantErr: wsgate.ErrNoToken},
		{name: "scheme prefix only", header: auth("Bearertok"), wantErr: wsgate.ErrNoToken},
		{name: "no token", header: auth("Bearer"), fails: true},
		{name: "blank token", header: auth("Bearer   "), fails: true},
		{name: "two tokens", header: auth("Bearer a b"), fails: true},
		{name: "bad chars", header: auth("Bearer a,b"), fails: true},
		{name: "only padding", header: auth("Bearer =="), fails: true},
		{name: "padding inside", header: auth("Bearer a=b"), fails: true},
		{name: "two headers", header: auth("Bearer a", "Bearer b"), fails: true},
		{name: "two headers, one basic", header: auth("Basic x", "Bearer b"), fails: true},
	})
}

func TestQueryToken(t *testing.T) {
	t.Parallel()
	src := wsgate.QueryToken("token")
	if src.Ambient || src.Subprotocol != "" || src.Name == "" {
		t.Errorf("QueryToken = %+v; want not ambient, no subprotocol, a name", src)
	}
	runTokenCases(t, src, []tokenCase{
		{name: "absent", target: "/ws?other=1", wantErr: wsgate.ErrNoToken},
		{name: "no query", target: "/ws", wantErr: wsgate.ErrNoToken},
		{name: "found", target: "/ws?a=1&token=abc.def", want: "abc.def"},
		{name: "escaped", target: "/ws?token=a%2Bb", want: "a+b"},
		{name: "case-sensitive", target: "/ws?Token=abc", wantErr: wsgate.ErrNoToken},
		{name: "empty", target: "/ws?token=", fails: true},
		{name: "twice", target: "/ws?token=a&token=b", fails: true},
	})
}

func TestSubprotocolToken(t *testing.T) {
	t.Parallel()
	src := wsgate.SubprotocolToken("access_token")
	if src.Ambient || src.Subprotocol != "access_token" || src.Name == "" {
		t.Errorf("SubprotocolToken = %+v; want not ambient, Subprotocol access_token, a name", src)
	}
	proto := func(lines ...string) map[string][]string { return map[string][]string{"Sec-WebSocket-Protocol": lines} }
	runTokenCases(t, src, []tokenCase{
		{name: "absent", wantErr: wsgate.ErrNoToken},
		{name: "other protocols", header: proto("chat, v2"), wantErr: wsgate.ErrNoToken},
		{name: "found", header: proto("access_token, eyJ.x.y"), want: "eyJ.x.y"},
		{name: "no spaces", header: proto("access_token,tok"), want: "tok"},
		{name: "among others", header: proto("chat, access_token, tok, v2"), want: "tok"},
		{name: "across lines", header: proto("chat, access_token", "tok"), want: "tok"},
		{name: "case-insensitive protocol", header: proto("Access_Token, tok"), want: "tok"},
		{name: "token before protocol is not it", header: proto("tok, access_token"), fails: true},
		{name: "nothing after", header: proto("access_token"), fails: true},
		{name: "empty after", header: proto("access_token, , tok"), fails: true},
		{name: "offered twice", header: proto("access_token, a, access_token, b"), fails: true},
		{name: "token equal to protocol", header: proto("access_token, ACCESS_TOKEN"), fails: true},
	})
}

func TestTokenSourceConstructorsPanicOnBadNames(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"CookieToken empty":        func() { wsgate.CookieToken("") },
		"CookieToken space":        func() { wsgate.CookieToken("a b") },
		"CookieToken semicolon":    func() { wsgate.CookieToken("a;b") },
		"QueryToken empty":         func() { wsgate.QueryToken("") },
		"SubprotocolToken empty":   func() { wsgate.SubprotocolToken("") },
		"SubprotocolToken comma":   func() { wsgate.SubprotocolToken("a,b") },
		"SubprotocolToken unicode": func() { wsgate.SubprotocolToken("tök") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}
