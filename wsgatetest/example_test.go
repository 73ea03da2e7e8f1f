package wsgatetest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// exampleKey is the HS256 key shared by the example gateway and its Signer.
var exampleKey = []byte("example-key-at-least-32-bytes-long!")

// exampleGateway is the gateway under test in the examples: cookie JWT
// authentication, one allowed origin, and a guarded "greet" event that
// acks a greeting and emits "greeted".
func exampleGateway() *wsgate.Gateway {
	v, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: exampleKey, Issuer: "auth", Audience: "app",
	})
	if err != nil {
		panic(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:       []string{"https://app.example.com"},
		Authenticator: v,
		Guards:        []wsgate.Guard{wsgate.Authenticated},
	})
	if err != nil {
		panic(err)
	}
	wsgate.On(gw, "greet", func(c *wsgate.Context, name string) (string, error) {
		if name == "" {
			return "", &wsgate.Error{Message: "name required", Code: "NAME_REQUIRED"}
		}
		_ = c.Emit("greeted", c.Principal().Subject)
		return "hello, " + name, nil
	}, wsgate.HandlerOptions{})
	return gw
}

// A test of a gateway dials it in memory with a token minted for its key,
// sends requests and waits for acks and events. In a test, pass the test's
// own *testing.T and leave closing to its Cleanup.
func ExampleServer() {
	t := new(testing.T) // in a test: the test's *testing.T
	srv := wsgatetest.NewServer(t, exampleGateway())
	defer srv.Close() // in a test: done by t.Cleanup

	tokens := wsgatetest.Signer{Key: exampleKey, Issuer: "auth", Audience: "app"}
	c := srv.Dial(wsgatetest.DialOptions{
		Origin:  "https://app.example.com",
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Token(t, "alice", nil)}},
	})

	ack := c.Request("greet", "world")
	fmt.Println(ack.OK(), string(ack.Data))
	fmt.Println(string(c.WaitEvent("greeted").Data))

	ack = c.Request("greet", "")
	fmt.Println(ack.Error.Code, ack.Error.Message)

	c.Emit("greet", "") // no id: the failure comes as an exception event
	fmt.Println(c.WaitException().Message)
	// Output:
	// true "hello, world"
	// "alice"
	// NAME_REQUIRED name required
	// name required
}

// A refused handshake is a value to assert on: its HTTP status and its
// decoded JSON body.
func ExampleServer_Refused() {
	t := new(testing.T)
	srv := wsgatetest.NewServer(t, exampleGateway())
	defer srv.Close()
	tokens := wsgatetest.Signer{Key: exampleKey, Issuer: "auth", Audience: "app"}

	r := srv.Refused(wsgatetest.DialOptions{
		Origin:  "https://evil.example",
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Token(t, "alice", nil)}},
	})
	fmt.Println(r.Status, r.Body.Message)

	r = srv.Refused(wsgatetest.DialOptions{
		Origin:  "https://app.example.com",
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Expired(t, "alice")}},
	})
	fmt.Println(r.Status, r.Body.Message, r.Header.Get("WWW-Authenticate") != "")
	// Output:
	// 403 origin not allowed
	// 401 token expired true
}

// WaitClosed reports how the server ended the connection: here, a binary
// frame, which wire protocol v1 does not accept.
func ExampleClient_WaitClosed() {
	t := new(testing.T)
	srv := wsgatetest.NewServer(t, exampleGateway())
	defer srv.Close()
	tokens := wsgatetest.Signer{Key: exampleKey, Issuer: "auth", Audience: "app"}
	c := srv.Dial(wsgatetest.DialOptions{
		Origin:  "https://app.example.com",
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Token(t, "alice", nil)}},
	})

	c.SendBinary([]byte{0xde, 0xad})
	st := c.WaitClosed()
	fmt.Println(int(st.Code), st.Reason)
	// Output:
	// 1003 binary frames are not accepted
}

// A gateway mounted on a path of a mux: set the server's Path once, and
// every dial goes there.
func ExampleServer_path() {
	t := new(testing.T)
	mux := http.NewServeMux()
	mux.Handle("/ws", exampleGateway())
	srv := wsgatetest.NewServer(t, mux)
	defer srv.Close()
	srv.Path = "/ws"
	tokens := wsgatetest.Signer{Key: exampleKey, Issuer: "auth", Audience: "app"}

	c := srv.Dial(wsgatetest.DialOptions{
		Origin:  "https://app.example.com",
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Token(t, "alice", nil)}},
	})
	fmt.Println(string(c.Request("greet", "mux").Data))
	// Output:
	// "hello, mux"
}

// TenantClaims is an application's own claims type.
type TenantClaims struct {
	jwt.RegisteredClaims
	Tenant string `json:"tenant"`
}

// Mint signs the application's own claims type: the Signer fills in the
// issuer, the audience and the time window, valid by default, or expired or
// not yet valid with TokenOptions.
func ExampleSigner_Mint() {
	t := new(testing.T)
	srv := wsgatetest.NewServer(t, exampleGateway())
	defer srv.Close()
	tokens := wsgatetest.Signer{Key: exampleKey, Issuer: "auth", Audience: "app"}
	alice := &TenantClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}, Tenant: "acme"}

	c := srv.Dial(wsgatetest.DialOptions{
		Origin:  "https://app.example.com",
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Mint(t, alice, wsgatetest.TokenOptions{})}},
	})
	fmt.Println(string(c.Request("greet", "acme").Data))

	expired := tokens.Mint(t, alice, wsgatetest.TokenOptions{ExpiresIn: -time.Hour})
	r := srv.Refused(wsgatetest.DialOptions{
		Origin:  "https://app.example.com",
		Cookies: []*http.Cookie{{Name: "access_token", Value: expired}},
	})
	fmt.Println(r.Status, r.Body.Message)
	// Output:
	// "hello, acme"
	// 401 token expired
}
