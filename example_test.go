package wsgate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// AppClaims is an application's JWT payload: the registered claims (sub,
// exp, iss, aud, …) and its own.
type AppClaims struct {
	jwt.RegisteredClaims
	Role   string   `json:"role"`
	Tenant string   `json:"tenant"`
	Roles  []string `json:"roles"`
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
		claims, _ := wsgate.ClaimsFrom[*AppClaims](c) // or ClaimsFrom[AppClaims], for a copy
		return fmt.Sprintf("hello %s, from %s", in.Name, claims.Subject), nil
	}, wsgate.HandlerOptions{})

	mux := http.NewServeMux()
	mux.Handle("/ws", gw)
	srv := &http.Server{
		Addr: ":8080", Handler: mux,
		// Bytes outside the gateway are the server's to bound (see the README).
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
	}
	go srv.ListenAndServe()

	// On shutdown: the gateway first (hijacked connections are not the
	// server's), then the server.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = gw.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
}

// Guards and metadata: the NestJS Reflector pattern. A public event for
// visitors without a token takes three things: AllowAnonymous (or the
// handshake refuses them with 401), the Authenticated guard, and Public on
// the handler so that the guard lets it through. A guard reads a handler's
// metadata with Context.Metadata.
func ExampleHandlerOptions() {
	verifier, err := wsgate.NewJWT[AppClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: []byte(os.Getenv("JWT_SECRET")), Issuer: "auth", Audience: "app",
	})
	if err != nil {
		log.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:        []string{"https://app.example.com"},
		Authenticator:  verifier,
		AllowAnonymous: true, // visitors connect without a token, with no principal
		Guards:         []wsgate.Guard{wsgate.Authenticated},
	})
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
		Guards:   []wsgate.Guard{requireScope, wsgate.RequireClaim("role", "admin")},
		Metadata: map[string]any{"scope": "reports"},
	})
}

// A guard over the application's own claims type, with no type assertion:
// anonymous connections are denied UNAUTHORIZED, a false answer FORBIDDEN.
func ExampleRequireClaims() {
	gw, err := wsgate.New(wsgate.Options{})
	if err != nil {
		log.Fatal(err)
	}
	admins := wsgate.RequireClaims(func(c *wsgate.Context, claims *AppClaims) bool {
		return slices.Contains(claims.Roles, "admin")
	})
	sameTenant := wsgate.RequireClaims(func(c *wsgate.Context, claims AppClaims) bool {
		tenant, _ := c.Metadata("tenant")
		return claims.Tenant == tenant
	})
	gw.Handle("purge", func(*wsgate.Context) (any, error) {
		return "purged", nil
	}, wsgate.HandlerOptions{
		Guards:   []wsgate.Guard{admins, sameTenant},
		Metadata: map[string]any{"tenant": "acme"},
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

// ErrNoSuchItem is an application's sentinel error.
var ErrNoSuchItem = errors.New("no such item")

// A sentinel error, however deeply wrapped, becomes a code and a message
// for the client.
func ExampleCatchIs() {
	gw, err := wsgate.New(wsgate.Options{
		Origins: []string{"https://app.example.com"},
		Filters: []wsgate.Filter{wsgate.CatchIs(ErrNoSuchItem, "NOT_FOUND", "item not found")},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := wsgatetest.NewServer(new(testing.T), gw) // in a test: the test's t
	defer srv.Close()
	wsgate.On(gw, "item", func(c *wsgate.Context, id string) (string, error) {
		return "", fmt.Errorf("loading item %q: %w", id, ErrNoSuchItem)
	}, wsgate.HandlerOptions{})

	ack := srv.Dial(wsgatetest.DialOptions{Origin: "https://app.example.com"}).Request("item", "42")
	fmt.Println(ack.Error.Code, ack.Error.Message)
	// Output:
	// NOT_FOUND item not found
}

// Who logs a failure: the default filter logs errors that are not an
// *Error. A filter that logs an error itself and passes it on marks it with
// Logged, so that the default filter answers it without a second log line.
func ExampleLogged() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // a stable output for the example
			}
			return a
		},
	}))
	audit := func(c *wsgate.Context, err error) error {
		logger.Error("audit: event failed", "event", c.Event(), "error", err)
		return wsgate.Logged(err) // logged here: not again by the default filter
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins: []string{"https://app.example.com"},
		Logger:  logger,
		Filters: []wsgate.Filter{audit},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := wsgatetest.NewServer(new(testing.T), gw)
	defer srv.Close()
	gw.Handle("save", func(*wsgate.Context) (any, error) {
		return nil, errors.New("database unavailable")
	}, wsgate.HandlerOptions{})

	ack := srv.Dial(wsgatetest.DialOptions{Origin: "https://app.example.com"}).Request("save", nil)
	fmt.Println(ack.Error.Code, ack.Error.Message)
	// Output:
	// level=ERROR msg="audit: event failed" event=save error="database unavailable"
	// INTERNAL Internal server error
}

// Signup is an event's input that reports each invalid field, the way
// class-validator does for a NestJS DTO. A pointer-receiver Validate is
// found as well as a value-receiver one.
type Signup struct {
	Email string `json:"email"`
	Age   int    `json:"age"`
}

func (s *Signup) Validate() error {
	var v wsgate.ValidationError
	if s.Email == "" {
		v.Add("email", "required")
	}
	if s.Age < 18 {
		v.Add("age", "must be at least 18")
	}
	return v.Err() // nil when no field was added
}

// Field-level validation errors reach the client as VALIDATION_FAILED, with
// the fields in the error's data.
func ExampleValidationError() {
	gw, err := wsgate.New(wsgate.Options{Origins: []string{"https://app.example.com"}})
	if err != nil {
		log.Fatal(err)
	}
	srv := wsgatetest.NewServer(new(testing.T), gw)
	defer srv.Close()
	wsgate.On(gw, "signup", func(c *wsgate.Context, in Signup) (string, error) {
		return "welcome " + in.Email, nil
	}, wsgate.HandlerOptions{})

	ack := srv.Dial(wsgatetest.DialOptions{Origin: "https://app.example.com"}).Request("signup", map[string]any{"age": 16})
	fmt.Println(ack.Error.Code)
	fmt.Println(ack.Error.Message)
	fmt.Println(string(ack.Error.Data))
	// Output:
	// VALIDATION_FAILED
	// email: required; age: must be at least 18
	// {"fields":[{"field":"email","message":"required"},{"field":"age","message":"must be at least 18"}]}
}

// An event that takes no input binds struct{}.
func ExampleOn_noInput() {
	gw, err := wsgate.New(wsgate.Options{})
	if err != nil {
		log.Fatal(err)
	}
	wsgate.On(gw, "ping", func(c *wsgate.Context, _ struct{}) (string, error) {
		return "pong", nil
	}, wsgate.HandlerOptions{})
}

// The gateway's error type reaches the client with its message and code.
// ErrForbidden and ErrUnauthorized are sentinels: errors.Is matches them,
// wrapped or not, and any *Error with their code.
func ExampleError() {
	e := &wsgate.Error{Message: "xyz failed", Code: "XYZ_FAILED"}
	fmt.Println(e)
	fmt.Println(errors.Is(fmt.Errorf("wrapped: %w", wsgate.ErrForbidden), wsgate.ErrForbidden))
	fmt.Println(errors.Is(&wsgate.Error{Code: wsgate.CodeForbidden, Message: "not your tenant"}, wsgate.ErrForbidden))
	// Output:
	// XYZ_FAILED: xyz failed
	// true
	// true
}
