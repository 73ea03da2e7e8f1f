package wsgate

import (
	"strings"
	"sync/atomic"
	"testing"
)

func TestNormalizeOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" for not an origin
	}{
		{"https://example.com", "https://example.com"},
		{"HTTPS://Example.COM", "https://example.com"},
		{"https://example.com:443", "https://example.com"},
		{"http://example.com:80", "http://example.com"},
		{"http://example.com:443", "http://example.com:443"},
		{"https://example.com:80", "https://example.com:80"},
		{"https://example.com:0443", "https://example.com"},
		{"https://example.com:8443", "https://example.com:8443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[0:0:0:0:0:0:0:1]", "http://[::1]"},
		{"https://[2001:DB8::1]:443", "https://[2001:db8::1]"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"https://bücher.example", "https://bücher.example"},
		{"https://under_score.example.com", "https://under_score.example.com"},
		{"", ""},
		{"null", ""},
		{"NULL", ""},
		{"example.com", ""},
		{"//example.com", ""},
		{"https://", ""},
		{"https://example.com/", ""},
		{"https://example.com/path", ""},
		{"https://example.com?q=1", ""},
		{"https://example.com#f", ""},
		{"https://user@example.com", ""},
		{"https://user:pw@example.com", ""},
		{`https://example.com\evil.com`, ""},
		{"ftp://example.com", ""},
		{"ws://example.com", ""},
		{"file://", ""},
		{"chrome-extension://abcdef", ""},
		{"https://example.com:", ""},
		{"https://example.com:https", ""},
		{"https://example.com:+443", ""},
		{"https://example.com:65536", ""},
		{"https://example.com:1:2", ""},
		{"https://::1", ""},
		{"https://[::1", ""},
		{"https://[::1]x", ""},
		{"https://[1.2.3.4]", ""},
		{"https://[fe80::1%25eth0]", ""},
		{"https://[]", ""},
		{"https://exa mple.com", ""},
		{"https://example.com ", ""},
		{" https://example.com", ""},
		{"https://example..com", ""},
		{"https://.example.com", ""},
		{"https://example.com.", ""},
		{"https://*.example.com", ""},
		{"https://exa%6Dple.com", ""},
		{"https://example.com\x00", ""},
		{"https://\xff.com", ""},
	}
	for _, tt := range tests {
		got, ok := normalizeOrigin(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("normalizeOrigin(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestNewOriginPolicyRefuses(t *testing.T) {
	t.Parallel()
	for _, pat := range []string{
		"",
		"*",
		"null",
		"example.com",
		"https://*",
		"https://*.com",
		"https://*.*.com",
		"https://*example.com",
		"https://a.*.example.com",
		"https://example.*",
		"https://*.example.com.",
		"https://*.1.2.3",
		"https://example.com/",
		"https://example.com/path",
		"https://example.com?x",
		"https://example.com#x",
		"https://user@example.com",
		"ftp://example.com",
		"wss://example.com",
		"https://example.com:*",
		"https://example.com:99999",
		"*://example.com",
		"https://[::1",
	} {
		_, err := newOriginPolicy([]string{"https://ok.example.com", pat}, nil, false)
		if err == nil {
			t.Errorf("newOriginPolicy accepted %q", pat)
			continue
		}
		if !strings.Contains(err.Error(), "\""+pat+"\"") {
			t.Errorf("error %q does not name the entry %q", err, pat)
		}
	}
}

func TestOriginPolicyAllowed(t *testing.T) {
	t.Parallel()
	p, err := newOriginPolicy([]string{
		"https://app.example.com",
		"HTTPS://Admin.Example.COM:443",
		"http://localhost:3000",
		"https://*.example.org",
		"https://*.*.deep.example.net:8443",
		"http://[::1]:8080",
		"https://xn--bcher-kva.example",
	}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"https://APP.example.com", true},                 // uppercase host normalised
		{"https://app.example.com:443", true},             // default port normalised
		{"https://admin.example.com", true},               // pattern normalised
		{"http://app.example.com", false},                 // scheme mismatch
		{"https://app.example.com:8443", false},           // port mismatch
		{"https://example.com", false},                    // parent domain
		{"https://evil.app.example.com", false},           // exact entry is not a wildcard
		{"https://app.example.com.evil.com", false},       // suffix trick
		{"http://localhost:3000", true},                   //
		{"http://localhost", false},                       // port mismatch
		{"http://localhost:30000", false},                 //
		{"https://a.example.org", true},                   // one label
		{"https://a-b_c.example.org", true},               //
		{"https://a.b.example.org", false},                // a wildcard matches one label only
		{"https://example.org", false},                    // a wildcard never matches an empty label
		{"https://.example.org", false},                   //
		{"https://evilexample.org", false},                // not a label boundary
		{"https://a.evilexample.org", false},              //
		{"http://a.example.org", false},                   // scheme mismatch
		{"https://a.example.org:8443", false},             // port mismatch
		{"https://a.example.org.evil.com", false},         //
		{"https://x.y.deep.example.net:8443", true},       // two wildcards, two labels
		{"https://y.deep.example.net:8443", false},        //
		{"https://w.x.y.deep.example.net:8443", false},    //
		{"https://x.y.deep.example.net", false},           //
		{"http://[::1]:8080", true},                       // IPv6 literal
		{"http://[0:0::1]:8080", true},                    // IPv6 canonical form
		{"http://[::2]:8080", false},                      //
		{"http://[::1]", false},                           //
		{"https://xn--bcher-kva.example", true},           // punycode: exact compare
		{"https://bücher.example", false},                 // no IDNA mapping
		{"null", false},                                   //
		{"", false},                                       //
		{"https://app.example.com/", false},               //
		{"https://app.example.com/path", false},           //
		{"https://user@app.example.com", false},           //
		{"https://app.example.com?x=1", false},            //
		{"garbage", false},                                //
		{"https://*.example.org", false},                  // a pattern is not an origin
		{"https://app.example.com, https://x.com", false}, // two origins in one value
	}
	for _, tt := range tests {
		if got := p.allowed(tt.origin); got != tt.want {
			t.Errorf("allowed(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
	if p.empty() {
		t.Error("empty() = true for a policy with patterns")
	}
}

func TestOriginPolicyFunc(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var seen atomic.Value
	p, err := newOriginPolicy([]string{"https://app.example.com"}, func(origin string) bool {
		calls.Add(1)
		seen.Store(origin)
		return origin == "https://partner.example.net"
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !p.allowed("https://app.example.com") || calls.Load() != 0 {
		t.Errorf("a pattern match consulted fn (%d calls)", calls.Load())
	}
	if !p.allowed("HTTPS://Partner.Example.NET:443") {
		t.Error("fn's answer was not used")
	}
	if got := seen.Load(); got != "https://partner.example.net" {
		t.Errorf("fn got %q, want the normalised origin", got)
	}
	if p.allowed("https://other.example.net") {
		t.Error("fn said no, origin allowed")
	}
	calls.Store(0)
	for _, o := range []string{"null", "", "https://partner.example.net/", "garbage"} {
		if p.allowed(o) {
			t.Errorf("allowed(%q) = true", o)
		}
	}
	if calls.Load() != 0 {
		t.Error("fn consulted for an invalid origin")
	}
	if p.empty() {
		t.Error("empty() = true")
	}
}

func TestOriginPolicyAllowAny(t *testing.T) {
	t.Parallel()
	p, err := newOriginPolicy(nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.empty() {
		t.Error("empty() = true with allowAny")
	}
	for _, o := range []string{"https://anything.example", "http://localhost:1234", "http://[::1]"} {
		if !p.allowed(o) {
			t.Errorf("allowed(%q) = false with allowAny", o)
		}
	}
	for _, o := range []string{"null", "", "garbage", "https://x.example/path", "ftp://x.example", "https://u@x.example"} {
		if p.allowed(o) {
			t.Errorf("allowed(%q) = true with allowAny", o)
		}
	}
}

func TestOriginPolicyEmpty(t *testing.T) {
	t.Parallel()
	p, err := newOriginPolicy(nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !p.empty() {
		t.Error("empty() = false for no patterns, no fn, not allowAny")
	}
	if p.allowed("https://example.com") {
		t.Error("an empty policy allowed an origin")
	}
}

// FuzzNormalizeOrigin checks that normalising is idempotent and that
// allowAny allows exactly the valid origins.
func FuzzNormalizeOrigin(f *testing.F) {
	for _, s := range []string{"https://Example.com:443", "http://[::1]:80", "null", "https://a.b/c", "https://*.x.y"} {
		f.Add(s)
	}
	anyPolicy, err := newOriginPolicy(nil, nil, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, ok := normalizeOrigin(s)
		if anyPolicy.allowed(s) != ok {
			t.Fatalf("allowAny: allowed(%q) = %v, normalizeOrigin ok = %v", s, !ok, ok)
		}
		if !ok {
			return
		}
		again, ok := normalizeOrigin(norm)
		if !ok || again != norm {
			t.Fatalf("normalizeOrigin(%q) = %q, then %q, %v", s, norm, again, ok)
		}
		p, err := newOriginPolicy([]string{s}, nil, false)
		if err != nil || !p.allowed(s) || !p.allowed(norm) {
			t.Fatalf("policy of %q: err %v, does not allow itself", s, err)
		}
	})
}

// FuzzOriginVerbatim checks that allowing an Origin spelt exactly as a
// configured origin without parsing it answers as parsing it would.
func FuzzOriginVerbatim(f *testing.F) {
	for _, s := range [][2]string{
		{"https://app.example.com", "https://app.example.com"},
		{"HTTPS://App.Example.com:443", "https://app.example.com"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[0:0::1]:80", "http://[::1]"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"https://bücher.example", "https://bücher.example"},
		{"https://*.example.org", "https://a.example.org"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		p, err := newOriginPolicy([]string{pattern}, nil, false)
		if err != nil {
			return
		}
		parsed := *p
		parsed.verbatim = nil
		if got, want := p.allowed(origin), parsed.allowed(origin); got != want {
			t.Fatalf("policy %q: allowed(%q) = %v, parsing it says %v", pattern, origin, got, want)
		}
		for norm := range p.verbatim {
			if !parsed.allowed(norm) {
				t.Fatalf("policy %q: %q is verbatim but not allowed once parsed", pattern, norm)
			}
		}
	})
}
