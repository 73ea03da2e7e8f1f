package socketio_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
)

// Serve one gateway to native clients at /ws and to socket.io clients at
// /socket.io/: the same origins, tokens, handlers and rooms for both.
func ExampleNew() {
	verifier, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: []byte("a-key-of-at-least-32-bytes-for-hs256"),
		Issuer: "https://auth.example.com", Audience: "app",
	})
	if err != nil {
		log.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:       []string{"https://app.example.com"},
		Authenticator: verifier, // the access_token cookie
	})
	if err != nil {
		log.Fatal(err)
	}
	wsgate.On(gw, "xyz", func(c *wsgate.Context, in any) (any, error) {
		return map[string]any{"received": in, "sub": c.Principal().Subject}, nil
	}, wsgate.HandlerOptions{})

	sio, err := socketio.New(gw, socketio.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", gw)
	mux.Handle("/socket.io/", sio)
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			log.Print(err)
		}
	}()

	// Shutting down: the gateway (its connections, both kinds), then the
	// socket.io front end (sessions that never connected), then the server.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = gw.Shutdown(ctx)
	sio.Close()
	_ = srv.Shutdown(ctx)
}
