package browsertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
	"github.com/wsgate/wsgate/wsgatetest"
)

// clientBundle is socket.io-client's browser bundle as npm installed it for
// the socketio package's tests (npm ci in socketio/testdata/node); the test
// serves it itself, no CDN.
var clientBundle = filepath.Join("..", "..", "socketio", "testdata", "node", "node_modules", "socket.io-client", "dist", "socket.io.min.js")

// TestSocketIOPageRoundTrip: a page loads the socket.io client bundle,
// sets the token cookie and connects with socket.io-client's defaults
// (polling, then the upgrade): emitWithAck("xyz") resolves with the ack and
// the xyz event arrives. It does so from the gateway's own origin, and from
// another allowed origin (a front end of its own, withCredentials), whose
// polling requests go through the gateway's CORS answers.
func TestSocketIOPageRoundTrip(t *testing.T) {
	if _, err := os.Stat(clientBundle); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("socket.io-client is not installed (npm ci in socketio/testdata/node): %v", err)
		}
		t.Skipf("socket.io-client is not installed (npm ci in socketio/testdata/node): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	key := []byte("browsertest-hs256-key-of-at-least-32-bytes")
	tokens := wsgatetest.Signer{Key: key}
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>socket.io</title>\n")
	})
	bundle := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, clientBundle)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /client.js", bundle)
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)
	frontMux := http.NewServeMux()
	frontMux.Handle("GET /{$}", page)
	frontMux.Handle("GET /client.js", bundle)
	front := httptest.NewServer(frontMux)
	t.Cleanup(front.Close)

	verifier, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{Methods: []string{"HS256"}, Key: key, AllowAnyIssuer: true, AllowAnyAudience: true})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{Origins: []string{app.URL, front.URL}, Authenticator: verifier})
	if err != nil {
		t.Fatal(err)
	}
	wsgate.On(gw, "xyz", func(c *wsgate.Context, in any) (map[string]any, error) {
		resp := map[string]any{"received": in, "sub": c.Principal().Subject}
		return resp, c.Emit("xyz", resp)
	}, wsgate.HandlerOptions{})
	sio, err := socketio.New(gw, socketio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/socket.io/", sio)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		sio.Close()
	})

	run := browse(ctx, t)
	run(app.URL+"/", nil, setCookie, tokens.Token(t, "alice", nil))
	const roundTrip = `new Promise((resolve) => {
		const s = document.createElement("script");
		s.src = "/client.js";
		s.onerror = () => resolve({error: "the client bundle did not load"});
		s.onload = async () => {
			const out = {};
			const socket = io(%s, {withCredentials: true, reconnection: false});
			const timer = setTimeout(() => { out.error = "timed out after: " + log.join(", "); socket.disconnect(); resolve(out); }, 15000);
			const log = [];
			socket.on("connect", () => log.push("connect"));
			socket.on("disconnect", (r) => log.push("disconnect " + r));
			socket.on("connect_error", (e) => log.push("connect_error " + e.message));
			const event = new Promise((ok) => socket.on("xyz", ok));
			socket.io.on("open", () => socket.io.engine.on("upgrade", (t) => { out.upgradedTo = t.name; }));
			try {
				out.ack = JSON.stringify(await socket.emitWithAck("xyz", {hello: "world"}));
				out.event = JSON.stringify(await event);
				await new Promise((ok) => { if (out.upgradedTo) ok(); else socket.io.engine.on("upgrade", ok); });
			} catch (e) {
				out.error = String(e);
			}
			clearTimeout(timer);
			socket.disconnect();
			resolve(out);
		};
		document.head.appendChild(s);
	})`
	want := `{"received":{"hello":"world"},"sub":"alice"}`
	for name, pageURL := range map[string]string{"same origin": app.URL, "another allowed origin": front.URL} {
		var got struct{ Ack, Event, UpgradedTo, Error string }
		run(pageURL+"/", &got, roundTrip, app.URL)
		if got.Error != "" || got.Ack != want || got.Event != want || got.UpgradedTo != "websocket" {
			t.Errorf("%s: %+v, want the ack and the event %s, upgraded to websocket", name, got, want)
		}
	}
}
