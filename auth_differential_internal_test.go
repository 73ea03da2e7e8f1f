package wsgate

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT.Authenticate verifies a token without golang-jwt's ParseWithClaims,
// which would decode it a second time. These tests hold it to what the
// verifier did when it was built on ParseWithClaims: the same verdict for
// every token of a corpus (accepted with the same principal, or refused
// with the same status and message, or found unavailable), and KeyFunc
// asked the same questions.

// referenceAuthenticate is JWT.Authenticate as it was built on golang-jwt's
// ParseWithClaims, with the parser options NewJWT used to give it: the size
// cap, the same strict JSON walk of header and claims, then ParseWithClaims
// with a key function doing the same checks, and the same classification.
// Its parser options are spelt out here rather than taken from
// validationOptions on purpose: an oracle that shared them would share
// their mistakes (a check dropped there would pass here too), and
// diffVerifiers sets every option they depend on.
func referenceAuthenticate[T any, PT interface {
	*T
	jwt.Claims
}](v *JWT[T, PT], opts JWTOptions, ctx context.Context, token string) (*Principal, error) {
	if len(token) > v.maxSize {
		return nil, tokenError(msgTokenTooLarge, errors.New("too large"))
	}
	header, rest, ok := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return nil, tokenError(msgTokenInvalid, errTokenSegments)
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(v.leeway),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if !opts.AllowMissingExpiration {
		popts = append(popts, jwt.WithExpirationRequired())
	}
	if opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	if opts.Now != nil {
		popts = append(popts, jwt.WithTimeFunc(opts.Now))
	}
	parser := jwt.NewParser(popts...)
	hb, err := parser.DecodeSegment(header)
	if err != nil {
		return nil, tokenError(msgTokenInvalid, err)
	}
	if err := checkJSONObject(hb, nil, func(name string, _ jsonValue) error {
		if name == "crit" {
			return errCritHeader
		}
		return nil
	}); err != nil {
		return nil, tokenError(msgTokenInvalid, err)
	}
	raw, err := parser.DecodeSegment(payload)
	if err != nil {
		return nil, tokenError(msgTokenInvalid, err)
	}
	if err := checkJSONObject(raw, v.claims, v.checkClaim); err != nil {
		return nil, tokenError(msgTokenInvalid, err)
	}

	claims := PT(new(T))
	var unavailable error
	parsed, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if !slices.Contains(v.methods, alg) {
			return nil, errors.New("algorithm not allowed")
		}
		fam, _ := algFamily(alg)
		if !methodFits(t.Method, fam) {
			return nil, errors.New("unexpected implementation")
		}
		key := v.key
		if v.keyFunc != nil {
			kid := ""
			if raw, ok := t.Header["kid"]; ok {
				s, ok := raw.(string)
				if !ok {
					return nil, errors.New("kid header is not a string")
				}
				kid = s
			}
			k, err := v.keyFunc(ctx, kid, alg)
			if err != nil {
				if !errors.Is(err, ErrUnknownKey) {
					unavailable = fmt.Errorf("%w: KeyFunc: %w", ErrAuthUnavailable, err)
				}
				return nil, err
			}
			key = k
		}
		if err := checkKey(alg, key); err != nil {
			return nil, err
		}
		return key, nil
	})
	if unavailable != nil {
		return nil, unavailable
	}
	if err != nil {
		return nil, classifyTokenError(err)
	}
	if !parsed.Valid {
		return nil, tokenError(msgTokenInvalid, jwt.ErrTokenUnverifiable)
	}
	sub, err := claims.GetSubject()
	if err != nil || sub == "" {
		return nil, tokenError(msgTokenInvalid, errMissingSubject)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil {
		return nil, tokenError(msgTokenInvalid, err)
	}
	var expires time.Time
	if exp != nil {
		expires = exp.Add(v.leeway)
	}
	return &Principal{Subject: sub, Expires: expires, Claims: claims, RawClaims: raw}, nil
}

// diffNow is the verifiers' clock.
var diffNow = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

const (
	diffIssuer   = "https://issuer.example"
	diffAudience = "api"
)

// diffKeys are the keys tokens are signed with, and their public halves.
type diffKeys struct {
	hmac, otherHMAC []byte
	rsa             *rsa.PrivateKey
	ec256, ec384    *ecdsa.PrivateKey
	edPub           ed25519.PublicKey
	ed              ed25519.PrivateKey
}

var diffKeysOnce = sync.OnceValues(func() (*diffKeys, error) {
	k := &diffKeys{hmac: make([]byte, 32), otherHMAC: make([]byte, 64)}
	rand.Read(k.hmac)
	rand.Read(k.otherHMAC)
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, err
	}
	if k.edPub, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	return k, nil
})

func loadDiffKeys(t testing.TB) *diffKeys {
	t.Helper()
	k, err := diffKeysOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signRaw signs header and claims, JSON texts used exactly as given, with
// method and key.
func signRaw(t testing.TB, method jwt.SigningMethod, key any, header, claims string) string {
	t.Helper()
	signing := b64(header) + "." + b64(claims)
	sig, err := method.Sign(signing, key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// at is diffNow moved by d, as a JSON NumericDate.
func at(d time.Duration) string { return strconv.FormatInt(diffNow.Add(d).Unix(), 10) }

// claimsJSON is a claims object valid at diffNow for the verifiers of
// diffVerifiers, with members replaced or added: a member whose value is
// "" is left out.
func claimsJSON(members ...string) string {
	base := [][2]string{
		{"iss", `"` + diffIssuer + `"`},
		{"sub", `"alice"`},
		{"aud", `"` + diffAudience + `"`},
		{"iat", at(-time.Minute)},
		{"nbf", at(-time.Minute)},
		{"exp", at(10 * time.Minute)},
		{"role", `"admin"`},
	}
	for i := 0; i+1 < len(members); i += 2 {
		name, value := members[i], members[i+1]
		j := slices.IndexFunc(base, func(m [2]string) bool { return m[0] == name })
		if j < 0 {
			base = append(base, [2]string{name, value})
		} else {
			base[j][1] = value
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for _, m := range base {
		if m[1] == "" {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(m[0]) + ":" + m[1])
	}
	b.WriteByte('}')
	return b.String()
}

// diffClaims is the usual claims type; diffValidated adds a check of its own.
type diffClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

type diffValidated struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

func (c *diffValidated) Validate() error {
	if c.Role != "admin" {
		return errors.New("role must be admin")
	}
	return nil
}

// keyCall is one question put to KeyFunc.
type keyCall struct{ kid, alg string }

// diffKeyFunc answers by kid, recording each call in *calls.
func diffKeyFunc(k *diffKeys, calls *[]keyCall) func(context.Context, string, string) (any, error) {
	return func(_ context.Context, kid, alg string) (any, error) {
		*calls = append(*calls, keyCall{kid, alg})
		switch kid {
		case "", "hs":
			return k.hmac, nil
		case "rs":
			return &k.rsa.PublicKey, nil
		case "es":
			return &k.ec256.PublicKey, nil
		case "es384":
			return &k.ec384.PublicKey, nil
		case "ed":
			return k.edPub, nil
		case "string":
			return "a string is no key", nil
		case "private":
			return k.rsa, nil
		case "set":
			return jwt.VerificationKeySet{Keys: []jwt.VerificationKey{k.hmac}}, nil
		case "unknown":
			return nil, fmt.Errorf("kid %q: %w", kid, ErrUnknownKey)
		case "unknown and down":
			return nil, errors.Join(ErrUnknownKey, ErrAuthUnavailable)
		case "down":
			return nil, errors.New("key server unreachable")
		}
		return nil, ErrUnknownKey
	}
}

// authenticator runs one implementation of Authenticate.
type authenticator func(ctx context.Context, token string) (*Principal, error)

// diffVerifier is one configuration, with the new Authenticate and the
// reference, each with its own record of KeyFunc's calls.
type diffVerifier struct {
	name                string
	got, want           authenticator
	gotCalls, wantCalls *[]keyCall
}

func newDiffVerifier[T any, PT interface {
	*T
	jwt.Claims
}](t *testing.T, name string, opts JWTOptions, keyFunc func(*[]keyCall) func(context.Context, string, string) (any, error)) diffVerifier {
	t.Helper()
	d := diffVerifier{name: name, gotCalls: new([]keyCall), wantCalls: new([]keyCall)}
	build := func(calls *[]keyCall) *JWT[T, PT] {
		o := opts
		if keyFunc != nil {
			o.KeyFunc = keyFunc(calls)
		}
		v, err := NewJWT[T, PT](o)
		if err != nil {
			t.Fatalf("%s: NewJWT: %v", name, err)
		}
		return v
	}
	got, ref := build(d.gotCalls), build(d.wantCalls)
	d.got = got.Authenticate
	d.want = func(ctx context.Context, token string) (*Principal, error) {
		return referenceAuthenticate(ref, opts, ctx, token)
	}
	return d
}

// diffVerifiers are the configurations every token of the corpus meets.
func diffVerifiers(t *testing.T, k *diffKeys) []diffVerifier {
	now := func() time.Time { return diffNow }
	base := func(methods []string, key any, edit func(*JWTOptions)) JWTOptions {
		o := JWTOptions{Methods: methods, Key: key, Issuer: diffIssuer, Audience: diffAudience, Now: now}
		if edit != nil {
			edit(&o)
		}
		return o
	}
	kf := func(calls *[]keyCall) func(context.Context, string, string) (any, error) {
		return diffKeyFunc(k, calls)
	}
	return []diffVerifier{
		newDiffVerifier[diffClaims](t, "HS256", base([]string{"HS256"}, k.hmac, nil), nil),
		newDiffVerifier[diffClaims](t, "HS256 no exp needed", base([]string{"HS256"}, k.hmac, func(o *JWTOptions) { o.AllowMissingExpiration = true }), nil),
		newDiffVerifier[diffClaims](t, "HS256 no leeway", base([]string{"HS256"}, k.hmac, func(o *JWTOptions) { o.Leeway = -1 }), nil),
		newDiffVerifier[diffClaims](t, "HS256 leeway 2m", base([]string{"HS256"}, k.hmac, func(o *JWTOptions) { o.Leeway = 2 * time.Minute }), nil),
		newDiffVerifier[diffClaims](t, "HS256 any iss and aud", base([]string{"HS256"}, k.hmac, func(o *JWTOptions) {
			o.Issuer, o.AllowAnyIssuer, o.Audience, o.AllowAnyAudience = "", true, "", true
		}), nil),
		newDiffVerifier[diffClaims](t, "HS384 HS512", base([]string{"HS384", "HS512"}, k.otherHMAC, nil), nil),
		newDiffVerifier[diffValidated](t, "HS256 own Validate", base([]string{"HS256"}, k.hmac, nil), nil),
		newDiffVerifier[jwt.MapClaims](t, "HS256 MapClaims", base([]string{"HS256"}, k.hmac, nil), nil),
		newDiffVerifier[jwt.RegisteredClaims](t, "HS256 RegisteredClaims", base([]string{"HS256"}, k.hmac, nil), nil),
		newDiffVerifier[diffClaims](t, "RSA", base([]string{"RS256", "PS256", "RS512"}, &k.rsa.PublicKey, nil), nil),
		newDiffVerifier[diffClaims](t, "ES256", base([]string{"ES256"}, &k.ec256.PublicKey, nil), nil),
		newDiffVerifier[diffClaims](t, "EdDSA", base([]string{"EdDSA"}, k.edPub, nil), nil),
		newDiffVerifier[diffClaims](t, "KeyFunc", base([]string{"HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"}, nil, nil), kf),
		newDiffVerifier[diffClaims](t, "KeyFunc HS256 no exp needed", base([]string{"HS256"}, nil, func(o *JWTOptions) { o.AllowMissingExpiration = true }), kf),
	}
}

// diffCorpus returns the tokens every verifier meets, by name.
func diffCorpus(t *testing.T, k *diffKeys) [][2]string {
	var out [][2]string
	add := func(name, token string) { out = append(out, [2]string{name, token}) }
	const hs = `{"alg":"HS256","typ":"JWT"}`
	good := claimsJSON()
	hs256 := func(header, claims string) string { return signRaw(t, jwt.SigningMethodHS256, k.hmac, header, claims) }

	// Every algorithm, with a kid for KeyFunc and without.
	signers := []struct {
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{jwt.SigningMethodHS256, k.hmac, "hs"},
		{jwt.SigningMethodHS384, k.otherHMAC, "hs"},
		{jwt.SigningMethodHS512, k.otherHMAC, "hs"},
		{jwt.SigningMethodRS256, k.rsa, "rs"},
		{jwt.SigningMethodRS512, k.rsa, "rs"},
		{jwt.SigningMethodPS256, k.rsa, "rs"},
		{jwt.SigningMethodES256, k.ec256, "es"},
		{jwt.SigningMethodES384, k.ec384, "es384"},
		{jwt.SigningMethodEdDSA, k.ed, "ed"},
	}
	for _, s := range signers {
		alg := s.method.Alg()
		add(alg, signRaw(t, s.method, s.key, `{"alg":"`+alg+`"}`, good))
		for _, kid := range []string{s.kid, "hs", "rs", "unknown", "down", "unknown and down", "string", "private", "set", "other"} {
			add(alg+" kid "+kid, signRaw(t, s.method, s.key, `{"alg":"`+alg+`","kid":"`+kid+`"}`, good))
		}
		add(alg+" expired", signRaw(t, s.method, s.key, `{"alg":"`+alg+`","kid":"`+s.kid+`"}`, claimsJSON("exp", at(-time.Hour))))
		add(alg+" wrong aud", signRaw(t, s.method, s.key, `{"alg":"`+alg+`","kid":"`+s.kid+`"}`, claimsJSON("aud", `"other"`)))
	}
	// An HMAC token signed with the RSA public key's bytes: algorithm
	// confusion.
	pub := k.rsa.PublicKey.N.Bytes()
	add("HS256 signed with the RSA modulus", signRaw(t, jwt.SigningMethodHS256, pub, `{"alg":"HS256","kid":"rs"}`, good))
	add("RS256 header, RS512 signature", func() string {
		signing := b64(`{"alg":"RS256"}`) + "." + b64(good)
		sig, err := jwt.SigningMethodRS512.Sign(signing, k.rsa)
		if err != nil {
			t.Fatal(err)
		}
		return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	}())
	none, err := jwt.SigningMethodNone.Sign(b64(`{"alg":"none"}`)+"."+b64(good), jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	add("alg none", b64(`{"alg":"none"}`)+"."+b64(good)+"."+base64.RawURLEncoding.EncodeToString(none))
	add("alg none, HMAC signature", hs256(`{"alg":"none"}`, good))

	// Headers.
	for _, h := range []string{
		hs, `{"alg":"HS256"}`, `{"typ":"JWT","alg":"HS256"}`, `{"alg":"HS\u0032\u00356"}`, `{"alg":"hs256"}`,
		`{"alg":"HS257"}`, `{"alg":"none"}`, `{"alg":""}`, `{}`, `{"typ":"JWT"}`, `{"alg":null}`, `{"alg":256}`,
		`{"alg":["HS256"]}`, `{"alg":{"x":"HS256"}}`, `{"ALG":"HS256"}`, `{"alg":"HS256","ALG":"none"}`,
		`{"alg":"HS256","alg":"HS256"}`, `{"alg":"HS256","kid":"hs"}`, `{"alg":"HS256","kid":"h\u0073"}`,
		`{"alg":"HS256","kid":7}`, `{"alg":"HS256","kid":null}`, `{"alg":"HS256","kid":["hs"]}`, `{"alg":"HS256","kid":""}`,
		`{"alg":"HS256","kid":"down"}`, `{"alg":"HS256","kid":"unknown"}`, `{"alg":"HS256","KID":"down"}`,
		`{"alg":"HS256","crit":["exp"],"exp":1}`, `{"alg":"HS256","crit":[]}`,
		`{"alg":"HS256","x":1e400}`, `{"alg":"HS256","x":[{"y":-1e999}]}`, `{"alg":"HS256","x":1e-400}`,
		`{"alg":"HS256","x":1.7976931348623157e308}`, `{"alg":"HS256","x":1.7976931348623159e308}`,
		`{"alg":"HS256","x":tru}`, `{"alg":"HS256","x":01}`, `{"alg":"HS256","x":1.}`, `{"alg":"HS256","x":-}`,
		`{"alg":"HS256","x":"\q"}`, "{\"alg\":\"HS256\",\"x\":\"a\tb\"}", "{\"alg\":\"HS256\",\"x\":\"\xff\"}",
		"{\"alg\":\"HS\xff256\"}", `{"alg":"HS256","x":"\ud800"}`, `{"alg":"HS256",}`, `{"alg":"HS256"} `,
		` {"alg":"HS256"}`, `{"alg":"HS256"}x`, `{"alg":"HS256"}{}`, `[]`, `null`, `"HS256"`, ``,
		`{"alg":"HS256","nested":{"a":{"b":[1,2,{"c":true}]}}}`, `{"alg":"HS256","n":{"a":1,"a":2}}`,
		`{"alg":"HS256","x":[1,2,]}`, `{"alg":"HS256","x":{"a" 1}}`, `{"alg" : "HS256" , "kid" : "hs" }`,
	} {
		add("header "+h, hs256(h, good))
	}

	// Claims.
	claims := [][]string{
		{"exp", at(-time.Hour)},
		{"exp", at(-29 * time.Second)}, {"exp", at(-30 * time.Second)}, {"exp", at(-31 * time.Second)},
		{"exp", at(-time.Second)}, {"exp", at(0)}, {"exp", at(time.Second)},
		{"exp", at(-119 * time.Second)}, {"exp", at(-121 * time.Second)},
		{"exp", ""}, {"exp", "null"}, {"exp", `"` + at(time.Hour) + `"`}, {"exp", "0"}, {"exp", "-1"},
		{"exp", at(time.Hour) + ".5"}, {"exp", "1e300"}, {"exp", "253402300799"}, {"exp", "253402300769"}, {"exp", "253402300770"},
		{"nbf", at(time.Hour)}, {"nbf", at(29 * time.Second)}, {"nbf", at(30 * time.Second)}, {"nbf", at(31 * time.Second)},
		{"nbf", ""}, {"nbf", "null"}, {"nbf", `"x"`},
		{"iat", at(time.Hour)}, {"iat", at(29 * time.Second)}, {"iat", at(31 * time.Second)}, {"iat", ""}, {"iat", "true"},
		{"exp", at(-time.Hour), "nbf", at(time.Hour)},
		{"exp", at(-time.Hour), "iss", `"other"`},
		{"exp", at(-time.Hour), "iat", at(time.Hour)},
		{"nbf", at(time.Hour), "aud", `"other"`},
		{"exp", at(-time.Hour), "role", `"user"`},
		{"nbf", at(time.Hour), "role", `"user"`},
		{"iss", `"other"`}, {"iss", ""}, {"iss", `""`}, {"iss", "null"}, {"iss", "5"}, {"iss", `"` + diffIssuer + `/"`},
		{"aud", `"other"`}, {"aud", ""}, {"aud", `[]`}, {"aud", `["other","` + diffAudience + `"]`}, {"aud", `["other"]`},
		{"aud", `[1]`}, {"aud", `5`}, {"aud", `null`}, {"aud", `[""]`}, {"aud", `"API"`},
		{"sub", ""}, {"sub", `""`}, {"sub", "7"}, {"sub", "null"}, {"sub", `"\u0062ob"`},
		{"role", `"user"`}, {"role", ""}, {"role", "5"}, {"role", "null"},
		{"jti", `"abc"`}, {"jti", "1"}, {"extra", `{"nested":[1,2,3]}`}, {"SUB", `"bob"`}, {"Role", `"root"`},
		{"big", "1e400"}, {"roles", `["a","b"]`},
	}
	for _, c := range claims {
		add("claims "+strings.Join(c, " "), hs256(hs, claimsJSON(c...)))
	}
	for _, c := range []string{`{}`, `[]`, `null`, `{"sub":"alice"}`, good + " ", good + "x", `{"sub":"alice",}`, `{"sub":"alice","sub":"bob"}`} {
		add("claims JSON "+c, hs256(hs, c))
	}

	// Segments.
	tok := hs256(hs, good)
	parts := strings.Split(tok, ".")
	forged := strings.Split(hs256(hs, claimsJSON("role", `"root"`)), ".")[1]
	otherHeader := b64(`{"alg":"HS256","typ":"JWS"}`)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, token := range map[string]string{
		"good":                  tok,
		"tampered payload":      parts[0] + "." + forged + "." + parts[2],
		"tampered header":       otherHeader + "." + parts[1] + "." + parts[2],
		"tampered signature":    parts[0] + "." + parts[1] + "." + flip(parts[2], 3),
		"signature's last char": parts[0] + "." + parts[1] + "." + flip(parts[2], len(parts[2])-1),
		"empty signature":       parts[0] + "." + parts[1] + ".",
		"signature not base64":  parts[0] + "." + parts[1] + ".!!!!",
		"signature padded":      parts[0] + "." + parts[1] + "." + parts[2] + "=",
		"signature std base64":  parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]),
		"header padded":         parts[0] + "=." + parts[1] + "." + parts[2],
		"payload padded":        parts[0] + "." + parts[1] + "==." + parts[2],
		"two segments":          parts[0] + "." + parts[1],
		"four segments":         tok + "." + parts[2],
		"empty":                 "",
		"dots":                  "..",
		"three empty":           "...",
		"oversized":             strings.Repeat("a", DefaultMaxTokenSize+1),
		"oversized signed":      hs256(hs, claimsJSON("pad", `"`+strings.Repeat("x", DefaultMaxTokenSize)+`"`)),
		"at the size limit":     hs256(hs, claimsJSON("pad", `"`+strings.Repeat("x", DefaultMaxTokenSize-250)+`"`)),
		"whitespace":            " " + tok,
		"signature of another":  parts[0] + "." + parts[1] + "." + strings.Split(hs256(hs, claimsJSON("role", `"x"`)), ".")[2],
	} {
		add("segments "+name, token)
	}
	// Non-canonical base64: the last character of each segment changed so
	// that only its unused low bits differ.
	for i := range parts {
		p := parts[i]
		last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", p[len(p)-1])
		if len(p)%4 == 0 || last < 0 {
			continue
		}
		alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		q := p[:len(p)-1] + string(alphabet[last^1])
		bent := slices.Clone(parts)
		bent[i] = q
		add(fmt.Sprintf("segment %d non-canonical", i), strings.Join(bent, "."))
	}
	// Random single-byte mutations of good tokens, fixed seed.
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
	for _, s := range []string{tok, signRaw(t, jwt.SigningMethodES256, k.ec256, `{"alg":"ES256","kid":"es"}`, good)} {
		for range 150 {
			b := []byte(s)
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
			add("mutated "+string(b), string(b))
		}
	}
	return out
}

// sameVerdict reports how got differs from want, or "" when it does not.
func sameVerdict(gp *Principal, gerr error, wp *Principal, werr error) string {
	switch {
	case werr == nil && gerr != nil:
		return fmt.Sprintf("refused (%v); the reference accepts it", gerr)
	case werr != nil && gerr == nil:
		return fmt.Sprintf("accepted; the reference refuses it (%v)", werr)
	case werr == nil:
		if gp.Subject != wp.Subject || !gp.Expires.Equal(wp.Expires) || string(gp.RawClaims) != string(wp.RawClaims) {
			return fmt.Sprintf("principal %q %v %s; the reference's %q %v %s",
				gp.Subject, gp.Expires, gp.RawClaims, wp.Subject, wp.Expires, wp.RawClaims)
		}
		if !reflect.DeepEqual(gp.Claims, wp.Claims) {
			return fmt.Sprintf("claims %+v; the reference's %+v", gp.Claims, wp.Claims)
		}
		return ""
	}
	we, wRefused := errors.AsType[*Error](werr)
	ge, gRefused := errors.AsType[*Error](gerr)
	switch {
	case wRefused != gRefused:
		return fmt.Sprintf("error %v (an *Error: %t); the reference's %v (an *Error: %t)", gerr, gRefused, werr, wRefused)
	case wRefused:
		if ge.Status != we.Status || ge.Code != we.Code || ge.Message != we.Message {
			return fmt.Sprintf("refused %d %s %q (%v); the reference %d %s %q (%v)",
				ge.Status, ge.Code, ge.Message, ge.Err, we.Status, we.Code, we.Message, we.Err)
		}
		if ge.Err == nil || ge.Status != http.StatusUnauthorized {
			return fmt.Sprintf("refusal %+v without a cause or not 401", ge)
		}
	default:
		if errors.Is(gerr, ErrAuthUnavailable) != errors.Is(werr, ErrAuthUnavailable) {
			return fmt.Sprintf("error %v; the reference's %v", gerr, werr)
		}
	}
	return ""
}

// TestJWTAgreesWithParseWithClaims: for every token of the corpus and
// every configuration, Authenticate gives the verdict of the verifier built
// on ParseWithClaims, and asks KeyFunc the same questions.
func TestJWTAgreesWithParseWithClaims(t *testing.T) {
	t.Parallel()
	k := loadDiffKeys(t)
	corpus := diffCorpus(t, k)
	accepted, refusedAs := 0, map[string]int{}
	for _, v := range diffVerifiers(t, k) {
		for _, tc := range corpus {
			*v.gotCalls, *v.wantCalls = (*v.gotCalls)[:0], (*v.wantCalls)[:0]
			gp, gerr := v.got(context.Background(), tc[1])
			wp, werr := v.want(context.Background(), tc[1])
			if diff := sameVerdict(gp, gerr, wp, werr); diff != "" {
				t.Errorf("%s, %s: %s", v.name, tc[0], diff)
			}
			if !slices.Equal(*v.gotCalls, *v.wantCalls) {
				t.Errorf("%s, %s: KeyFunc asked %v; the reference asked %v", v.name, tc[0], *v.gotCalls, *v.wantCalls)
			}
			if werr == nil {
				accepted++
			} else if e, ok := errors.AsType[*Error](werr); ok {
				refusedAs[e.Message]++
			} else {
				refusedAs["unavailable"]++
			}
		}
	}
	// The corpus reaches every verdict, or the comparison proves little.
	for _, msg := range []string{msgTokenInvalid, msgTokenExpired, msgTokenNotValidYet, msgTokenTooLarge, "unavailable"} {
		if refusedAs[msg] == 0 {
			t.Errorf("no token of the corpus is refused as %q", msg)
		}
	}
	if accepted < 20 {
		t.Errorf("only %d verdicts accept a token", accepted)
	}
	t.Logf("%d tokens, %d accepted, refusals %v", len(corpus), accepted, refusedAs)
}

// FuzzJWTAgreesWithParseWithClaims signs any header and claims JSON with
// HS256 and holds Authenticate to the reference's verdict.
func FuzzJWTAgreesWithParseWithClaims(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"alg":"HS256"}`, claimsJSON()},
		{`{"alg":"HS256","kid":"hs"}`, claimsJSON("exp", at(-time.Hour))},
		{`{"alg":"HS256","x":1e400}`, claimsJSON()},
		{`{"alg":"HS\u0032\u00356","kid":7}`, claimsJSON("aud", `["a","api"]`)},
		{`{"alg":"HS256","x":[1,{"y":2e308}]}`, claimsJSON("nbf", at(time.Hour))},
		{`{"alg":"HS256","kid":"down"}`, claimsJSON("sub", "5")},
		{`{"alg":"HS256","kid":"unknown"}`, `{"sub":"a","exp":1.5e9,"iss":"` + diffIssuer + `","aud":"api"}`},
	} {
		f.Add(seed[0], seed[1])
	}
	k, err := diffKeysOnce()
	if err != nil {
		f.Fatal(err)
	}
	now := func() time.Time { return diffNow }
	var calls []keyCall
	opts := JWTOptions{Methods: []string{"HS256"}, Issuer: diffIssuer, Audience: diffAudience, Now: now, KeyFunc: diffKeyFunc(k, &calls)}
	v, err := NewJWT[diffClaims](opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, claims string) {
		token := signRaw(t, jwt.SigningMethodHS256, k.hmac, header, claims)
		calls = calls[:0]
		gp, gerr := v.Authenticate(context.Background(), token)
		gotCalls := slices.Clone(calls)
		calls = calls[:0]
		wp, werr := referenceAuthenticate(v, opts, context.Background(), token)
		if diff := sameVerdict(gp, gerr, wp, werr); diff != "" {
			t.Fatalf("header %q, claims %q: %s", header, claims, diff)
		}
		if !slices.Equal(gotCalls, calls) {
			t.Fatalf("header %q, claims %q: KeyFunc asked %v; the reference asked %v", header, claims, gotCalls, calls)
		}
	})
}

// BenchmarkJWTAuthenticate compares Authenticate with the verifier built on
// ParseWithClaims (the reference above), for an HS256 token of registered
// claims: what decoding the token once saves.
func BenchmarkJWTAuthenticate(b *testing.B) {
	k := loadDiffKeys(b)
	opts := JWTOptions{
		Methods: []string{"HS256"}, Key: k.hmac, Issuer: diffIssuer, Audience: diffAudience,
		Now: func() time.Time { return diffNow },
	}
	v, err := NewJWT[jwt.RegisteredClaims](opts)
	if err != nil {
		b.Fatal(err)
	}
	token := signRaw(b, jwt.SigningMethodHS256, k.hmac, `{"alg":"HS256","typ":"JWT"}`,
		`{"iss":"`+diffIssuer+`","sub":"alice","aud":["`+diffAudience+`"],"exp":`+at(time.Hour)+`,"iat":`+at(-time.Minute)+`}`)
	for _, impl := range []struct {
		name string
		auth authenticator
	}{
		{"Authenticate", v.Authenticate},
		{"ParseWithClaims", func(ctx context.Context, token string) (*Principal, error) {
			return referenceAuthenticate(v, opts, ctx, token)
		}},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.auth(context.Background(), token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
