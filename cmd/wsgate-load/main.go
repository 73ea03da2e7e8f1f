// Command wsgate-load puts load on a wsgate deployment to size it, and
// compares wsgate with the servers it is measured against.
//
// Usage:
//
//	wsgate-load rt        [flags]   request/ack round trips over -c connections, one in flight on each
//	wsgate-load handshake [flags]   a handshake storm: -c dialers connect and drop, as fast as they can
//	wsgate-load idle      [flags]   -c idle connections; with -pid, the server's memory per connection
//	wsgate-load fanout    [flags]   -c connections in rooms of -room-size; one member of each emits to its room
//	wsgate-load compare   [flags]   a bare coder/websocket echo, a hand-written server and wsgate, on loopback
//
// The first four modes drive any deployment. The target comes from flags or
// the environment: -url (WSGATE_URL), -token (WSGATE_TOKEN) or -token-file
// (WSGATE_TOKEN_FILE: one token a line, used in turn by the connections, so
// that per-subject connection caps can be met with several subjects), and
// -origin (WSGATE_ORIGIN). The token goes in the cookie named by -cookie
// (access_token), or with -bearer in an Authorization header. With -pid,
// the server's CPU time per operation (from /proc/<pid>/stat) and, in idle
// mode, its resident memory (VmRSS of /proc/<pid>/status) are reported.
//
// The target must have these events (the compare mode's wsgate server has
// them; the names are flags):
//
//	echo {"n":…,"s":…}          any success ack                          rt, idle -warm (-event)
//	join {"room":…}             joins the room, then acks                fanout (-join)
//	say  {"room":…,"data":…}    emits "said" with data to every member   fanout (-say, -said)
//	                            of the room, sender included, then acks
//
// Results are a table, or JSON lines with -json; progress goes to standard
// error every second (-q for none). The tool raises its own limit on open
// files to the hard limit.
//
// compare starts each server as a child process ("wsgate-load serve"),
// pinned to one CPU when there are two or more (the client gets the
// others), drives them interleaved for -rounds rounds with the same client,
// and prints each figure's median per server and the medians of wsgate's
// per-round ratios to the other two, with the machine it ran on. Its wsgate
// and hand-written servers verify an HS256 JWT from a cookie and check the
// origin; wsgate runs its defaults but for the rate limit and the
// connection caps, which a load client exceeds by design.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "wsgate-load:", err)
		}
		os.Exit(2)
	}
}

const usage = `usage: wsgate-load rt|handshake|idle|fanout|compare [flags]
run "wsgate-load <mode> -h" for a mode's flags`

// run runs the subcommand args[0].
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	mode, args := args[0], args[1:]
	if mode == "serve" {
		return serveMain(args, stdin, stdout)
	}
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.Bool("json", false, "JSON lines instead of a table")
	quiet := fs.Bool("q", false, "no progress on standard error")
	warmup := fs.Duration("warmup", time.Second, "run this long before measuring")
	duration := fs.Duration("d", 10*time.Second, "measure this long")
	if mode == "compare" {
		return compareMain(ctx, fs, args, stdout, stderr, jsonOut, quiet, warmup, duration)
	}
	if !slices.Contains([]string{"rt", "handshake", "idle", "fanout"}, mode) {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("no mode %q", mode)
	}
	defaultConns := map[string]int{"rt": 64, "handshake": 16, "idle": 1000, "fanout": 1000}[mode]
	url := fs.String("url", os.Getenv("WSGATE_URL"), "the gateway's ws:// or wss:// URL (WSGATE_URL)")
	token := fs.String("token", os.Getenv("WSGATE_TOKEN"), "the token every connection sends (WSGATE_TOKEN)")
	tokenFile := fs.String("token-file", os.Getenv("WSGATE_TOKEN_FILE"), "tokens, one a line, used in turn (WSGATE_TOKEN_FILE)")
	origin := fs.String("origin", os.Getenv("WSGATE_ORIGIN"), "the Origin header (WSGATE_ORIGIN)")
	cookie := fs.String("cookie", "access_token", "the token cookie's name")
	bearer := fs.Bool("bearer", false, "send the token in an Authorization: Bearer header, not a cookie")
	compress := fs.String("compress", "off", "offer permessage-deflate: off, nocontext, context")
	conns := fs.Int("c", defaultConns, "connections (handshake: concurrent dialers)")
	pid := fs.Int("pid", 0, "the server's process id, on this machine: its CPU time and memory are reported")
	event := fs.String("event", "echo", "rt: the request event")
	payload := fs.String("payload", "hello", `rt: the "s" string of each request's data`)
	payloadSize := fs.Int("payload-size", 0, `rt: an "s" string of this many bytes instead of -payload`)
	settle := fs.Duration("settle", 2*time.Second, "idle: how long the connections idle before the memory is read")
	warmIdle := fs.Bool("warm", false, "idle: one round trip on each connection before it idles")
	roomSize := fs.Int("room-size", 100, "fanout: members per room")
	join := fs.String("join", "join", "fanout: the event that joins a room")
	say := fs.String("say", "say", "fanout: the event that emits to a room")
	said := fs.String("said", "said", "fanout: the event members receive")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *url == "" {
		return errors.New("no target: set -url or WSGATE_URL")
	}
	if *conns <= 0 {
		return errors.New("-c must be at least 1")
	}
	if *roomSize <= 0 {
		return errors.New("-room-size must be at least 1")
	}
	offer, err := parseCompression(*compress)
	if err != nil {
		return err
	}
	t := &target{URL: *url, Origin: *origin, Cookie: *cookie, Bearer: *bearer, Compress: clientCompression(offer),
		Event: *event, Payload: *payload}
	if *payloadSize > 0 {
		t.Payload = strings.Repeat("x", *payloadSize)
	}
	if *token != "" {
		t.Tokens = []string{*token}
	}
	if *tokenFile != "" {
		tokens, err := readTokens(*tokenFile)
		if err != nil {
			return err
		}
		t.Tokens = append(t.Tokens, tokens...)
	}
	t.init()
	limit, err := raiseFileLimit()
	if err != nil {
		fmt.Fprintf(stderr, "wsgate-load: cannot raise the file limit: %v\n", err)
	} else if uint64(*conns)+64 > limit {
		fmt.Fprintf(stderr, "wsgate-load: %d connections but a limit of %d open files\n", *conns, limit)
	}
	cfg := runConfig{Conns: *conns, Warmup: *warmup, Duration: *duration, PID: *pid, Settle: *settle, Warm: *warmIdle,
		RoomSize: *roomSize, Join: *join, Say: *say, Said: *said}
	if !*quiet {
		cfg.Progress = stderr
	}
	var res Result
	switch mode {
	case "rt":
		res, err = runRoundTrips(ctx, t, cfg)
	case "handshake":
		res, err = runHandshakes(ctx, t, cfg)
	case "idle":
		res, err = runIdle(ctx, t, cfg)
	case "fanout":
		res, err = runFanout(ctx, t, cfg)
	}
	if err != nil {
		return err
	}
	if *jsonOut {
		return writeJSON(stdout, res)
	}
	return writeTable(stdout, res)
}

func compareMain(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer,
	jsonOut, quiet *bool, warmup, duration *time.Duration) error {
	rounds := fs.Int("rounds", 5, "interleaved rounds; medians are taken over them")
	conns := fs.String("c", "64,1000", "connection counts of the round-trip runs")
	dialers := fs.Int("dialers", 16, "concurrent dialers of the handshake run")
	idle := fs.Int("idle", 10000, "idle connections (0: no idle run)")
	idleWarm := fs.Bool("idle-warm", false, "one round trip on each idle connection first")
	idlePayload := fs.Int("idle-payload", 0, "with -idle-warm: an echo payload of this many bytes (to exercise compression)")
	settle := fs.Duration("settle", 2*time.Second, "how long idle connections idle before the memory is read")
	fanout := fs.Int("fanout", 1000, "connections of the fan-out run (0: none)")
	roomSize := fs.Int("room-size", 100, "members per room of the fan-out run")
	cpus := fs.String("server-cpus", "auto", `CPUs for the servers ("auto": the last one, with two or more; "none")`)
	compression := fs.String("compression", "off", "wsgate's Compression (off, nocontext, context), offered by the client to every server")
	modes := fs.String("modes", "rt,handshake,fanout,idle", "which runs, of rt, handshake, fanout, idle")
	fs.Lookup("d").DefValue = "3s"
	*duration = 3 * time.Second
	fs.Lookup("warmup").DefValue = "500ms"
	*warmup = 500 * time.Millisecond
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := compareConfig{Rounds: *rounds, Warmup: *warmup, Duration: *duration, Dialers: *dialers, Idle: *idle,
		IdleWarm: *idleWarm, Settle: *settle, FanoutConns: *fanout, RoomSize: *roomSize, ServerCPUs: *cpus,
		Compression: *compression, JSON: *jsonOut, Modes: strings.Split(*modes, ",")}
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			return fmt.Errorf("-c %q: want connection counts, as 64,1000", *conns)
		}
		cfg.Conns = append(cfg.Conns, n)
	}
	for _, m := range cfg.Modes {
		if !slices.Contains([]string{"rt", "handshake", "fanout", "idle"}, m) {
			return fmt.Errorf("-modes: no run %q", m)
		}
	}
	if cfg.RoomSize < 1 {
		return errors.New("-room-size must be at least 1")
	}
	if cfg.Rounds < 1 || cfg.Dialers < 1 {
		return errors.New("-rounds and -dialers must be at least 1")
	}
	if *idlePayload > 0 {
		cfg.IdlePayload = strings.Repeat("wsgate-load ", *idlePayload/12+1)[:*idlePayload]
	}
	if _, err := raiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "wsgate-load: cannot raise the file limit: %v\n", err)
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	return runCompare(ctx, cfg, stdout)
}

// readTokens reads one token a line, skipping blank lines.
func readTokens(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var tokens []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 16<<10), 1<<20)
	for s.Scan() {
		if t := strings.TrimSpace(s.Text()); t != "" {
			tokens = append(tokens, t)
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s holds no token", path)
	}
	return tokens, nil
}
