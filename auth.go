package wsgate

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Authenticator verifies a connection's token and says who it belongs to.
//
// The gateway calls Authenticate once per handshake, before the upgrade, with
// a ctx that carries the handshake deadline, and again when a connected
// client refreshes its token in band. An implementation must be safe for
// concurrent use.
//
// Authenticate tells a bad token from its own failure by the error's type:
//
//   - An *Error (or an error wrapping one) refuses the token: its message
//     and code reach the client, with HTTP 401 during the handshake
//     whatever its Status, and a client should drop or renew the token.
//     The message must leak nothing about the token or the keys.
//   - Any other error means the authenticator could not decide (its
//     database or key server is down): the client is answered 503
//     "authentication unavailable" with Retry-After during the handshake,
//     and UNAVAILABLE to a $refresh, so that it retries later instead of
//     concluding that its token is bad. The error is logged at Error level
//     and its text never reaches the client. An error wrapping
//     ErrAuthUnavailable is such a failure even if it also wraps an *Error.
//
// A token it accepts must yield a principal with a non-empty Subject:
// per-subject limits and $refresh key on it, and the gateway refuses a
// principal without one (and one whose Expires lies past year 9999, which
// cannot be written as an RFC 3339 time).
//
// Authenticate should honour ctx. The handshake is answered 503 at
// ConnectTimeout whatever it does, but an implementation that ignores ctx
// keeps its goroutine until it returns; during a $refresh it holds its
// connection's events meanwhile.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*Principal, error)
}

// ErrAuthUnavailable is wrapped by the error an Authenticator returns when
// it could not verify a token for a reason that is not the token's fault:
// JWT's KeyFunc failed to fetch keys, say. The gateway answers such an error
// 503 "authentication unavailable" (UNAVAILABLE after the upgrade), never
// 401, so that clients retry rather than discard a good token. A custom
// Authenticator may wrap it, though any error that is not an *Error is
// treated the same way.
var ErrAuthUnavailable = errors.New("wsgate: authentication unavailable")

// ErrUnknownKey is what JWTOptions.KeyFunc returns, or wraps, when it has no
// key for the token's kid and alg: the token is refused with 401 "invalid
// token". Any other error from KeyFunc means the keys could not be had at
// all, and the verifier returns an error wrapping ErrAuthUnavailable.
var ErrUnknownKey = errors.New("wsgate: no key for the token's kid")

// AuthenticatorFunc adapts an ordinary function to an Authenticator, the way
// http.HandlerFunc adapts one to an http.Handler.
type AuthenticatorFunc func(ctx context.Context, token string) (*Principal, error)

// Authenticate calls f(ctx, token).
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (*Principal, error) {
	return f(ctx, token)
}

const (
	// DefaultLeeway is the clock skew JWT accepts when JWTOptions.Leeway
	// is zero. It applies to exp, nbf and iat, and is added to the token's
	// expiry in Principal.Expires.
	DefaultLeeway = 30 * time.Second

	// DefaultMaxTokenSize is the size in bytes over which JWT refuses a
	// token without parsing it, when JWTOptions.MaxTokenSize is zero.
	DefaultMaxTokenSize = 8 << 10
)

const (
	// minHMACKeySize is the shortest HMAC secret accepted: 256 bits, the
	// output size of HS256.
	minHMACKeySize = 32
	// minRSAKeyBits is the smallest RSA modulus accepted.
	minRSAKeyBits = 2048
)

// Messages a client sees for a refused token. They name the kind of failure
// a well-behaved client can act on (refresh an expired token, fix a clock)
// and nothing else.
const (
	msgTokenTooLarge    = "token too large"
	msgTokenExpired     = "token expired"
	msgTokenNotValidYet = "token not valid yet"
	msgTokenInvalid     = "invalid token"
)

// errMissingSubject is the cause logged for a verified token without "sub".
var errMissingSubject = fmt.Errorf("%w: sub", jwt.ErrTokenRequiredClaimMissing)

// JWTOptions configures NewJWT. Its zero value is not usable: Methods, one
// of Key and KeyFunc, and an issuer and an audience (or an explicit waiver
// of each) are required, because golang-jwt silently skips every check whose
// option is left empty.
type JWTOptions struct {
	// Methods is the exact list of "alg" values accepted, such as
	// []string{"HS256"} or []string{"RS256", "PS256"}. Tokens with any
	// other alg are refused before a key is looked up. "none" is refused
	// at construction, as is an unknown name. Supported: HS256, HS384,
	// HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384,
	// ES512 and EdDSA.
	Methods []string

	// Key is the static verification key. Its type must fit every method
	// in Methods, which rules out mixing algorithm families with one key
	// (and with it algorithm confusion, such as an RSA public key used as
	// an HS256 secret):
	//
	//	[]byte            HS256, HS384, HS512 (at least 32 bytes)
	//	*rsa.PublicKey    RS256 … PS512 (at least 2048 bits)
	//	*ecdsa.PublicKey  ES256 (P-256), ES384 (P-384), ES512 (P-521)
	//	ed25519.PublicKey EdDSA
	//
	// A []byte key is copied, so later changes to the slice have no effect.
	// Exactly one of Key and KeyFunc must be set.
	Key any

	// KeyFunc returns the verification key for a token, for key rotation.
	// It is called after the token's alg has been checked against Methods
	// and before its signature is verified, with the ctx given to
	// Authenticate, the token's "kid" header ("" when absent) and its alg.
	// kid comes from an unverified token: treat it as untrusted input, a
	// lookup key and nothing more. The returned key is checked as Key is
	// (its type must fit alg); a key of the wrong type refuses the token as
	// "invalid token".
	//
	// Its error says whose fault a failure is. When there is no key for kid
	// and alg, KeyFunc returns ErrUnknownKey, or an error wrapping it: the
	// token is refused with 401 "invalid token". Any other error means the
	// keys could not be looked up (a key server that is down, a timeout):
	// Authenticate then returns an error wrapping ErrAuthUnavailable and
	// KeyFunc's error, and the gateway answers 503 with Retry-After rather
	// than telling the client its token is bad. Either way KeyFunc's error
	// is kept for logs and never reaches the client.
	KeyFunc func(ctx context.Context, kid, alg string) (any, error)

	// Issuer is the required "iss" claim. It must be set unless
	// AllowAnyIssuer is true: an empty issuer would silently turn the
	// check off.
	Issuer string
	// AllowAnyIssuer accepts tokens from any issuer, or none. It cannot be
	// combined with Issuer.
	AllowAnyIssuer bool

	// Audience is the audience that the "aud" claim must contain. It must
	// be set unless AllowAnyAudience is true, for the same reason as
	// Issuer.
	Audience string
	// AllowAnyAudience accepts tokens for any audience, or none. It cannot
	// be combined with Audience.
	AllowAnyAudience bool

	// Leeway is the clock skew allowed when checking exp, nbf and iat. It
	// is also added to the token's expiry in Principal.Expires. Zero means
	// DefaultLeeway; a negative value means none.
	Leeway time.Duration

	// AllowMissingExpiration accepts tokens without an "exp" claim; their
	// principal never expires. By default "exp" is required.
	AllowMissingExpiration bool

	// MaxTokenSize is the size in bytes over which a token is refused
	// before it is parsed: its header and claims are JSON-decoded before
	// the signature is checked, so an unbounded token is unbounded work
	// for anyone. Zero means DefaultMaxTokenSize.
	MaxTokenSize int

	// Now is the clock used to check exp, nbf and iat. Nil means time.Now.
	// It exists for tests. It must not block: with a static Key the
	// gateway verifies tokens on the handshake's own goroutine, where
	// ConnectTimeout cannot interrupt it.
	Now func() time.Time
}

// JWT is an Authenticator that verifies JSON Web Tokens with
// github.com/golang-jwt/jwt/v5, stricter than that library's defaults: an
// exact list of algorithms, key types checked against them, exp, iss and
// aud required unless waived, iat checked, strict base64, and a size cap
// before any parsing.
//
// The claims are decoded into T, usually a struct embedding
// jwt.RegisteredClaims; PT is *T and is inferred. A verified token must have
// a non-empty "sub" claim, because per-subject limits and token refreshes
// key on it.
//
// Claim names match exactly. encoding/json, which decodes the claims into
// T, matches a JSON name to a struct field without regard to case and keeps
// the last of duplicate names, so {"sub":"alice","SUB":"bob"} would decode
// as bob while any other reader of the token sees alice. Before that
// decoding, JWT therefore refuses as "invalid token":
//
//   - a name present twice in one object, at any depth, in the claims or
//     in the header;
//   - a name that differs only in case (Unicode case folding, as
//     encoding/json applies it) from a registered claim name (iss, sub,
//     aud, exp, nbf, iat, jti) or from the JSON name of a field of T,
//     including the fields of T's nested structs. Such a member is refused
//     rather than ignored, since some other component would read it.
//
// Names that match nothing in T, in any case, are left alone: T ignores
// them and Principal.Claim reads names exactly.
//
// The token must also conform to RFC 7515 and RFC 7519 where golang-jwt is
// lenient, or the token is "invalid token":
//
//   - a "crit" header is refused: JWT implements no JWS extension, so every
//     extension a token marks critical is one it does not understand (and
//     an empty or malformed "crit" is malformed);
//   - exp, nbf and iat must be JSON numbers (a NumericDate; golang-jwt
//     would accept "exp":"1796150000") between 0 and the end of year 9999,
//     and exp plus Leeway must not pass the end of year 9999: larger values
//     overflow golang-jwt's conversion, and an expiry that cannot be
//     written as an RFC 3339 time could not be acknowledged to a $refresh.
//
// Every refusal of the token is an *Error with Status 401, Code
// CodeUnauthorized and one of the messages "token too large", "token
// expired", "token not valid yet" or "invalid token"; its Err holds the
// cause, for logs. The one failure that is not the token's fault, a KeyFunc
// that could not fetch keys, is an error wrapping ErrAuthUnavailable
// instead (see JWTOptions.KeyFunc).
//
// A JWT is safe for concurrent use.
type JWT[T any, PT interface {
	*T
	jwt.Claims
}] struct {
	methods []string
	key     any
	keyFunc func(ctx context.Context, kid, alg string) (any, error)
	// parser decodes base64url segments as strictly as golang-jwt's
	// WithStrictDecoding; validator checks the registered claims.
	parser    *jwt.Parser
	validator *jwt.Validator
	leeway    time.Duration
	maxSize   int
	// claims describes the JSON names T decodes, for the exact-name check.
	claims *jsonShape
}

// NewJWT checks opts and returns a verifier for tokens whose claims decode
// into T:
//
//	v, err := wsgate.NewJWT[AppClaims](opts)
//
// It refuses, with an error that says why, a configuration that golang-jwt
// would accept but that weakens verification: no Methods, "none" or an
// unknown method, both or neither of Key and KeyFunc, an HMAC key shorter
// than 32 bytes (an empty key verifies anything), a key whose type does not
// fit every method, and an empty Issuer or Audience that is not explicitly
// waived.
func NewJWT[T any, PT interface {
	*T
	jwt.Claims
}](opts JWTOptions) (*JWT[T, PT], error) {
	if len(opts.Methods) == 0 {
		return nil, errors.New(`wsgate: JWTOptions.Methods is empty: list the accepted algorithms, such as []string{"HS256"}`)
	}
	for _, alg := range opts.Methods {
		if strings.EqualFold(alg, "none") {
			return nil, errors.New(`wsgate: JWTOptions.Methods contains "none": unsigned tokens are never accepted`)
		}
		if _, ok := algFamily(alg); !ok {
			return nil, fmt.Errorf("wsgate: JWTOptions.Methods contains unknown algorithm %q", alg)
		}
	}
	switch {
	case opts.Key != nil && opts.KeyFunc != nil:
		return nil, errors.New("wsgate: JWTOptions sets both Key and KeyFunc: set exactly one")
	case opts.Key == nil && opts.KeyFunc == nil:
		return nil, errors.New("wsgate: JWTOptions sets neither Key nor KeyFunc: set exactly one")
	}
	key := opts.Key
	if key != nil {
		if hint := keyHint(key); hint != "" {
			return nil, errors.New("wsgate: JWTOptions.Key: " + hint)
		}
		for _, alg := range opts.Methods {
			if err := checkKey(alg, key); err != nil {
				return nil, fmt.Errorf("wsgate: JWTOptions.Key: %w (one static key cannot serve several algorithm families; use KeyFunc)", err)
			}
		}
		switch k := key.(type) {
		case []byte:
			key = slices.Clone(k)
		case ed25519.PublicKey:
			key = slices.Clone(k)
		}
	}
	switch {
	case opts.Issuer == "" && !opts.AllowAnyIssuer:
		return nil, errors.New("wsgate: JWTOptions.Issuer is empty: set it, or set AllowAnyIssuer to accept any issuer")
	case opts.Issuer != "" && opts.AllowAnyIssuer:
		return nil, errors.New("wsgate: JWTOptions sets both Issuer and AllowAnyIssuer: set one")
	case opts.Audience == "" && !opts.AllowAnyAudience:
		return nil, errors.New("wsgate: JWTOptions.Audience is empty: set it, or set AllowAnyAudience to accept any audience")
	case opts.Audience != "" && opts.AllowAnyAudience:
		return nil, errors.New("wsgate: JWTOptions sets both Audience and AllowAnyAudience: set one")
	case opts.MaxTokenSize < 0:
		return nil, errors.New("wsgate: JWTOptions.MaxTokenSize is negative")
	}

	leeway := opts.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	maxSize := opts.MaxTokenSize
	if maxSize == 0 {
		maxSize = DefaultMaxTokenSize
	}
	methods := slices.Clone(opts.Methods)

	return &JWT[T, PT]{
		methods:   methods,
		key:       key,
		keyFunc:   opts.KeyFunc,
		parser:    jwt.NewParser(jwt.WithStrictDecoding()),
		validator: jwt.NewValidator(validationOptions(opts, leeway)...),
		leeway:    leeway,
		maxSize:   maxSize,
		claims:    claimsShape(reflect.TypeFor[T]()),
	}, nil
}

// validationOptions are the golang-jwt options that check a token's
// registered claims for opts, leeway being the one in force.
func validationOptions(opts JWTOptions, leeway time.Duration) []jwt.ParserOption {
	vopts := []jwt.ParserOption{
		jwt.WithLeeway(leeway),
		jwt.WithIssuedAt(),
	}
	if !opts.AllowMissingExpiration {
		vopts = append(vopts, jwt.WithExpirationRequired())
	}
	if opts.Issuer != "" {
		vopts = append(vopts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		vopts = append(vopts, jwt.WithAudience(opts.Audience))
	}
	if opts.Now != nil {
		vopts = append(vopts, jwt.WithTimeFunc(opts.Now))
	}
	return vopts
}

// Authenticate verifies token and returns its principal: Subject is the
// "sub" claim, Expires the "exp" claim plus the leeway (zero without exp),
// Claims the decoded *T and RawClaims the claims JSON exactly as signed.
//
// A token over the size limit is refused before it is parsed, and one whose
// JSON is ambiguous or not conforming (see JWT) before its signature is
// checked. Claims are checked only once the signature is verified, so
// "token expired" and "token not valid yet" are said only of genuine tokens
// whose sole fault is their time window; every other refusal is "invalid
// token". A KeyFunc that fails with another error than ErrUnknownKey is no
// refusal: the error returned then wraps ErrAuthUnavailable.
//
// The steps are golang-jwt's Parser.ParseWithClaims, in its order, each done
// by golang-jwt's public API: strict base64url (Parser.DecodeSegment), the
// claims decoded into T by encoding/json (with golang-jwt's NumericDate and
// ClaimStrings), the alg looked up with GetSigningMethod and checked against
// Methods before any key is looked up, the signature checked by the
// method's own Verify, and the claims by a Validator with the options
// ParseWithClaims would use. What it saves is the token's second decoding:
// inspect has already decoded the header and the claims and walked their
// JSON, so the header is read from that walk instead of into a map, and
// the claims are decoded once. A differential test holds it to
// ParseWithClaims' verdicts.
func (v *JWT[T, PT]) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if len(token) > v.maxSize {
		return nil, tokenError(msgTokenTooLarge,
			fmt.Errorf("wsgate: token of %d bytes is over the %d-byte limit", len(token), v.maxSize))
	}
	tok, err := v.inspect(token)
	if err != nil {
		return nil, tokenError(msgTokenInvalid, err)
	}
	// Decoding is not trusting: nothing read from the claims is used
	// before the signature is verified. golang-jwt decodes them at this
	// point too, so a token whose claims do not fit T is refused before
	// KeyFunc is asked for a key.
	claims := PT(new(T))
	if err := json.Unmarshal(tok.claims, claims); err != nil {
		return nil, tokenError(msgTokenInvalid, fmt.Errorf("%w: could not JSON decode claim: %w", jwt.ErrTokenMalformed, err))
	}
	method, err := v.method(tok.alg)
	if err != nil {
		return nil, tokenError(msgTokenInvalid, err)
	}
	sig, err := v.parser.DecodeSegment(tok.signature)
	if err != nil {
		return nil, tokenError(msgTokenInvalid, fmt.Errorf("%w: could not base64 decode signature: %w", jwt.ErrTokenMalformed, err))
	}
	key, err := v.lookupKey(ctx, method, tok.kid)
	if err != nil {
		return nil, err
	}
	if err := method.Verify(token[:tok.signed], sig, key); err != nil {
		return nil, tokenError(msgTokenInvalid, fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, err))
	}
	if err := v.validator.Validate(claims); err != nil {
		return nil, classifyTokenError(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return nil, tokenError(msgTokenInvalid, err)
	}
	if sub == "" {
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
	return &Principal{Subject: sub, Expires: expires, Claims: claims, RawClaims: tok.claims}, nil
}

// bounded reports whether Authenticate never waits, which is so with a
// static Key: its work is then bounded by MaxTokenSize, and the gateway
// runs it on the handshake's goroutine (see Gateway.verify). A KeyFunc may
// wait on a key server.
func (v *JWT[T, PT]) bounded() bool { return v.keyFunc == nil }

// Causes of refusals found by inspect, kept for logs.
var (
	errTokenSegments  = fmt.Errorf("%w: not three segments", jwt.ErrTokenMalformed)
	errCritHeader     = fmt.Errorf("%w: crit header: no JWS extension is supported", jwt.ErrTokenUnverifiable)
	errNumericDate    = fmt.Errorf("%w: not a JSON number", jwt.ErrTokenInvalidClaims)
	errNumericDateOut = fmt.Errorf("%w: outside the years 1970 to 9999", jwt.ErrTokenInvalidClaims)
	errNoAlg          = fmt.Errorf("%w: signing method (alg) is unspecified", jwt.ErrTokenUnverifiable)
	errUnknownAlg     = fmt.Errorf("%w: signing method (alg) is unavailable", jwt.ErrTokenUnverifiable)
	errAlgNotAllowed  = fmt.Errorf("%w: signing method is not one of Methods", jwt.ErrTokenSignatureInvalid)
	errKidNotString   = fmt.Errorf("%w: kid header is not a string", jwt.ErrTokenUnverifiable)
)

// maxNumericDate is 9999-12-31T23:59:59Z in seconds since the epoch: the
// last second RFC 3339 can write.
const maxNumericDate = 253402300799

// inspectedToken is what inspect read of a token: its pieces, and the
// header parameters verification needs.
type inspectedToken struct {
	claims    []byte    // the claims JSON exactly as signed
	signature string    // the signature segment, still base64url
	signed    int       // the length of the signing input, header.claims
	alg       jsonValue // the "alg" parameter (kind 0 when absent)
	kid       jsonValue // the "kid" parameter (kind 0 when absent)
}

// inspect checks what golang-jwt does not before the claims are decoded,
// and returns the token's pieces. It decodes the header and the claims the
// way golang-jwt's parser does (strict base64url) and walks their JSON: no
// duplicate names, no "crit" header, no claim name that differs only in
// case from a name T decodes, and exp, nbf and iat JSON numbers within
// range. The header must also be what golang-jwt's parser decodes (see
// readHeader). All of it is refused alike, before the signature is
// checked, as "invalid token"; the work is bounded by the token size limit.
func (v *JWT[T, PT]) inspect(token string) (inspectedToken, error) {
	header, rest, ok := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return inspectedToken{}, errTokenSegments
	}
	tok := inspectedToken{signature: sig, signed: len(header) + 1 + len(payload)}
	hb, err := v.parser.DecodeSegment(header)
	if err != nil {
		return inspectedToken{}, fmt.Errorf("%w: header: %w", jwt.ErrTokenMalformed, err)
	}
	if err := readHeader(hb, &tok); err != nil {
		return inspectedToken{}, fmt.Errorf("header: %w", err)
	}
	tok.claims, err = v.parser.DecodeSegment(payload)
	if err != nil {
		return inspectedToken{}, fmt.Errorf("%w: claims: %w", jwt.ErrTokenMalformed, err)
	}
	if err := checkJSONObject(tok.claims, v.claims, v.checkClaim); err != nil {
		return inspectedToken{}, fmt.Errorf("claims: %w", err)
	}
	return tok, nil
}

// readHeader walks the JOSE header hb, refusing a "crit" parameter (RFC
// 7515, section 4.1.11) and the JSON checkJSONObject refuses, and records
// "alg" and "kid" in tok. A recipient must refuse a token that marks as
// critical an extension it does not understand, and a "crit" that is empty
// or not a list of names is malformed: JWT understands no extension, so any
// "crit" is one or the other.
//
// It accepts exactly the headers golang-jwt's parser decodes, which
// json.Unmarshal into a map[string]any: valid JSON (json.Valid) whose
// numbers all fit a float64.
func readHeader(hb []byte, tok *inspectedToken) error {
	err := scanJSONObject(hb, nil, func(name string, value jsonValue) error {
		switch name {
		case "crit":
			return errCritHeader
		case "alg":
			tok.alg = value
		case "kid":
			tok.kid = value
		}
		return nil
	}, true)
	if err != nil {
		return err
	}
	if !json.Valid(hb) {
		return errBadJSON
	}
	return nil
}

// checkClaim checks the value of the top-level claim name: exp, nbf and
// iat must be NumericDates that golang-jwt converts without overflow and
// whose time (plus the leeway, for exp) RFC 3339 can write.
func (v *JWT[T, PT]) checkClaim(name string, value jsonValue) error {
	switch name {
	case "exp", "nbf", "iat":
	default:
		return nil
	}
	if !value.isNumber() {
		return fmt.Errorf("%s: %w", name, errNumericDate)
	}
	secs, err := strconv.ParseFloat(value.text, 64)
	limit := float64(maxNumericDate)
	if name == "exp" {
		limit -= v.leeway.Seconds()
	}
	if err != nil || secs < 0 || secs > limit {
		return fmt.Errorf("%s: %w", name, errNumericDateOut)
	}
	return nil
}

// method returns the signing method of a token's "alg" header: a string
// that golang-jwt's registry knows, whose method is one of Methods (its
// Alg compared exactly, as golang-jwt's WithValidMethods does) and of the
// implementation the algorithm's family expects, since any imported
// package can register a method.
func (v *JWT[T, PT]) method(alg jsonValue) (jwt.SigningMethod, error) {
	name, ok := alg.str()
	if !ok {
		return nil, errNoAlg
	}
	m := jwt.GetSigningMethod(name)
	if m == nil {
		return nil, errUnknownAlg
	}
	if !slices.Contains(v.methods, m.Alg()) {
		return nil, errAlgNotAllowed
	}
	fam, _ := algFamily(m.Alg())
	if !methodFits(m, fam) {
		return nil, fmt.Errorf("%w: %s is registered with an unexpected implementation %T", jwt.ErrTokenUnverifiable, m.Alg(), m)
	}
	return m, nil
}

// lookupKey returns the key that verifies a token signed with m: the
// static Key, or KeyFunc's answer for the token's kid, either checked to
// fit m's algorithm. It runs after the alg has been checked against
// Methods and before the signature is verified, so everything it reads
// from the token is untrusted. Its error is Authenticate's: an *Error that
// refuses the token, or, when KeyFunc fails for another reason than
// ErrUnknownKey, an error wrapping ErrAuthUnavailable and KeyFunc's.
func (v *JWT[T, PT]) lookupKey(ctx context.Context, m jwt.SigningMethod, kidValue jsonValue) (any, error) {
	alg := m.Alg()
	key := v.key
	if v.keyFunc != nil {
		kid := ""
		if kidValue.kind != 0 {
			s, ok := kidValue.str()
			if !ok {
				return nil, tokenError(msgTokenInvalid, errKidNotString)
			}
			kid = s
		}
		k, err := v.keyFunc(ctx, kid, alg)
		if err != nil {
			if !errors.Is(err, ErrUnknownKey) {
				return nil, fmt.Errorf("%w: KeyFunc: %w", ErrAuthUnavailable, err)
			}
			return nil, tokenError(msgTokenInvalid, fmt.Errorf("%w: KeyFunc: %w", jwt.ErrTokenUnverifiable, err))
		}
		key = k
	}
	if err := checkKey(alg, key); err != nil {
		return nil, tokenError(msgTokenInvalid, fmt.Errorf("%w: wsgate: %w", jwt.ErrTokenUnverifiable, err))
	}
	return key, nil
}

// tokenError is the error every refusal of a token is.
func tokenError(msg string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg, Err: cause}
}

// classifyTokenError turns a golang-jwt error into the client's answer.
// golang-jwt validates claims only after the signature, and joins every
// failed claim check into one error; "expired" or "not valid yet" is said
// only when that is the one thing wrong.
func classifyTokenError(err error) *Error {
	if !errors.Is(err, jwt.ErrTokenInvalidClaims) {
		return tokenError(msgTokenInvalid, err)
	}
	var expired, early, other bool
	walkErrors(err, func(leaf error) {
		switch leaf {
		case jwt.ErrTokenInvalidClaims:
		case jwt.ErrTokenExpired:
			expired = true
		case jwt.ErrTokenNotValidYet:
			early = true
		default:
			other = true
		}
	})
	switch {
	case other || expired == early:
		return tokenError(msgTokenInvalid, err)
	case expired:
		return tokenError(msgTokenExpired, err)
	default:
		return tokenError(msgTokenNotValidYet, err)
	}
}

// walkErrors calls f for every error in err's tree that wraps nothing.
func walkErrors(err error, f func(error)) {
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, f)
		}
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			walkErrors(inner, f)
			return
		}
		f(err)
	default:
		if err != nil {
			f(err)
		}
	}
}

// keyFamily is a kind of verification key.
type keyFamily int

const (
	familyHMAC keyFamily = iota + 1
	familyRSA
	familyECDSA
	familyEdDSA
)

// algFamily reports the key family alg needs, and whether alg is supported.
// It is a switch rather than a lookup in golang-jwt's registry, which any
// imported package can change.
func algFamily(alg string) (keyFamily, bool) {
	switch alg {
	case "HS256", "HS384", "HS512":
		return familyHMAC, true
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return familyRSA, true
	case "ES256", "ES384", "ES512":
		return familyECDSA, true
	case "EdDSA":
		return familyEdDSA, true
	}
	return 0, false
}

// methodFits reports whether the signing method golang-jwt picked for a
// token is the implementation family expects.
func methodFits(m jwt.SigningMethod, fam keyFamily) bool {
	switch m.(type) {
	case *jwt.SigningMethodHMAC:
		return fam == familyHMAC
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		return fam == familyRSA
	case *jwt.SigningMethodECDSA:
		return fam == familyECDSA
	case *jwt.SigningMethodEd25519:
		return fam == familyEdDSA
	}
	return false
}

// ecdsaCurve is the curve an ES* algorithm is defined over.
func ecdsaCurve(alg string) elliptic.Curve {
	switch alg {
	case "ES256":
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	case "ES512":
		return elliptic.P521()
	}
	return nil
}

// checkKey reports why key cannot verify alg, or nil when it can. Its
// messages name types and sizes, never key material.
func checkKey(alg string, key any) error {
	fam, ok := algFamily(alg)
	if !ok {
		return fmt.Errorf("unknown algorithm %q", alg)
	}
	switch fam {
	case familyHMAC:
		k, ok := key.([]byte)
		if !ok {
			return fmt.Errorf("%s needs a []byte secret, not %T", alg, key)
		}
		if len(k) < minHMACKeySize {
			return fmt.Errorf("%s secret is %d bytes; at least %d are required", alg, len(k), minHMACKeySize)
		}
	case familyRSA:
		k, ok := key.(*rsa.PublicKey)
		if !ok || k == nil {
			return fmt.Errorf("%s needs an *rsa.PublicKey, not %T", alg, key)
		}
		if k.N == nil || k.N.BitLen() < minRSAKeyBits {
			return fmt.Errorf("%s key is under %d bits", alg, minRSAKeyBits)
		}
	case familyECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k == nil {
			return fmt.Errorf("%s needs an *ecdsa.PublicKey, not %T", alg, key)
		}
		if want := ecdsaCurve(alg); k.Curve == nil || k.Curve != want {
			return fmt.Errorf("%s needs a key on %s", alg, want.Params().Name)
		}
	case familyEdDSA:
		k, ok := key.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("%s needs an ed25519.PublicKey, not %T", alg, key)
		}
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%s key is %d bytes, not %d", alg, len(k), ed25519.PublicKeySize)
		}
	}
	return nil
}

// keyHint explains the usual mistakes in a static key: a private key where
// the public one belongs, or an HMAC secret as a string.
func keyHint(key any) string {
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return fmt.Sprintf("%T is a private key; pass its public key (the Public method)", key)
	case string:
		return "an HMAC secret must be a []byte, not a string"
	}
	return ""
}
