package wsgate_test

import (
	"fmt"
	"log"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// A gateway that mixes public and protected events for visitors without a
// session. AllowAnonymous admits a handshake that carries no token, with a
// nil principal; the gateway-wide Authenticated guard then keeps every
// event closed to it except those marked Public. A token that is present
// but bad is refused with 401 all the same.
//
// Without AllowAnonymous (the default, and what examples/nestport does, as
// the NestJS handleConnection disconnects a client without a cookie) a
// handshake with no token is refused with 401, and Public only lets a
// handler skip Authenticated on connections that are authenticated anyway.
func ExampleOptions_allowAnonymous() {
	key := []byte("example-key-at-least-32-bytes-long!")
	verifier, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: key, Issuer: "auth", Audience: "shop",
	})
	if err != nil {
		log.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:        []string{"https://shop.example.com"},
		Authenticator:  verifier, // the access_token cookie, when there is one
		AllowAnonymous: true,
		Guards:         []wsgate.Guard{wsgate.Authenticated},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Anyone may browse the catalogue...
	gw.Handle("catalog", func(*wsgate.Context) (any, error) {
		return []string{"tea", "coffee"}, nil
	}, wsgate.HandlerOptions{Public: true})
	// ...only a signed-in user has a cart.
	gw.Handle("cart", func(c *wsgate.Context) (any, error) {
		return "cart of " + c.Principal().Subject, nil
	}, wsgate.HandlerOptions{})

	// What a visitor, a signed-in user and a stale session get, in
	// memory. In a test, pass the test's *testing.T instead.
	t := new(testing.T)
	srv := wsgatetest.NewServer(t, gw)
	defer srv.Close()
	tokens := wsgatetest.Signer{Key: key, Issuer: "auth", Audience: "shop"}
	const origin = "https://shop.example.com"

	visitor := srv.Dial(wsgatetest.DialOptions{Origin: origin})
	fmt.Println("visitor catalog:", string(visitor.Request("catalog", nil).Data))
	fmt.Println("visitor cart:", visitor.Request("cart", nil).Error.Code)

	user := srv.Dial(wsgatetest.DialOptions{Origin: origin,
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Token(t, "alice", nil)}}})
	fmt.Println("user cart:", string(user.Request("cart", nil).Data))

	stale := srv.Refused(wsgatetest.DialOptions{Origin: origin,
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Expired(t, "alice")}}})
	fmt.Println("expired token:", stale.Status, stale.Body.Message)
	// Output:
	// visitor catalog: ["tea","coffee"]
	// visitor cart: UNAUTHORIZED
	// user cart: "cart of alice"
	// expired token: 401 token expired
}
