package wsgate

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate/internal/wsio"
)

// Refusals of the handshake. Each is an *Error whose Status is the HTTP
// answer; none says more than a client needs.
var (
	errOriginNotAllowed = &Error{Status: http.StatusForbidden, Code: CodeOriginNotAllowed, Message: "origin not allowed"}
	errOriginRequired   = &Error{Status: http.StatusForbidden, Code: CodeOriginNotAllowed, Message: "origin required"}
	errMissingToken     = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "missing token"}
	errInvalidToken     = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "invalid token"}
	errDuplicateToken   = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "ambiguous token"}
	errAuthUnavailable  = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "authentication unavailable"}
	errShuttingDown     = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "shutting down"}
	errHandshakeTimeout = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "handshake timed out"}
	errBadHandshake     = &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "bad WebSocket handshake"}
	errUpgradeRequired  = &Error{Status: http.StatusUpgradeRequired, Code: CodeUpgradeRequired, Message: "WebSocket upgrade required"}
)

// retryAfterSeconds is sent with every 503 and 429.
const retryAfterSeconds = "5"

// bodyDrainTime bounds how long net/http may go on reading the body of a
// request after the gateway has answered it without upgrading, before it
// closes the connection. The answer itself never waits for the body; what
// of it has arrived meanwhile is read so that closing does not reset the
// connection under the answer.
const bodyDrainTime = time.Second

// ignoreBody makes sure the answer to r does not wait for a request body:
// the gateway never reads one. By default net/http reads what is left of
// an unread body before it writes an answer (up to 256 KiB, to keep the
// connection alive) and again after the handler returns, so a client that
// announces a body and never sends it would hold the answer and the
// connection until the server's ReadTimeout, or forever without one. For
// an HTTP/1 request that carries a body, ignoreBody asks for the
// connection to be closed after the answer ("Connection: close", which
// skips the first read) and bounds the second by bodyDrainTime. Requests
// without a body keep their connection alive; HTTP/2 streams need neither.
func ignoreBody(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 || r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	// Not every ResponseWriter supports deadlines (an in-memory test
	// server, a wrapping middleware): then the first point still holds.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyDrainTime))
}

// checkOrigin applies the origin policy to any request that carries an
// Origin, before any credential is read. It returns the origin ("" when
// absent and allowed to be). A request that opens a connection (connecting)
// must carry one unless AllowMissingOrigin is set; any other request (a
// CORS request, a plain GET) may go without.
func (g *Gateway) checkOrigin(r *http.Request, connecting bool) (string, error) {
	values := r.Header.Values("Origin")
	switch {
	case len(values) > 1:
		return "", errOriginNotAllowed
	case len(values) == 0:
		if connecting && !g.opts.AllowMissingOrigin {
			return "", errOriginRequired
		}
		return "", nil
	case !g.origins.allowed(values[0]):
		return "", errOriginNotAllowed
	}
	return values[0], nil
}

// verify authenticates the request and runs the connect guards within
// ConnectTimeout. They run on a goroutine of their own, so that an
// authenticator or guard that ignores its context still cannot hold the
// client past the deadline: the client is answered 503 then, and the late
// result is dropped when it comes. Only when there is no connect guard and
// the authenticator and the token sources are the package's own whose work
// is bounded and never waits (a JWT with a static Key and the TokenSource
// constructors: see boundedAuthenticator) does verify run them on
// the caller's goroutine, which saves the goroutine, its channel, its timer
// and the growth of a fresh stack on every handshake.
func (g *Gateway) verify(r *http.Request, origin string) (*Principal, error) {
	return g.verifyToken(r, origin, "")
}

// boundedAuthenticator is an Authenticator that never waits and whose work
// is bounded by the size of the token: it cannot hold a handshake past
// ConnectTimeout, so the gateway may run it inline. Only the gateway's own
// implementations can say so.
type boundedAuthenticator interface {
	Authenticator
	bounded() bool
}

// inlineAuthentication reports whether verify may run authentication on
// the handshake's own goroutine (see verify).
func (g *Gateway) inlineAuthentication() bool {
	if len(g.opts.ConnectGuards) > 0 {
		return false
	}
	if g.opts.Authenticator == nil {
		return true
	}
	if b, ok := g.opts.Authenticator.(boundedAuthenticator); !ok || !b.bounded() {
		return false
	}
	for _, src := range g.opts.TokenSources {
		if !src.bounded() {
			return false
		}
	}
	return true
}

// verifyToken is verify with the token a front end read itself (see
// Admit); "" means the gateway's TokenSources.
func (g *Gateway) verifyToken(r *http.Request, origin, token string) (*Principal, error) {
	if g.inline {
		return g.verifyInline(r, origin, token)
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.ConnectTimeout)
	defer cancel()
	type verdict struct {
		p   *Principal
		err error
	}
	done := make(chan verdict, 1)
	go func() {
		var v verdict
		if perr := protect(func() error {
			v.p, v.err = g.authenticate(ctx, r, origin, token)
			if v.err == nil {
				v.err = g.runConnectGuards(ctx, r, v.p)
			}
			return nil
		}); perr != nil {
			g.log.Error("wsgate: authenticator panicked", slog.Any("error", perr))
			v = verdict{err: errInternal}
		}
		done <- v
	}()
	select {
	case v := <-done:
		if v.err == nil && ctx.Err() != nil {
			return nil, errHandshakeTimeout
		}
		return v.p, v.err
	case <-ctx.Done():
		return nil, errHandshakeTimeout
	}
}

// verifyInline is verifyToken for an authenticator that never waits (see
// verify): the same answers, without a goroutine. The request's context is
// the authenticator's, and the deadline is checked when it returns, as
// verifyToken checks it for a result that comes in time.
func (g *Gateway) verifyInline(r *http.Request, origin, token string) (*Principal, error) {
	start := time.Now()
	var p *Principal
	var err error
	if perr := protect(func() error {
		p, err = g.authenticate(r.Context(), r, origin, token)
		return nil
	}); perr != nil {
		g.log.Error("wsgate: authenticator panicked", slog.Any("error", perr))
		return nil, errInternal
	}
	if err == nil && (r.Context().Err() != nil || time.Since(start) >= g.opts.ConnectTimeout) {
		return nil, errHandshakeTimeout
	}
	return p, err
}

// authenticate finds the token (or takes the one a front end passed) and
// verifies it. It returns a nil principal for an anonymous connection.
func (g *Gateway) authenticate(ctx context.Context, r *http.Request, origin, frontToken string) (*Principal, error) {
	if g.opts.Authenticator == nil {
		return nil, nil
	}
	token, src, err := frontToken, frontEndToken, error(nil)
	if frontToken == "" {
		token, src, err = g.findToken(r)
	}
	return g.verifyFound(ctx, origin, token, src, err)
}

// verifyFound is authenticate once the token is found: token from src, or
// findErr, the error of the search.
func (g *Gateway) verifyFound(ctx context.Context, origin, token string, src TokenSource, findErr error) (*Principal, error) {
	switch err := findErr; {
	case errors.Is(err, ErrNoToken):
		if g.opts.AllowAnonymous {
			return nil, nil
		}
		return nil, errMissingToken
	case errors.Is(err, ErrDuplicateCookie):
		return nil, errDuplicateToken
	case err != nil:
		return nil, errInvalidToken
	}
	if src.Ambient && origin == "" {
		// A cookie rides along with any request a browser makes; only
		// an allowed Origin proves the page asking is ours.
		return nil, errOriginRequired
	}
	p, err := g.opts.Authenticator.Authenticate(ctx, token)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errHandshakeTimeout
		}
		return nil, g.authFailure(err, slog.String("source", src.Name))
	}
	if fault := principalFault(p); fault != "" {
		g.log.Error("wsgate: authenticator returned an unusable principal",
			slog.String("fault", fault), slog.String("source", src.Name))
		return nil, errInvalidToken
	}
	return p, nil
}

// authFailure is the answer to an error from the Authenticator, at the
// handshake and for a $refresh, and logs it. An error that wraps
// ErrAuthUnavailable, or is not an *Error, is the authenticator's own
// failure (a key server or database that is down): 503 "authentication
// unavailable", logged at Error level, so that the client retries instead
// of concluding its token is bad. An *Error refuses the token: its message
// and code with status 401, logged at Debug level.
func (g *Gateway) authFailure(err error, attrs ...any) *Error {
	e, ok := asError(err)
	if !ok || errors.Is(err, ErrAuthUnavailable) {
		g.log.Error("wsgate: authenticator unavailable", append(attrs, slog.Any("error", err))...)
		return errAuthUnavailable
	}
	g.log.Debug("wsgate: token refused", append(attrs, slog.Any("error", err))...)
	if e.Status == http.StatusUnauthorized {
		return e
	}
	return &Error{Status: http.StatusUnauthorized, Code: cmp.Or(e.Code, CodeUnauthorized), Message: e.Message, Data: e.Data, Err: e}
}

// principalFault says why the gateway cannot use p, a principal an
// Authenticator returned without error, or "" when it can. Per-subject
// limits and $refresh key on the subject, so a principal without one would
// share a single bucket with every other; and an expiry past year 9999
// cannot be written as an RFC 3339 time, which the $refresh answer is.
func principalFault(p *Principal) string {
	switch {
	case p == nil:
		return "no principal"
	case p.Subject == "":
		return "empty Subject"
	case p.Expires.Year() > 9999 || p.Expires.Year() < 0:
		return "Expires outside years 0 to 9999"
	}
	return ""
}

// frontEndToken names a token a front end read from its own handshake.
var frontEndToken = TokenSource{Name: "front end"}

// findToken tries the token sources in order; the first that finds
// anything, or fails for another reason than ErrNoToken, decides.
func (g *Gateway) findToken(r *http.Request) (string, TokenSource, error) {
	for _, src := range g.opts.TokenSources {
		token, err := src.Extract(r)
		if errors.Is(err, ErrNoToken) {
			continue
		}
		return token, src, err
	}
	return "", TokenSource{}, ErrNoToken
}

// runConnectGuards runs the connect guards with a Context that has the
// request and the principal but no connection or event.
func (g *Gateway) runConnectGuards(ctx context.Context, r *http.Request, p *Principal) error {
	if len(g.opts.ConnectGuards) == 0 {
		return nil
	}
	c := &Context{ctx: ctx, gw: g, req: r, principal: p}
	err := runGuards(c, g.opts.ConnectGuards)
	if err == nil {
		return nil
	}
	if e, ok := asError(err); ok {
		if e.Status == 0 {
			e = &Error{Status: http.StatusForbidden, Message: e.Message, Code: e.Code, Data: e.Data, Err: e}
		}
		return e
	}
	if ctx.Err() != nil {
		// The guard gave up on the handshake's deadline (typically
		// returning ctx.Err()): that is a timeout, not an internal error.
		return errHandshakeTimeout
	}
	g.log.Error("wsgate: connect guard failed", slog.Any("error", err))
	return errInternal
}

// isUpgradeRequest reports whether r asks for a WebSocket upgrade.
func isUpgradeRequest(r *http.Request) bool {
	return wsio.HeaderHasToken(r.Header, "Connection", "upgrade") && wsio.HeaderHasToken(r.Header, "Upgrade", "websocket")
}

// checkUpgradeRequest checks what the WebSocket library would refuse with
// a plain-text answer, so that the client gets our JSON instead.
func checkUpgradeRequest(r *http.Request) error {
	keys := r.Header.Values("Sec-WebSocket-Key")
	// A handshake has no body (RFC 6455, section 4.1): bytes after the
	// headers would be read as WebSocket frames.
	if r.Method != http.MethodGet || !r.ProtoAtLeast(1, 1) || r.ContentLength != 0 ||
		r.Header.Get("Sec-WebSocket-Version") != "13" || len(keys) != 1 {
		return errBadHandshake
	}
	// A 16-byte key is 24 base64 characters; decoding into an array
	// spares an allocation per handshake.
	var key [18]byte
	encoded := strings.TrimSpace(keys[0])
	if base64.StdEncoding.DecodedLen(len(encoded)) > len(key) {
		return errBadHandshake
	}
	if n, err := base64.StdEncoding.Decode(key[:], []byte(encoded)); err != nil || n != 16 {
		return errBadHandshake
	}
	return nil
}

// upgradeRequired answers a plain (non-upgrade) request that passed the
// origin policy and CORS.
func upgradeRequired(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Upgrade", "websocket")
	writeRefusal(w, errUpgradeRequired)
}

// writeRefusal answers a refused handshake with err's status and a JSON
// body. An error that is not an *Error is answered as an internal error.
func writeRefusal(w http.ResponseWriter, err error) {
	e, ok := asError(err)
	if !ok {
		e = errInternal
	}
	status := e.Status
	if status == 0 {
		status = http.StatusForbidden
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="wsgate"`)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		h.Set("Retry-After", retryAfterSeconds)
	}
	body, merr := json.Marshal(errorBody{Status: "error", Message: e.Message, Code: e.Code, Data: e.Data})
	if merr != nil {
		body, _ = json.Marshal(errorBody{Status: "error", Message: e.Message, Code: e.Code})
	}
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
