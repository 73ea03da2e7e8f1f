// Package baseline holds the servers wsgate is measured against, written
// by hand on github.com/coder/websocket: a bare echo, and a server that does
// the work a gateway does (origin check, JWT from a cookie verified with
// golang-jwt, the JSON envelope, dispatch through a map of handlers, acks,
// rooms) as lean as its author could make it. The benchmarks of the root
// package and cmd/wsgate-load's compare mode both use them, so the figures
// they print compare the same code.
package baseline

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// Config is what the hand-written server checks: the one allowed origin,
// and the HS256 key, issuer and audience of the tokens in the access_token
// cookie.
type Config struct {
	Origin   string
	Key      []byte
	Issuer   string
	Audience string
}

// EchoIn is the data of the "echo" event; EchoOut its ack's data, with the
// subject of the connection's token.
type EchoIn struct {
	N int    `json:"n"`
	S string `json:"s"`
}

// EchoOut is the data of the ack to an "echo" event.
type EchoOut struct {
	N   int    `json:"n"`
	S   string `json:"s"`
	Sub string `json:"sub"`
}

// RoomIn is the data of "join" ({"room":…}) and of "say" ({"room":…,
// "data":…}): "say" emits "said" with its data to every member of the room,
// the sender included, then acknowledges.
type RoomIn struct {
	Room string          `json:"room"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Echo returns a bare coder/websocket echo server: no origin check, no
// authentication, no JSON; every message comes back as it came.
func Echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := context.Background()
		for {
			typ, msg, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if ws.Write(ctx, typ, msg) != nil {
				return
			}
		}
	})
}

// server is the hand-written gateway.
type server struct {
	cfg     Config
	parser  *jwt.Parser
	keyFunc jwt.Keyfunc
	events  map[string]func(*client, json.RawMessage) (any, error)

	mu    sync.Mutex
	rooms map[string]map[*client]struct{}
}

// client is one connection of the hand-written server.
type client struct {
	ws    *websocket.Conn
	sub   string
	rooms []string
}

// errBadData answers an event whose data does not decode.
var errBadData = errorString("invalid data")

type errorString string

func (e errorString) Error() string { return string(e) }

// New returns the hand-written server for cfg. It answers a refused
// handshake with a plain-text 403 or 401, and closes a connection on a
// malformed frame or an unknown event; acks are {"id":…,"data":…} or
// {"id":…,"error":{"message":…}}.
func New(cfg Config) http.Handler {
	s := &server{
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(cfg.Issuer), jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second),
		),
		keyFunc: func(*jwt.Token) (any, error) { return cfg.Key, nil },
		rooms:   make(map[string]map[*client]struct{}),
	}
	s.events = map[string]func(*client, json.RawMessage) (any, error){
		"echo": s.echo,
		"join": s.join,
		"say":  s.say,
	}
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != s.cfg.Origin {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	cookie, err := r.Cookie("access_token")
	if err != nil {
		http.Error(w, "missing token", http.StatusUnauthorized)
		return
	}
	var claims jwt.RegisteredClaims
	if _, err := s.parser.ParseWithClaims(cookie.Value, &claims, s.keyFunc); err != nil {
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c := &client{ws: ws, sub: claims.Subject}
	defer s.leave(c)
	defer ws.CloseNow()
	ctx := context.Background()
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var env struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
			ID    *int64          `json:"id"`
		}
		if json.Unmarshal(msg, &env) != nil {
			return
		}
		handle, ok := s.events[env.Event]
		if !ok {
			return
		}
		out, err := handle(c, env.Data)
		if env.ID == nil {
			continue
		}
		var ack []byte
		if err != nil {
			ack, _ = json.Marshal(struct {
				ID    int64 `json:"id"`
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}{ID: *env.ID, Error: struct {
				Message string `json:"message"`
			}{err.Error()}})
		} else {
			ack, _ = json.Marshal(struct {
				ID   int64 `json:"id"`
				Data any   `json:"data"`
			}{*env.ID, out})
		}
		if ws.Write(ctx, websocket.MessageText, ack) != nil {
			return
		}
	}
}

func (s *server) echo(c *client, data json.RawMessage) (any, error) {
	var in EchoIn
	if json.Unmarshal(data, &in) != nil {
		return nil, errBadData
	}
	return EchoOut{N: in.N, S: in.S, Sub: c.sub}, nil
}

func (s *server) join(c *client, data json.RawMessage) (any, error) {
	var in RoomIn
	if json.Unmarshal(data, &in) != nil || in.Room == "" {
		return nil, errBadData
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	members := s.rooms[in.Room]
	if members == nil {
		members = make(map[*client]struct{})
		s.rooms[in.Room] = members
	}
	if _, ok := members[c]; !ok {
		members[c] = struct{}{}
		c.rooms = append(c.rooms, in.Room)
	}
	return nil, nil
}

// say writes the event to each member in turn, on the sender's goroutine:
// the straightforward way, which a slow member holds up.
func (s *server) say(c *client, data json.RawMessage) (any, error) {
	var in RoomIn
	if json.Unmarshal(data, &in) != nil || in.Room == "" {
		return nil, errBadData
	}
	frame, err := json.Marshal(struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}{"said", in.Data})
	if err != nil {
		return nil, errBadData
	}
	s.mu.Lock()
	members := make([]*client, 0, len(s.rooms[in.Room]))
	for m := range s.rooms[in.Room] {
		members = append(members, m)
	}
	s.mu.Unlock()
	for _, m := range members {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = m.ws.Write(ctx, websocket.MessageText, frame)
		cancel()
	}
	return nil, nil
}

// leave removes c from its rooms when its connection ends.
func (s *server) leave(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, room := range c.rooms {
		delete(s.rooms[room], c)
		if len(s.rooms[room]) == 0 {
			delete(s.rooms, room)
		}
	}
}
