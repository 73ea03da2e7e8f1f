package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/internal/baseline"
)

// The servers compare runs, all on the path /ws. The authenticated ones
// take tokens signed with HS256 by the run's key, for this issuer and
// audience, in the access_token cookie, from this origin.
const (
	loadIssuer   = "wsgate-load"
	loadAudience = "wsgate-load"
	loadOrigin   = "http://wsgate-load.localhost"
	loadPath     = "/ws"
	keyEnv       = "WSGATE_LOAD_KEY" // hex; how compare hands the key to its servers
)

// Names of compare's servers.
const (
	serverBare        = "bare"
	serverHandwritten = "handwritten"
	serverWsgate      = "wsgate"
)

var serverNames = []string{serverBare, serverHandwritten, serverWsgate}

// serverConfig configures one of compare's servers.
type serverConfig struct {
	Key         []byte
	Compression wsgate.Compression // wsgate only
}

// newServer returns the handler of server name: the bare coder/websocket
// echo, the hand-written server (internal/baseline), or the wsgate
// gateway. The gateway's Shutdown is returned too (nil for the others).
func newServer(name string, cfg serverConfig) (http.Handler, func(context.Context) error, error) {
	switch name {
	case serverBare:
		return baseline.Echo(), nil, nil
	case serverHandwritten:
		return baseline.New(baseline.Config{Origin: loadOrigin, Key: cfg.Key, Issuer: loadIssuer, Audience: loadAudience}), nil, nil
	case serverWsgate:
		gw, err := newGateway(cfg)
		if err != nil {
			return nil, nil, err
		}
		return gw, gw.Shutdown, nil
	}
	return nil, nil, fmt.Errorf("no server %q (want bare, handwritten or wsgate)", name)
}

// newGateway is the wsgate server of compare, and the events every target
// of the tool is expected to have:
//
//	echo {"n":…,"s":…}            acked with {"n":…,"s":…,"sub":<subject>}   (rt, idle -warm)
//	join {"room":…}               joins the room, acked                      (fanout)
//	say  {"room":…,"data":…}      emits "said" with data to the room, sender included, acked (fanout)
//
// It runs with the defaults but for three limits lifted, since a load
// client is one subject flooding on purpose: the per-connection rate limit,
// the per-subject and the gateway-wide connection caps.
func newGateway(cfg serverConfig) (*wsgate.Gateway, error) {
	v, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: cfg.Key, Issuer: loadIssuer, Audience: loadAudience,
	})
	if err != nil {
		return nil, err
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:         []string{loadOrigin},
		Authenticator:   v,
		Guards:          []wsgate.Guard{wsgate.Authenticated},
		EventsPerSecond: -1,
		MaxConnections:  -1,
		Compression:     cfg.Compression,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),

		MaxConnectionsPerSubject: -1,
	})
	if err != nil {
		return nil, err
	}
	wsgate.On(gw, "echo", func(c *wsgate.Context, in baseline.EchoIn) (baseline.EchoOut, error) {
		return baseline.EchoOut{N: in.N, S: in.S, Sub: c.Principal().Subject}, nil
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "join", func(c *wsgate.Context, in baseline.RoomIn) (any, error) {
		return nil, c.Conn().Join(in.Room)
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "say", func(c *wsgate.Context, in baseline.RoomIn) (any, error) {
		return nil, gw.To(in.Room).Emit("said", json.RawMessage(in.Data))
	}, wsgate.HandlerOptions{})
	return gw, nil
}

// mintToken signs a token for compare's servers, valid for a day.
func mintToken(key []byte, subject string) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: subject, Issuer: loadIssuer, Audience: jwt.ClaimStrings{loadAudience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(24 * time.Hour)),
	}).SignedString(key)
}

// serveMain is the hidden "serve" subcommand compare starts each server
// with: it listens on loopback, prints "listening <addr>", serves until its
// standard input closes (compare ends, or dies), then shuts down.
func serveMain(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	name := fs.String("server", serverWsgate, "bare, handwritten or wsgate")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	cpus := fs.String("cpus", "", "CPUs to pin the server to, as 0,2-3 (none: not pinned)")
	compression := fs.String("compression", "off", "wsgate's Compression: off, nocontext, context")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := hex.DecodeString(os.Getenv(keyEnv))
	if err != nil || len(key) < 32 {
		return fmt.Errorf("%s must hold a hex key of at least 32 bytes", keyEnv)
	}
	if *cpus != "" {
		set, err := parseCPUs(*cpus)
		if err != nil {
			return err
		}
		if err := pinProcess(set); err != nil {
			return fmt.Errorf("pin to CPUs %s: %w", *cpus, err)
		}
	}
	if _, err := raiseFileLimit(); err != nil {
		return fmt.Errorf("raise the file limit: %w", err)
	}
	mode, err := parseCompression(*compression)
	if err != nil {
		return err
	}
	h, shutdown, err := newServer(*name, serverConfig{Key: key, Compression: mode})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(loadPath, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, bufio.NewReader(stdin))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if shutdown != nil {
		_ = shutdown(ctx)
	}
	_ = srv.Shutdown(ctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// parseCompression reads a Compression by its short name.
func parseCompression(s string) (wsgate.Compression, error) {
	switch s {
	case "off", "":
		return wsgate.CompressionOff, nil
	case "nocontext":
		return wsgate.CompressionNoContextTakeover, nil
	case "context":
		return wsgate.CompressionContextTakeover, nil
	}
	return 0, fmt.Errorf("compression %q: want off, nocontext or context", s)
}
