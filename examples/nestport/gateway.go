package main

import (
	"errors"
	"log/slog"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
)

// appClaims is the JWT payload: the registered claims and the role the
// admin event requires.
type appClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
}

// xyzInput is the payload of the xyz event; any JSON value is accepted and
// echoed back, as the NestJS handler does with its XYZWSInput.
type xyzInput = any

// xyzResponse is what xyz acknowledges and emits.
type xyzResponse struct {
	Received any    `json:"received"`
	Sub      string `json:"sub"`
}

type okResponse struct {
	OK bool `json:"ok"`
}

// newGateway builds the ported gateway:
//
//	@WebSocketGateway({ cors: { origin: [FRONTEND_HOST], credentials: true }, cookie: true, connectTimeout: 10_000 })
//
// becomes Options with one allowed origin, cookie authentication (the
// default token source, the access_token cookie) and the default 10 s
// ConnectTimeout.
//
// handleConnection disconnects a client whose handshake has no cookie
// header, and one whose access_token cookie does not verify. Here both are
// the handshake itself: with an Authenticator and AllowAnonymous left
// false, a handshake without a usable token (no cookie, no access_token
// cookie, a token only in the query string, in a header or in a cookie of
// another name) is refused with 401 "missing token", and a bad token with
// 401 too, before any upgrade; OnConnect (handleConnection's log line) runs
// only for an authenticated connection. A connection is never anonymous.
//
// The gateway-wide Authenticated guard is JwtCookiesWebsocketAuthGuard
// applied to every event: it also refuses an event that races the 4001
// close of an expired token. health is Public, as IS_PUBLIC_KEY makes a
// NestJS handler: it skips that guard, not the connection's
// authentication. A gateway that must serve visitors without a session
// sets Options.AllowAnonymous instead, and then Public is what lets them
// reach an event.
func newGateway(cfg config, logger *slog.Logger) (*wsgate.Gateway, error) {
	verifier, err := wsgate.NewJWT[appClaims](wsgate.JWTOptions{
		Methods:          []string{"HS256"},
		Key:              cfg.secret,
		Leeway:           cfg.leeway,
		Issuer:           cfg.issuer,
		AllowAnyIssuer:   cfg.issuer == "",
		Audience:         cfg.audience,
		AllowAnyAudience: cfg.audience == "",
	})
	if err != nil {
		return nil, err
	}
	opts := cfg.limits
	opts.Origins = []string{cfg.frontendHost}
	opts.Authenticator = verifier
	opts.Guards = []wsgate.Guard{wsgate.Authenticated}
	opts.Logger = logger
	opts.OnConnect = func(c *wsgate.Conn) {
		logger.Info("handleConnection", "conn", c.ID(), "sub", subject(c.Principal()))
	}
	opts.OnDisconnect = func(c *wsgate.Conn, st wsgate.CloseStatus) {
		logger.Info("handleDisconnect", "conn", c.ID(), "code", int(st.Code), "reason", st.Reason)
	}
	gw, err := wsgate.New(opts)
	if err != nil {
		return nil, err
	}

	// @UseGuards(JwtCookiesWebsocketAuthGuard) @UseFilters(new AllExceptionsWebsocketFilter())
	// @SubscribeMessage('xyz')
	wsgate.On(gw, "xyz", handleXYZ, wsgate.HandlerOptions{
		Guards:  []wsgate.Guard{wsgate.Authenticated},
		Filters: []wsgate.Filter{allExceptions(logger)},
	})
	wsgate.On(gw, "health", func(*wsgate.Context, struct{}) (okResponse, error) {
		return okResponse{OK: true}, nil
	}, wsgate.HandlerOptions{Public: true})
	wsgate.On(gw, "admin", func(*wsgate.Context, struct{}) (okResponse, error) {
		return okResponse{OK: true}, nil
	}, wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.RequireClaim("role", "admin")}})
	gw.Handle("fail", func(*wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Message: "xyz failed", Code: "XYZ_FAILED"}
	}, wsgate.HandlerOptions{Filters: []wsgate.Filter{allExceptions(logger)}})
	gw.Handle("crash", func(*wsgate.Context) (any, error) {
		panic("crash event: this panic is recovered and never reaches the client")
	}, wsgate.HandlerOptions{Filters: []wsgate.Filter{allExceptions(logger)}})
	return gw, nil
}

// handleXYZ answers with what it received and who sent it, and emits the
// same payload as the xyz event, as the NestJS handler's client.emit does.
func handleXYZ(c *wsgate.Context, in xyzInput) (xyzResponse, error) {
	claims, ok := wsgate.ClaimsFrom[*appClaims](c)
	if !ok {
		return xyzResponse{}, wsgate.ErrUnauthorized
	}
	resp := xyzResponse{Received: in, Sub: claims.Subject}
	if err := c.Emit("xyz", resp); err != nil {
		return xyzResponse{}, err
	}
	return resp, nil
}

// allExceptions is the port of AllExceptionsWebsocketFilter: it records
// every failure of the events it guards, with the event and the
// connection, and passes the error on, so the default filter answers in
// the NestJS shape and never leaks an internal error's text. A
// *wsgate.Error (a guard's denial, a refused input) is the client's doing
// and logged at Info, so that a client cannot fill the log with warnings;
// anything else at Warn.
func allExceptions(logger *slog.Logger) wsgate.Filter {
	return func(c *wsgate.Context, err error) error {
		level := slog.LevelWarn
		if _, ok := errors.AsType[*wsgate.Error](err); ok {
			level = slog.LevelInfo
		}
		logger.Log(c.Context(), level, "event failed", "event", c.Event(), "conn", c.Conn().ID(), "sub", subject(c.Principal()), "error", err)
		// Logged: this filter owns the log line, so the default filter,
		// which still answers the client, does not log it a second time.
		return wsgate.Logged(err)
	}
}

func subject(p *wsgate.Principal) string {
	if p == nil {
		return ""
	}
	return p.Subject
}

// newSocketIO serves the gateway to socket.io clients, so that the NestJS
// original's front end, which uses socket.io-client, works unchanged:
//
//	const socket = io(BACKEND, { withCredentials: true }); // the access_token cookie goes along
//	const ack = await socket.emitWithAck("xyz", data);    // {"received": data, "sub": …}
//	socket.on("exception", (e) => …);                     // admin without the role, fail, crash
//	socket.on("connect_error", (e) => …);                 // a refused origin or token
//
// The token comes from the cookie only, as the original reads it: the
// auth payload's token (socketio.Options.AuthToken) is not read.
func newSocketIO(gw *wsgate.Gateway) (*socketio.Server, error) {
	return socketio.New(gw, socketio.Options{})
}
