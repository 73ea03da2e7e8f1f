package wsgate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
)

// AppClaims is an application's JWT payload.
type AppClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

// Greeting is an event's input. Its Validate method runs before the
// handler; its failure is answered as VALIDATION_FAILED.
type Greeting struct {
	Name string `json:"name"`
}

func (g Greeting) Validate() error {
	if g.Name == "" {
		return errors.New("name is required")
	}
	return nil
}

// The gateway mounted on an existing server: cookie authentication, one
// allowed origin, a typed handler behind the authentication guard.
func Example() {
	verifier, err := wsgate.NewJWT[AppClaims](wsgate.JWTOptions{
		Methods:  []string{"HS256"},
		Key:      []byte(os.Getenv("JWT_SECRET")),
		Issuer:   "https://auth.example.com",
		Audience: "app",
	})
	if err != nil {
		log.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:       []string{"https://app.example.com"},
		Authenticator: verifier, // the access_token cookie by default
		Guards:        []wsgate.Guard{wsgate.Authenticated},
	})
	if err != nil {
		log.Fatal(err)
	}
	wsgate.On(gw, "greet", func(c *wsgate.Context, in Greeting) (string, error) {
		claims, _ := wsgate.ClaimsFrom[*AppClaims](c)
		return fmt.Sprintf("hello %s, from %s", in.Name, claims.Subject), nil
	}, wsgate.HandlerOptions{})

	mux := http.NewServeMux()
	mux.Handle("/ws", gw)
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.ListenAndServe()

	// On shutdown: the gateway first (hijacked connections are not the
	// server's), then the server.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = gw.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
}

// Guards and metadata: the NestJS Reflector pattern. A handler marked
// Public skips Authenticated; a guard reads a handler's metadata.
func ExampleHandlerOptions() {
	gw, err := wsgate.New(wsgate.Options{})
	if err != nil {
		log.Fatal(err)
	}
	requireScope := func(c *wsgate.Context) error {
		scope, ok := c.Metadata("scope")
		if !ok {
			return nil
		}
		if v, _ := c.Principal().Claim("scope"); v != scope {
			return wsgate.ErrForbidden
		}
		return nil
	}
	gw.Handle("health", func(*wsgate.Context) (any, error) {
		return map[string]bool{"ok": true}, nil
	}, wsgate.HandlerOptions{Public: true})
	gw.Handle("report", func(*wsgate.Context) (any, error) {
		return "report", nil
	}, wsgate.HandlerOptions{
		Guards:   []wsgate.Guard{wsgate.Authenticated, requireScope, wsgate.RequireClaim("role", "admin")},
		Metadata: map[string]any{"scope": "reports"},
	})
}

// A filter that catches one error type and answers the client itself;
// everything else goes on to the default filter.
func ExampleCatch() {
	notFound := wsgate.Catch(func(c *wsgate.Context, err *NotFoundError) error {
		return c.ReplyError(&wsgate.Error{Code: "NOT_FOUND", Message: err.What + " not found"})
	})
	gw, err := wsgate.New(wsgate.Options{Filters: []wsgate.Filter{notFound}})
	if err != nil {
		log.Fatal(err)
	}
	gw.Handle("item", func(*wsgate.Context) (any, error) {
		return nil, fmt.Errorf("loading: %w", &NotFoundError{What: "item"})
	}, wsgate.HandlerOptions{})
}

// NotFoundError is an application error type.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " not found" }

// The gateway's error type reaches the client with its message and code.
func ExampleError() {
	e := &wsgate.Error{Message: "xyz failed", Code: "XYZ_FAILED"}
	fmt.Println(e)
	fmt.Println(errors.Is(fmt.Errorf("wrapped: %w", wsgate.ErrForbidden), wsgate.ErrForbidden))
	// Output:
	// XYZ_FAILED: xyz failed
	// true
}
