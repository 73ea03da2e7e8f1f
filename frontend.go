package wsgate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rs/cors"
)

// The seam for protocol front ends. A Gateway speaks wire protocol v1 over
// WebSocket through ServeHTTP; a front end (the socket.io one is) serves the
// same gateway — its origin policy, authentication, connect guards, limits,
// handlers, guards, filters, rooms and Shutdown — over another protocol. It
// runs the handshake checks with Admit, and once its own connection is
// established hands the session to Admission.Serve with a Transport (how
// messages travel) and a Codec (how events are framed in them).
//
// Most users never touch these types: they are for writing front ends.

// A Transport carries one connection's messages for a front end. The
// gateway calls ReadMessage from one goroutine at a time and WriteMessage
// from one goroutine at a time (possibly concurrently with each other),
// Ping from its keepalive, and Close and Drop when the connection ends.
type Transport interface {
	// ReadMessage reads the peer's next message and appends it to b, but
	// no more than max bytes of it: the gateway asks for one byte more than
	// its ReadLimit and closes the connection with 1009 when it gets them.
	// It returns ErrUnsupportedMessage for a message the protocol does not
	// accept (the gateway closes with 1003), a *PeerCloseError when the peer
	// closed the connection, and any other error when it is gone.
	ReadMessage(b []byte, max int64) ([]byte, error)
	// WriteMessage sends one message. It may block while the peer does
	// not take it; the gateway's WriteTimeout watchdog then calls Drop.
	WriteMessage(b []byte) error
	// Ping checks that the peer is alive: nil when it answered before ctx
	// ended. Keepalive calls it every PingInterval with a ctx of
	// PongTimeout.
	Ping(ctx context.Context) error
	// Close closes the connection in the protocol's way with code and
	// reason (already checked: a code an endpoint may send, a short UTF-8
	// reason), waiting for the peer's answer if the protocol has one. The
	// gateway bounds it with CloseTimeout, after which it calls Drop.
	Close(code StatusCode, reason string) error
	// Drop ends the connection at once: every ReadMessage, WriteMessage,
	// Ping and Close in progress returns. It may be called more than once.
	Drop()
}

// ErrUnsupportedMessage is returned by Transport.ReadMessage for a message
// the protocol does not accept, such as a binary WebSocket frame in wire
// protocol v1.
var ErrUnsupportedMessage = errors.New("wsgate: unsupported message")

// PeerCloseError is returned by Transport.ReadMessage when the peer closed
// the connection, with the code and reason it gave. OnDisconnect reports
// them (a reason that is not valid UTF-8 as "").
type PeerCloseError struct {
	Code   StatusCode
	Reason string
}

// Error says the peer closed the connection.
func (e *PeerCloseError) Error() string {
	return "wsgate: closed by the peer: " + e.Code.String() + " " + e.Reason
}

// A Codec frames events in a front end's messages. The gateway encodes
// every JSON value (an event's data, an ack's result, an error object)
// once, and asks the codec for the message around it. A fan-out frames an
// event once per codec, telling codecs apart with ==: a Codec must be
// comparable, and one value should serve all of a front end's connections
// (a pointer, typically).
type Codec interface {
	// Decode reads one message from the peer. A message that is not a
	// valid event is a *DecodeError: the gateway answers it (with
	// BAD_REQUEST, to its id when the error has one) and counts it
	// against MaxMalformedFrames. Event and Data of the result may alias
	// msg.
	Decode(msg []byte) (Inbound, error)
	// AppendEvent appends the message of an emitted event whose data is
	// the JSON value data.
	AppendEvent(b []byte, event string, data []byte) []byte
	// AppendAck appends the success answer to request id with the JSON
	// value data.
	AppendAck(b []byte, id int64, data []byte) []byte
	// AppendErrorAck appends the failure answer to request id with the
	// error object body ({"status":"error","message":…,"code":…}). The
	// failure of a message without an id is emitted as the "exception"
	// event through AppendEvent instead.
	AppendErrorAck(b []byte, id int64, body []byte) []byte
}

// ExceptionOnErrorAck is implemented by a Codec whose clients expect a
// failed request to be reported twice: as its error ack, and as the
// "exception" event with the same error object, as NestJS's socket.io
// gateways do. ExceptionOnErrorAck returns true for them.
type ExceptionOnErrorAck interface {
	ExceptionOnErrorAck() bool
}

// Inbound is one event decoded from a peer's message.
type Inbound struct {
	// Event is the event name: not empty, at most 128 bytes, free of
	// control characters; the gateway answers a name that is not as it
	// answers a DecodeError (BAD_REQUEST). Names beginning with "$" are the
	// protocol's own (such as "$refresh").
	Event []byte
	// Data is the event's raw JSON value, nil when it had none.
	Data []byte
	// ID is the request id, in [0, 2^53-1], when HasID is set: the
	// request is then answered exactly once.
	ID    int64
	HasID bool
}

// DecodeError is a message from the peer that is not a valid event. Its
// Reason is sent to the client, so it must be short and safe; ID and HasID
// say whether the request id could still be read, so that the answer goes
// to it.
type DecodeError struct {
	Reason string
	ID     int64
	HasID  bool
}

// Error implements error.
func (e *DecodeError) Error() string { return "wsgate: " + e.Reason }

// An Admission is a connection the gateway has admitted but not yet
// served: it holds the connection's place under MaxConnections and
// MaxConnectionsPerSubject until Serve has run or Release is called.
type Admission struct {
	gw        *Gateway
	req       *http.Request
	principal *Principal
	ticket    *ticket
}

// Admit runs on r the checks ServeHTTP runs before an upgrade, for a front
// end about to establish a connection of its own: the origin policy, the
// token, its verification, the connect guards (within ConnectTimeout), the
// shutdown flag and the connection limits. token, when not "", is the token
// the front end read from its own handshake (such as socket.io's CONNECT
// auth payload), used in place of the gateway's TokenSources; it is not
// ambient (a cookie is), so the rules for header tokens apply to it.
//
// A refusal is an *Error whose Status is the HTTP status ServeHTTP would
// answer, with a message and code safe to send.
func (g *Gateway) Admit(r *http.Request, token string) (*Admission, error) {
	origin, err := g.checkOrigin(r, true)
	if err != nil {
		return nil, err
	}
	if g.admission.closing() {
		return nil, errShuttingDown
	}
	principal, err := g.verifyToken(r, origin, token)
	if err != nil {
		return nil, err
	}
	ticket, err := g.admission.admit(principal)
	if err != nil {
		return nil, err
	}
	return &Admission{gw: g, req: r, principal: principal, ticket: ticket}, nil
}

// Principal returns who the admitted connection is authenticated as, nil
// for an anonymous one.
func (a *Admission) Principal() *Principal { return a.principal }

// Release gives the admission's place back without serving it: the front
// end could not establish its connection after all.
func (a *Admission) Release() { a.ticket.release() }

// Serve runs the admitted connection's session over t, with events framed
// by codec, until the connection ends and everything it started is done:
// OnConnect, the events through their guards, handlers and filters, emits,
// rooms, keepalive, token expiry, limits, Shutdown, OnDisconnect. It
// releases the admission. Serve must be called at most once.
func (a *Admission) Serve(t Transport, codec Codec) {
	c := newConn(a.gw, codec, a.req, a.principal, a.ticket)
	a.gw.track(c)
	c.attach(t)
	if o, ok := t.(Opener); ok {
		if err := o.Open(); err != nil {
			c.fail(StatusAbnormalClosure, "connection lost")
		}
	}
	a.gw.serve(c)
}

// Opener is implemented by a Transport whose peer must be told that its
// connection is open, as socket.io's CONNECT answer tells it. Serve calls
// Open once the connection is registered, so that an emit to its rooms or
// its subject made as soon as the peer knows reaches it, and before
// OnConnect, so that the answer comes before anything OnConnect emits. An
// error means the peer is gone.
type Opener interface {
	Open() error
}

// Helpers for front ends whose connection spans several HTTP requests (the
// socket.io polling transport): each request is checked again, answered
// with the gateway's CORS headers, and tied to the principal that opened
// the connection.

// Refuse answers r, a front end's handshake request that the gateway or
// the front end refused, as the gateway answers its own: err's status
// (403 when it has none) with a JSON body {"status":"error","message":…,
// "code":…} and its Data, WWW-Authenticate with a 401, Retry-After with a
// 503 or 429, no caching. An err that is not an *Error is answered as an
// internal error, its text never sent. The refusal is reported to
// Hooks.HandshakeRefused, as the gateway's own are.
func (g *Gateway) Refuse(w http.ResponseWriter, r *http.Request, err error) {
	g.refuse(w, r, err)
}

// CheckOrigin applies the gateway's origin policy to r as the handshake
// does: nil when r's Origin is allowed, or missing and AllowMissingOrigin
// is set; otherwise the handshake's refusal, an *Error with status 403.
// Several Origin header lines and "null" are always refused.
func (g *Gateway) CheckOrigin(r *http.Request) error {
	_, err := g.checkOrigin(r, true)
	return err
}

// CORS returns next wrapped in the gateway's CORS handling: preflights
// are answered, and other requests get the Access-Control-Allow-* headers,
// from the same origin policy as the handshake (credentials allowed). Like
// rs/cors, on which it is built, it never refuses a request: call
// CheckOrigin for that.
func (g *Gateway) CORS(next http.Handler) http.Handler {
	return cors.New(cors.Options{
		AllowOriginFunc:  g.origins.allowed,
		AllowCredentials: true,
	}).Handler(next)
}

// Authenticate finds r's token with the gateway's TokenSources and
// verifies it with its Authenticator, within ConnectTimeout, without the
// origin policy, the connect guards or the limits. It returns nil and no
// error when the gateway has no Authenticator or r carries no token, and
// the handshake's refusal (an *Error) for a token that does not verify. A
// cookie token (Ambient) needs an Origin header, as at the handshake.
//
// It runs the Authenticator on the caller's goroutine, with a context that
// ends at ConnectTimeout: an Authenticator that ignores it holds the call
// until it returns. An Authenticator that panics is logged and answered
// 500, as at the handshake.
func (g *Gateway) Authenticate(r *http.Request) (*Principal, error) {
	if g.opts.Authenticator == nil {
		return nil, nil
	}
	token, src, findErr := g.findToken(r)
	if errors.Is(findErr, ErrNoToken) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.ConnectTimeout)
	defer cancel()
	var p *Principal
	var err error
	if perr := protect(func() error {
		p, err = g.verifyFound(ctx, r.Header.Get("Origin"), token, src, findErr)
		return nil
	}); perr != nil {
		g.log.Error("wsgate: authenticator panicked", slog.Any("error", perr))
		return nil, errInternal
	}
	return p, err
}

// Options returns the options the gateway runs with, every default filled
// in: a front end reads its ReadLimit, keepalive and timeouts there. The
// slices and functions in it are the gateway's own: do not modify them.
func (g *Gateway) Options() Options { return g.opts }
