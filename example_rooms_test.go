package wsgate_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/wsgate/wsgate"
)

// RoomInput is the data of the join, leave and say events below.
type RoomInput struct {
	Room string `json:"room"`
	Text string `json:"text,omitempty"`
}

// Rooms from a handler and from OnConnect: every connection joins its
// user's own room when it opens, and clients join and leave chat rooms.
//
// NestJS: client.join(room), client.leave(room).
func ExampleConn_Join() {
	gw, err := wsgate.New(wsgate.Options{
		OnConnect: func(c *wsgate.Conn) {
			if p := c.Principal(); p != nil {
				_ = c.Join("user:" + p.Subject)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	wsgate.On(gw, "join", func(c *wsgate.Context, in RoomInput) (RoomInput, error) {
		if err := c.Conn().Join(in.Room); err != nil {
			// An invalid name (see MaxRoomLen) is the client's mistake.
			return in, &wsgate.Error{Code: wsgate.CodeValidationFailed, Message: err.Error()}
		}
		return in, nil
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "leave", func(c *wsgate.Context, in RoomInput) (RoomInput, error) {
		return in, c.Conn().Leave(in.Room)
	}, wsgate.HandlerOptions{})
	gw.Handle("my-rooms", func(c *wsgate.Context) (any, error) {
		return c.Conn().Rooms(), nil
	}, wsgate.HandlerOptions{})
}

// Emitting to rooms. A message to a room the sender is in reaches the
// other members (NestJS: client.to(room).emit); server code reaches every
// member (NestJS: server.to(room).emit), or the members of several rooms,
// each connection once.
func ExampleGateway_To() {
	gw, err := wsgate.New(wsgate.Options{})
	if err != nil {
		log.Fatal(err)
	}
	wsgate.On(gw, "say", func(c *wsgate.Context, in RoomInput) (any, error) {
		if !c.Conn().InRoom(in.Room) {
			return nil, wsgate.ErrForbidden
		}
		return nil, gw.To(in.Room).Except(c.Conn()).Emit("message", in)
	}, wsgate.HandlerOptions{})

	// Elsewhere in the server: a deploy notice to two rooms; a connection
	// in both gets it once.
	_ = gw.To("ops", "dev").Emit("deploy", map[string]string{"version": "1.4.2"})
	fmt.Println(gw.RoomSize("ops"))
	// Output: 0
}

// A user on every device, and logout: every connection of the subject, in
// every gateway process when Options.Broker is set, is closed with 1008.
func ExampleGateway_ToSubject() {
	gw, err := wsgate.New(wsgate.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", gw)
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-User") // your session's user
		if err := gw.ToSubject(user).Disconnect(wsgate.StatusPolicyViolation, "logged out"); err != nil {
			// With a Broker: the other processes were not reached.
			http.Error(w, "logout incomplete", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	_ = gw.ToSubject("alice").Emit("notice", "your export is ready")
}

// Revoking a room: every member is closed with 1008 (NestJS:
// server.in(room).disconnectSockets()).
func ExampleTarget_Disconnect() {
	gw, err := wsgate.New(wsgate.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := gw.To("project:42").Disconnect(wsgate.StatusPolicyViolation, "access revoked"); err != nil {
		log.Print(err)
	}
}

// Room names are checked: an invalid one is an error, never a panic.
func ExampleErrInvalidRoom() {
	gw, err := wsgate.New(wsgate.Options{})
	if err != nil {
		log.Fatal(err)
	}
	err = gw.To("line\nbreak").Emit("x", 1)
	fmt.Println(errors.Is(err, wsgate.ErrInvalidRoom))
	fmt.Println(err)
	// Output:
	// true
	// wsgate: invalid room name: "line\nbreak" holds the control character U+000A
}
