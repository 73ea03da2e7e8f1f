package wsgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
)

// Tokens whose JSON golang-jwt would read one way and another reader
// another, or that bend RFC 7515 and RFC 7519: built byte by byte, since no
// signing library writes them.

// unixAt is verifierNow moved by d, in seconds since the epoch, as JSON.
func unixAt(d time.Duration) string { return strconv.FormatInt(verifierNow.Add(d).Unix(), 10) }

// rawClaims returns a claims object valid at verifierNow for the test
// verifiers, with members (JSON text, comma-separated) appended. The time
// claims come from times: nil means the valid default; "" leaves the claim
// out.
func rawClaims(times map[string]string, members string) string {
	parts := []string{`"iss":"` + verifierIssuer + `"`, `"aud":"` + verifierAudience + `"`}
	for _, name := range []string{"iat", "nbf", "exp"} {
		v, ok := times[name]
		if !ok {
			v = map[string]string{"iat": unixAt(-time.Minute), "nbf": unixAt(-time.Minute), "exp": unixAt(10 * time.Minute)}[name]
		}
		if v != "" {
			parts = append(parts, `"`+name+`":`+v)
		}
	}
	if members != "" {
		parts = append(parts, members)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// nestedClaims has custom claims at several depths, tagged and not.
type nestedClaims struct {
	jwt.RegisteredClaims
	Role    string `json:"role"`
	Plan    string // untagged: its JSON name is "Plan"
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	Teams []struct {
		ID string `json:"id"`
	} `json:"teams"`
	Extra  map[string]any `json:"extra"`
	hidden string         //nolint:unused // unexported: not a JSON name
}

func newNestedJWT(t *testing.T, key []byte) *wsgate.JWT[nestedClaims, *nestedClaims] {
	t.Helper()
	v, err := wsgate.NewJWT[nestedClaims](jwtOpts([]string{"HS256"}, key, nil))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJWTClaimNamesMatchExactly: encoding/json would match "SUB" (or
// "ſub", with U+017F, which folds to s) to the sub claim and keep the last
// of two "sub" members; JWT refuses such tokens rather than authenticate
// someone else than every other reader of the token sees.
func TestJWTClaimNamesMatchExactly(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newNestedJWT(t, key)
	for _, tc := range []struct{ name, members string }{
		{"SUB after sub", `"sub":"alice","SUB":"bob"`},
		{"SUB before sub", `"SUB":"bob","sub":"alice"`},
		{"SUB alone", `"SUB":"bob"`},
		{"Sub", `"sub":"alice","Sub":"bob"`},
		{"long s folds to s", `"sub":"alice","ſub":"bob"`},
		{"sub twice", `"sub":"alice","sub":"bob"`},
		{"aud twice", `"sub":"alice","aud":"other"`},
		{"EXP", `"sub":"alice","EXP":` + unixAt(100*time.Hour)},
		{"Iss", `"sub":"alice","Iss":"https://evil.example.com"`},
		{"JTI without jti in the type's use", `"sub":"alice","JTI":"x"`},
		{"custom claim in another case", `"sub":"alice","role":"viewer","ROLE":"admin"`},
		{"custom claim only in another case", `"sub":"alice","Role":"admin"`},
		{"custom claim twice", `"sub":"alice","role":"viewer","role":"admin"`},
		{"untagged field in another case", `"sub":"alice","plan":"gold"`},
		{"nested field in another case", `"sub":"alice","profile":{"name":"a","NAME":"b"}`},
		{"nested field twice", `"sub":"alice","profile":{"name":"a","name":"b"}`},
		{"field of an array element in another case", `"sub":"alice","teams":[{"id":"a"},{"ID":"b"}]`},
		{"duplicate in a map claim", `"sub":"alice","extra":{"k":1,"k":2}`},
		{"duplicate deep in a map claim", `"sub":"alice","extra":{"deep":[{"x":1,"x":2}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mustRefuseToken(t, v, rawHS256(t, key, hs256Header, rawClaims(nil, tc.members)), "invalid token")
		})
	}

	t.Run("exact names", func(t *testing.T) {
		t.Parallel()
		// Names that match nothing in the type are left alone, in any
		// case; a map claim's keys are exact; an escaped name is the name
		// it spells for every reader.
		members := `"\u0073ub":"alice","role":"admin","Plan":"gold","profile":{"name":"Al"},"teams":[{"id":"t1"}],` +
			`"extra":{"k":1,"K":2},"foo":1,"Foo":2,"hidden":"x"`
		p, err := v.Authenticate(context.Background(), rawHS256(t, key, hs256Header, rawClaims(nil, members)))
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		c := p.Claims.(*nestedClaims)
		if p.Subject != "alice" || c.Role != "admin" || c.Plan != "gold" || c.Profile.Name != "Al" ||
			len(c.Teams) != 1 || c.Teams[0].ID != "t1" || c.Extra["k"] != 1.0 || c.Extra["K"] != 2.0 || c.hidden != "" {
			t.Errorf("claims %+v", c)
		}
		if foo, _ := p.Claim("foo"); foo != 1.0 {
			t.Errorf(`Claim("foo") = %v, want 1`, foo)
		}
		if foo, _ := p.Claim("Foo"); foo != 2.0 {
			t.Errorf(`Claim("Foo") = %v, want 2`, foo)
		}
	})
}

// TestJWTClaimNamesOfMapClaims: a verifier whose claims are a map still
// refuses registered claim names in another case.
func TestJWTClaimNamesOfMapClaims(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v, err := wsgate.NewJWT[jwt.MapClaims](jwtOpts([]string{"HS256"}, key, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(context.Background(), rawHS256(t, key, hs256Header, rawClaims(nil, `"sub":"alice","Role":"x","role":"y"`))); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	mustRefuseToken(t, v, rawHS256(t, key, hs256Header, rawClaims(nil, `"sub":"alice","SUB":"bob"`)), "invalid token")
}

// TestJWTCritHeader: JWT implements no JWS extension, so a token that marks
// one critical is refused (RFC 7515, section 4.1.11), as is a malformed
// crit; header names are exact and unique.
func TestJWTCritHeader(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	claims := rawClaims(nil, `"sub":"alice","role":"admin"`)
	for _, header := range []string{
		`{"alg":"HS256","typ":"JWT","crit":["urn:example:ext"],"urn:example:ext":true}`,
		`{"alg":"HS256","crit":["b64"],"b64":false}`,
		`{"alg":"HS256","crit":["exp"],"exp":1}`,
		`{"alg":"HS256","crit":[]}`,
		`{"alg":"HS256","crit":"urn:example:ext"}`,
		`{"alg":"HS256","crit":null}`,
		`{"alg":"HS256","crit":[1]}`,
		`{"alg":"HS256","crit":["alg"]}`,
		`{"alg":"HS256","alg":"HS256"}`,
		`{"alg":"HS256","typ":"JWT","typ":"JWT"}`,
		`{"alg":"HS256","kid":"a","kid":"b"}`,
		`["alg","HS256"]`,
		`{"alg":"HS256"} {}`,
	} {
		t.Run(header, func(t *testing.T) {
			t.Parallel()
			mustRefuseToken(t, v, rawHS256(t, key, header, claims), "invalid token")
		})
	}
	// Header names are case-sensitive: "Crit" is some unknown parameter,
	// which JOSE ignores.
	want := goodVerifierClaims()
	want.IssuedAt, want.NotBefore = nil, nil
	p, err := v.Authenticate(context.Background(), rawHS256(t, key, `{"alg":"HS256","Crit":["x"]}`, claims))
	if err != nil || p.Subject != "alice" {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
}

// TestJWTNumericDates: exp, nbf and iat are JSON numbers (RFC 7519's
// NumericDate) within the years RFC 3339 can write; anything else is an
// invalid token, never an expired or a valid one.
func TestJWTNumericDates(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	v := newVerifier(t, jwtOpts([]string{"HS256"}, key, nil))
	noExp := newVerifier(t, jwtOpts([]string{"HS256"}, key, func(o *wsgate.JWTOptions) { o.AllowMissingExpiration = true }))
	noLeeway := newVerifier(t, jwtOpts([]string{"HS256"}, key, func(o *wsgate.JWTOptions) { o.Leeway = -1 }))
	const maxDate = "253402300799" // 9999-12-31T23:59:59Z
	token := func(times map[string]string) string {
		return rawHS256(t, key, hs256Header, rawClaims(times, `"sub":"alice","role":"admin"`))
	}

	for _, tc := range []struct {
		name  string
		times map[string]string
	}{
		{"exp as a string", map[string]string{"exp": strconv.Quote(unixAt(10 * time.Minute))}},
		{"nbf as a string", map[string]string{"nbf": strconv.Quote(unixAt(-time.Minute))}},
		{"iat as a string", map[string]string{"iat": strconv.Quote(unixAt(-time.Minute))}},
		{"exp null", map[string]string{"exp": "null"}},
		{"exp true", map[string]string{"exp": "true"}},
		{"exp an object", map[string]string{"exp": `{"n":1}`}},
		{"exp an array", map[string]string{"exp": "[" + unixAt(time.Minute) + "]"}},
		{"exp overflowing int64", map[string]string{"exp": "9223372036854775808"}},
		{"exp 1e300", map[string]string{"exp": "1e300"}},
		{"exp beyond float64", map[string]string{"exp": "1e400"}},
		{"exp in year 10000", map[string]string{"exp": "253402300800"}},
		{"exp plus leeway past year 9999", map[string]string{"exp": maxDate}},
		{"exp negative", map[string]string{"exp": "-1"}},
		{"nbf 1e300", map[string]string{"nbf": "1e300"}},
		{"nbf negative overflow", map[string]string{"nbf": "-1e300"}},
		{"iat 1e300", map[string]string{"iat": "1e300"}},
		{"iat negative", map[string]string{"iat": "-5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mustRefuseToken(t, v, token(tc.times), "invalid token")
		})
	}

	t.Run("exp null without required exp", func(t *testing.T) {
		t.Parallel()
		mustRefuseToken(t, noExp, token(map[string]string{"exp": "null"}), "invalid token")
		mustRefuseToken(t, noExp, token(map[string]string{"exp": `"1"`}), "invalid token")
		if _, err := noExp.Authenticate(context.Background(), token(map[string]string{"exp": ""})); err != nil {
			t.Fatalf("no exp at all: %v", err)
		}
	})

	t.Run("the last encodable second", func(t *testing.T) {
		t.Parallel()
		last := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
		for _, tc := range []struct {
			v   wsgate.Authenticator
			exp string
		}{
			{noLeeway, maxDate},
			{v, strconv.FormatInt(last.Add(-wsgate.DefaultLeeway).Unix(), 10)},
		} {
			p, err := tc.v.Authenticate(context.Background(), token(map[string]string{"exp": tc.exp}))
			if err != nil {
				t.Fatalf("exp %s: %v", tc.exp, err)
			}
			if !p.Expires.Equal(last) {
				t.Errorf("Expires = %v, want %v", p.Expires, last)
			}
			if _, err := json.Marshal(p.Expires); err != nil {
				t.Errorf("Expires cannot be encoded: %v", err)
			}
		}
	})

	t.Run("fractional and exponent forms", func(t *testing.T) {
		t.Parallel()
		exp := verifierNow.Add(10 * time.Minute)
		p, err := v.Authenticate(context.Background(), token(map[string]string{
			"exp": unixAt(10*time.Minute) + ".5",
			"iat": fmt.Sprintf("%.6e", float64(verifierNow.Add(-time.Minute).Unix())),
		}))
		if err != nil {
			t.Fatal(err)
		}
		// golang-jwt keeps whole seconds (jwt.TimePrecision).
		if want := exp.Add(wsgate.DefaultLeeway); !p.Expires.Equal(want) {
			t.Errorf("Expires = %v, want %v", p.Expires, want)
		}
	})

	t.Run("expired is still expired", func(t *testing.T) {
		t.Parallel()
		mustRefuseToken(t, v, token(map[string]string{"exp": unixAt(-time.Hour)}), "token expired")
		mustRefuseToken(t, v, token(map[string]string{"exp": "0"}), "token expired")
	})
}

// TestJWTKeyFuncUnavailable: a KeyFunc that cannot fetch keys is not a bad
// token. Authenticate returns an error wrapping ErrAuthUnavailable and
// KeyFunc's error, not an *Error; ErrUnknownKey is the token's fault.
func TestJWTKeyFuncUnavailable(t *testing.T) {
	t.Parallel()
	key := newHMACKey(t)
	errKeyServer := errors.New("key server 10.0.0.9 unreachable")
	keyErr := map[string]error{
		"down":    errKeyServer,
		"timeout": fmt.Errorf("fetching keys: %w", context.DeadlineExceeded),
		"unknown": fmt.Errorf("kid %q: %w", "unknown", wsgate.ErrUnknownKey),
	}
	v := newVerifier(t, jwtOpts([]string{"HS256"}, nil, func(o *wsgate.JWTOptions) {
		o.KeyFunc = func(_ context.Context, kid, _ string) (any, error) {
			if err, ok := keyErr[kid]; ok {
				return nil, err
			}
			return key, nil
		}
	}))
	tok := func(kid string) string {
		return signToken(t, jwt.SigningMethodHS256, key, goodVerifierClaims(), map[string]any{"kid": kid})
	}
	for _, kid := range []string{"down", "timeout"} {
		p, err := v.Authenticate(context.Background(), tok(kid))
		if p != nil || err == nil {
			t.Fatalf("%s: Authenticate = %+v, %v", kid, p, err)
		}
		if _, isRefusal := errors.AsType[*wsgate.Error](err); isRefusal {
			t.Errorf("%s: error %v is an *Error, which means a bad token", kid, err)
		}
		if !errors.Is(err, wsgate.ErrAuthUnavailable) || !errors.Is(err, keyErr[kid]) {
			t.Errorf("%s: error %v, want it to wrap ErrAuthUnavailable and KeyFunc's error", kid, err)
		}
	}
	e := mustRefuseToken(t, v, tok("unknown"), "invalid token")
	if !errors.Is(e, wsgate.ErrUnknownKey) || errors.Is(e, wsgate.ErrAuthUnavailable) {
		t.Errorf("Err = %v, want ErrUnknownKey and no outage", e.Err)
	}
	mustAcceptToken(t, v, tok("good"), goodVerifierClaims(), wsgate.DefaultLeeway)
	// A token refused before any key is looked up stays the token's fault.
	mustRefuseToken(t, v, signToken(t, jwt.SigningMethodHS512, key, goodVerifierClaims(), map[string]any{"kid": "down"}), "invalid token")
	mustRefuseToken(t, v, rawHS256(t, key, `{"alg":"HS256","kid":"down","crit":["x"],"x":1}`, rawClaims(nil, `"sub":"alice"`)), "invalid token")
}
