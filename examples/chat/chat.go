package main

import (
	"log/slog"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgateprom"
)

// Limits of the chat's inputs (see the package comment).
const (
	maxNameLen  = 32   // user names, bytes of A-Z a-z 0-9 _ -
	maxRoomLen  = 64   // room names, the same characters
	maxTextLen  = 1000 // message texts, in characters (runes)
	maxRoomsPer = 100  // rooms one connection may be in
)

// codeTooManyRooms answers a join past maxRoomsPer.
const codeTooManyRooms = "TOO_MANY_ROOMS"

// chat is the application: the gateway, the verifier of its session
// tokens, and the HTTP endpoints around them.
type chat struct {
	cfg      config
	gw       *wsgate.Gateway
	verifier wsgate.Authenticator
	log      *slog.Logger
	metrics  *prometheus.Registry // what /metrics serves; nil unless METRICS=1
}

// newChat builds the gateway: one allowed origin, the session token from
// the access_token cookie (the default token source), no anonymous
// connections, and the Authenticated guard on every event (it also refuses
// an event that races the 4001 close of an expired token). broker is nil
// for a single process. With cfg.metrics the gateway reports to the
// registry /metrics serves.
func newChat(cfg config, logger *slog.Logger, broker wsgate.Broker) (*chat, error) {
	verifier, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods:  []string{"HS256"},
		Key:      cfg.secret,
		Issuer:   tokenIssuer,
		Audience: tokenAudience,
	})
	if err != nil {
		return nil, err
	}
	opts := wsgate.Options{
		Origins:       []string{cfg.frontendHost},
		Authenticator: verifier,
		Guards:        []wsgate.Guard{wsgate.Authenticated},
		Broker:        broker,
		Logger:        logger,
	}
	var reg *prometheus.Registry
	if cfg.metrics {
		var m *wsgateprom.Metrics
		if reg, m, err = wsgateprom.NewRegistry(wsgateprom.Options{}); err != nil {
			return nil, err
		}
		opts.Hooks = m.Hooks()
	}
	gw, err := wsgate.New(opts)
	if err != nil {
		return nil, err
	}
	c := &chat{cfg: cfg, gw: gw, verifier: verifier, log: logger, metrics: reg}
	wsgate.On(gw, "join", c.join, wsgate.HandlerOptions{})
	wsgate.On(gw, "leave", c.leave, wsgate.HandlerOptions{})
	wsgate.On(gw, "say", c.say, wsgate.HandlerOptions{})
	wsgate.On(gw, "dm", c.dm, wsgate.HandlerOptions{})
	return c, nil
}

// roomInput is the data of join and leave, and their ack.
type roomInput struct {
	Room string `json:"room"`
}

// Validate checks the room name.
func (in roomInput) Validate() error {
	var v wsgate.ValidationError
	checkRoom(&v, in.Room)
	return v.Err()
}

// sayInput is the data of say.
type sayInput struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// Validate checks the room name and the text.
func (in sayInput) Validate() error {
	var v wsgate.ValidationError
	checkRoom(&v, in.Room)
	checkText(&v, in.Text)
	return v.Err()
}

// dmInput is the data of dm.
type dmInput struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

// Validate checks the user name and the text.
func (in dmInput) Validate() error {
	var v wsgate.ValidationError
	if !validName(in.To, maxNameLen) {
		v.Add("to", "must be 1 to 32 of A-Z a-z 0-9 _ -")
	}
	checkText(&v, in.Text)
	return v.Err()
}

// okAck acknowledges say and dm.
type okAck struct {
	OK bool `json:"ok"`
}

// message is the event a say sends to the room.
type message struct {
	Room string `json:"room"`
	From string `json:"from"`
	Text string `json:"text"`
}

// direct is the event a dm sends to the user.
type direct struct {
	From string `json:"from"`
	Text string `json:"text"`
}

func (c *chat) join(ctx *wsgate.Context, in roomInput) (roomInput, error) {
	conn := ctx.Conn()
	if !conn.InRoom(in.Room) && len(conn.Rooms()) >= maxRoomsPer {
		return roomInput{}, wsgate.NewError(codeTooManyRooms, "a connection is in at most 100 rooms; leave one first")
	}
	if err := conn.Join(in.Room); err != nil {
		return roomInput{}, err // ErrClosed: the connection has ended; nobody reads the answer
	}
	return in, nil
}

func (c *chat) leave(ctx *wsgate.Context, in roomInput) (roomInput, error) {
	if err := ctx.Conn().Leave(in.Room); err != nil {
		return roomInput{}, err
	}
	return in, nil
}

func (c *chat) say(ctx *wsgate.Context, in sayInput) (okAck, error) {
	if !ctx.Conn().InRoom(in.Room) {
		return okAck{}, &wsgate.Error{Code: wsgate.CodeForbidden, Message: "join the room first"}
	}
	if err := c.gw.To(in.Room).Emit("message", message{Room: in.Room, From: ctx.Principal().Subject, Text: in.Text}); err != nil {
		return okAck{}, c.notSent(err)
	}
	return okAck{OK: true}, nil
}

func (c *chat) dm(ctx *wsgate.Context, in dmInput) (okAck, error) {
	if err := c.gw.ToSubject(in.To).Emit("direct", direct{From: ctx.Principal().Subject, Text: in.Text}); err != nil {
		return okAck{}, c.notSent(err)
	}
	return okAck{OK: true}, nil
}

// notSent turns the error of an emit into the client's answer. The emit
// has reached this process's connections; only the Broker can fail, when
// it holds as many unsent messages as it may (Redis down for long): the
// client is told to try again, and the cause is logged, not sent.
func (c *chat) notSent(err error) error {
	c.log.Error("message not sent to the other processes", "error", err)
	return &wsgate.Error{Code: wsgate.CodeUnavailable, Message: "not delivered to every server; try again", Err: err}
}

func checkRoom(v *wsgate.ValidationError, room string) {
	if !validName(room, maxRoomLen) {
		v.Add("room", "must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
}

func checkText(v *wsgate.ValidationError, text string) {
	if n := utf8.RuneCountInString(text); n < 1 || n > maxTextLen {
		v.Add("text", "must be 1 to 1000 characters")
	}
}

// validName reports whether s is 1 to max bytes of A-Z a-z 0-9 _ -, the
// alphabet of user and room names.
func validName(s string, max int) bool {
	if len(s) < 1 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}
