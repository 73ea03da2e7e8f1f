package wsgate_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wsgate/wsgate"
)

// TestPrincipalCopy: a Principal is a plain value. Copying one is no
// copylocks error for go vet (which CI runs over this file), and a copy
// whose claims are replaced reads its own claims, never its original's.
func TestPrincipalCopy(t *testing.T) {
	t.Parallel()
	p := &wsgate.Principal{Subject: "alice", RawClaims: json.RawMessage(`{"sub":"alice","role":"admin"}`)}
	if v, ok := p.Claim("role"); !ok || v != "admin" {
		t.Fatalf("role = %v, %v", v, ok)
	}
	p2 := *p
	p2.RawClaims = json.RawMessage(`{"sub":"alice","role":"viewer"}`)
	if v, _ := p2.Claim("role"); v != "viewer" {
		t.Fatalf("copy's role = %v, want viewer", v)
	}
	if v, _ := p.Claim("role"); v != "admin" {
		t.Fatalf("original's role = %v after its copy changed, want admin", v)
	}
}

func TestPrincipalClaim(t *testing.T) {
	t.Parallel()
	type claims struct {
		Role  string   `json:"role"`
		Teams []string `json:"teams"`
	}
	tests := []struct {
		name  string
		p     *wsgate.Principal
		claim string
		want  string // the value as JSON; "" for absent
	}{
		{"raw", &wsgate.Principal{RawClaims: json.RawMessage(`{"role":"admin","n":2}`)}, "n", `2`},
		{"absent", &wsgate.Principal{RawClaims: json.RawMessage(`{"role":"admin"}`)}, "Role", ``},
		{"last duplicate wins", &wsgate.Principal{RawClaims: json.RawMessage(`{"role":"a","role":"b"}`)}, "role", `"b"`},
		{"from typed claims", &wsgate.Principal{Claims: claims{Role: "dev", Teams: []string{"x"}}}, "teams", `["x"]`},
		{"raw claims win", &wsgate.Principal{Claims: claims{Role: "dev"}, RawClaims: json.RawMessage(`{"role":"ops"}`)}, "role", `"ops"`},
		{"no claims", &wsgate.Principal{}, "role", ``},
		{"not an object", &wsgate.Principal{RawClaims: json.RawMessage(`[1]`)}, "role", ``},
		{"nil principal", nil, "role", ``},
	}
	for _, tt := range tests {
		v, ok := tt.p.Claim(tt.claim)
		got := ""
		if ok {
			b, _ := json.Marshal(v)
			got = string(b)
		}
		if got != tt.want {
			t.Errorf("%s: Claim(%q) = %s (ok %v), want %s", tt.name, tt.claim, got, ok, tt.want)
		}
	}
}

// BenchmarkPrincipalClaim measures Claim, which decodes the claims on each
// call, on a typical access token's payload.
func BenchmarkPrincipalClaim(b *testing.B) {
	p := &wsgate.Principal{RawClaims: json.RawMessage(`{"iss":"https://auth.example.com","sub":"alice","aud":["app"],` +
		`"exp":1893456000,"iat":1700000000,"nbf":1700000000,"role":"admin","tenant":"acme","scope":"read write"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := p.Claim("role"); v != "admin" {
			b.Fatalf("role = %v", v)
		}
	}
}

// TestPrincipalClaimAgreesWithEncodingJSON: Claim reads each member as
// encoding/json decodes the object into a map.
func TestPrincipalClaimAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200)
	for _, raw := range []string{
		`{"a":1,"b":"two","c":[1,{"d":null}],"e":{"f":true}}`,
		` { "a" : 1 , "a" : 2 } `,
		`{"\u0061":"escaped key","b\"q":3}`,
		`{"a":` + deep + `,"b":1}`,
		`{}`,
		`{"a":1,}`,
		`{"a":1} trailing`,
		`{"a" 1}`,
		`[1,2]`,
		`"a"`,
		``,
	} {
		var m map[string]any
		merr := json.Unmarshal([]byte(raw), &m)
		p := &wsgate.Principal{RawClaims: json.RawMessage(raw)}
		for _, name := range []string{"a", "b", `b"q`, "c", "e", "z"} {
			got, ok := p.Claim(name)
			want, wok := m[name]
			if merr != nil {
				wok = false
				want = nil
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if ok != wok || string(gb) != string(wb) {
				t.Errorf("%s: Claim(%q) = %s, %v; encoding/json: %s, %v", raw, name, gb, ok, wb, wok)
			}
		}
	}
}
