package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
)

// compareConfig is how compare runs.
type compareConfig struct {
	Rounds      int
	Warmup      time.Duration
	Duration    time.Duration
	Conns       []int  // round-trip runs, one per count
	Dialers     int    // concurrent dialers of the handshake run
	Idle        int    // idle connections; 0 skips the idle run
	IdleWarm    bool   // one round trip per idle connection first
	IdlePayload string // its echo payload; "hello" when empty
	Settle      time.Duration
	FanoutConns int // 0 skips the fan-out run
	RoomSize    int
	ServerCPUs  string // "auto", "none", or a list
	Compression string // the wsgate server's, offered by the client to every server
	Modes       []string
	JSON        bool
	Progress    io.Writer
}

// machine describes where compare ran.
type machine struct {
	Kind       string `json:"kind"` // "machine"
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	ServerCPUs string `json:"server_cpus"` // where the servers were pinned, or "not pinned"
	ClientCPUs string `json:"client_cpus"`
}

func (m machine) String() string {
	return fmt.Sprintf("%s, %d cores, %s, %s/%s; servers on CPU %s, client on CPU %s",
		m.CPU, m.Cores, m.Go, m.OS, runtime.GOARCH, m.ServerCPUs, m.ClientCPUs)
}

// serverProc is one of compare's servers, running as a child process
// ("wsgate-load serve").
type serverProc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startServer starts server name as a child process and waits for its
// address.
func startServer(exe, name, cpus, compression string, key []byte) (*serverProc, error) {
	args := []string{"serve", "-server", name, "-compression", compression}
	if cpus != "" {
		args = append(args, "-cpus", cpus)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), keyEnv+"="+hex.EncodeToString(key))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{name: name, cmd: cmd, stdin: stdin}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "listening ")
		if !ok || !found {
			p.stop()
			return nil, fmt.Errorf("server %s did not start", name)
		}
		p.addr = addr
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("server %s did not start within 30s", name)
	}
	return p, nil
}

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// stop closes the server's standard input, which shuts it down, and kills
// it if it has not exited 15 seconds later.
func (p *serverProc) stop() {
	_ = p.stdin.Close()
	exited := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-exited
	}
}

// target returns how the client reaches p.
func (p *serverProc) target(token string, compress websocket.CompressionMode) *target {
	t := &target{
		URL: "ws://" + p.addr + loadPath, Origin: loadOrigin, Tokens: []string{token},
		Cookie: "access_token", Compress: compress, Event: "echo", Payload: "hello",
	}
	t.init()
	return t
}

// pinning decides where the servers and the client run: with two CPUs or
// more and spec "auto", the servers get the last CPU this process may use
// and the client the others.
func pinning(spec string) (server, client string, err error) {
	if spec == "none" {
		return "", "", nil
	}
	allowed, err := allowedCPUs()
	if err != nil {
		if spec == "auto" {
			return "", "", nil
		}
		return "", "", err
	}
	var serverSet []int
	if spec == "auto" {
		if len(allowed) < 2 {
			return "", "", nil
		}
		serverSet = allowed[len(allowed)-1:]
	} else if serverSet, err = parseCPUs(spec); err != nil {
		return "", "", err
	}
	var clientSet []int
	for _, c := range allowed {
		if !slices.Contains(serverSet, c) {
			clientSet = append(clientSet, c)
		}
	}
	if len(clientSet) == 0 {
		return "", "", fmt.Errorf("no CPU left for the client after %s", spec)
	}
	if err := pinProcess(clientSet); err != nil {
		return "", "", err
	}
	return formatCPUs(serverSet), formatCPUs(clientSet), nil
}

// runCompare runs compare and writes its report to w.
func runCompare(ctx context.Context, cfg compareConfig, w io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	mode, err := parseCompression(cfg.Compression)
	if err != nil {
		return err
	}
	compress := clientCompression(mode)
	serverCPUs, clientCPUs, err := pinning(cfg.ServerCPUs)
	if err != nil {
		return fmt.Errorf("pinning: %w", err)
	}
	m := machine{Kind: "machine", CPU: cpuModel(), Cores: runtime.NumCPU(), Go: runtime.Version(),
		OS: kernel(), ServerCPUs: serverCPUs, ClientCPUs: clientCPUs}
	if serverCPUs == "" {
		m.ServerCPUs, m.ClientCPUs = "any (not pinned)", "any"
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	token, err := mintToken(key, "load")
	if err != nil {
		return err
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "compare on %s\n", m)
	}

	procs := map[string]*serverProc{}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for _, name := range serverNames {
		p, err := startServer(exe, name, serverCPUs, cfg.Compression, key)
		if err != nil {
			return err
		}
		procs[name] = p
	}

	var results []Result
	record := func(r Result) {
		results = append(results, r)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "round %d, %s %d, %s: %s\n", r.Round, r.Mode, r.Conns, r.Server, r.brief())
		}
	}
	want := func(m string) bool { return slices.Contains(cfg.Modes, m) }
	for round := 1; round <= cfg.Rounds; round++ {
		order := rotate(serverNames, round-1) // interleaved: no server always runs first
		run := func(name string, f func(*target, runConfig) (Result, error), rc runConfig) error {
			p := procs[name]
			rc.PID = p.pid()
			t := p.target(token, compress)
			if rc.Warm && cfg.IdlePayload != "" {
				t.Payload = cfg.IdlePayload
			}
			res, err := f(t, rc)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, name, err)
			}
			res.Server, res.Round = name, round
			record(res)
			return nil
		}
		timed := runConfig{Warmup: cfg.Warmup, Duration: cfg.Duration, Progress: cfg.Progress}
		if want("rt") {
			for _, n := range cfg.Conns {
				for _, name := range order {
					rc := timed
					rc.Conns = n
					if err := run(name, func(t *target, rc runConfig) (Result, error) { return runRoundTrips(ctx, t, rc) }, rc); err != nil {
						return err
					}
				}
			}
		}
		if want("handshake") {
			for _, name := range order {
				rc := timed
				rc.Conns = cfg.Dialers
				if err := run(name, func(t *target, rc runConfig) (Result, error) { return runHandshakes(ctx, t, rc) }, rc); err != nil {
					return err
				}
			}
		}
		if want("fanout") && cfg.FanoutConns > 0 {
			for _, name := range order {
				if name == serverBare {
					continue // it has no rooms
				}
				rc := timed
				rc.Conns, rc.RoomSize = cfg.FanoutConns, cfg.RoomSize
				rc.Join, rc.Say, rc.Said = "join", "say", "said"
				if err := run(name, func(t *target, rc runConfig) (Result, error) { return runFanout(ctx, t, rc) }, rc); err != nil {
					return err
				}
			}
		}
		if want("idle") && cfg.Idle > 0 {
			for _, name := range order {
				// A fresh process each time: a Go process keeps the memory
				// of earlier runs, which would hide what connections cost.
				procs[name].stop()
				delete(procs, name)
				p, err := startServer(exe, name, serverCPUs, cfg.Compression, key)
				if err != nil {
					return err
				}
				procs[name] = p
				rc := runConfig{Conns: cfg.Idle, Settle: cfg.Settle, Warm: cfg.IdleWarm, Progress: cfg.Progress}
				if err := run(name, func(t *target, rc runConfig) (Result, error) { return runIdle(ctx, t, rc) }, rc); err != nil {
					return err
				}
			}
		}
	}
	rows := summarize(results, cfg)
	if cfg.JSON {
		if err := writeJSON(w, results...); err != nil {
			return err
		}
		return writeSummaryJSON(w, m, rows)
	}
	fmt.Fprintf(w, "machine: %s\n", m)
	fmt.Fprintf(w, "medians of %d interleaved rounds; ratios are medians of the per-round ratios\n\n", cfg.Rounds)
	return writeSummary(w, rows)
}

// clientCompression is what the client offers when the gateway runs mode.
func clientCompression(mode wsgate.Compression) websocket.CompressionMode {
	switch mode {
	case wsgate.CompressionNoContextTakeover:
		return websocket.CompressionNoContextTakeover
	case wsgate.CompressionContextTakeover:
		return websocket.CompressionContextTakeover
	}
	return websocket.CompressionDisabled
}

func rotate(s []string, n int) []string {
	n %= len(s)
	return append(slices.Clone(s[n:]), s[:n]...)
}

// summaryRow is one line of compare's table: a figure's median per server
// and the medians of wsgate's per-round ratios to the other two.
type summaryRow struct {
	Kind             string             `json:"kind"` // "summary"
	Metric           string             `json:"metric"`
	Median           map[string]float64 `json:"median"`
	RatioHandwritten float64            `json:"wsgate_per_handwritten,omitempty"`
	RatioBare        float64            `json:"wsgate_per_bare,omitempty"`
	prec             int
}

// summarize reduces the results of every round to compare's table.
func summarize(results []Result, cfg compareConfig) []summaryRow {
	type metric struct {
		name  string
		mode  string
		conns int
		value func(Result) float64
		prec  int
	}
	var metrics []metric
	for _, n := range cfg.Conns {
		metrics = append(metrics,
			metric{fmt.Sprintf("round trips/s per server core, %s connections", thousands(float64(n))), "rt", n, func(r Result) float64 { return r.PerCore }, 0},
			metric{fmt.Sprintf("round trips/s, %s connections", thousands(float64(n))), "rt", n, func(r Result) float64 { return r.Rate }, 0},
			metric{fmt.Sprintf("p99 ms, %s connections", thousands(float64(n))), "rt", n, func(r Result) float64 { return r.P99 }, 3},
			metric{fmt.Sprintf("server CPU µs per round trip, %s connections", thousands(float64(n))), "rt", n, func(r Result) float64 { return r.ServerCPU }, 1},
		)
	}
	metrics = append(metrics,
		metric{"authenticated handshakes/s per server core", "handshake", cfg.Dialers, func(r Result) float64 { return r.PerCore }, 0},
		metric{"authenticated handshakes/s", "handshake", cfg.Dialers, func(r Result) float64 { return r.Rate }, 0},
		metric{"server CPU µs per handshake", "handshake", cfg.Dialers, func(r Result) float64 { return r.ServerCPU }, 1},
		metric{fmt.Sprintf("fan-out deliveries/s per server core, %s connections in rooms of %d", thousands(float64(cfg.FanoutConns)), cfg.RoomSize), "fanout", cfg.FanoutConns, func(r Result) float64 { return r.PerCore }, 0},
		metric{fmt.Sprintf("fan-out deliveries/s, %s connections in rooms of %d", thousands(float64(cfg.FanoutConns)), cfg.RoomSize), "fanout", cfg.FanoutConns, func(r Result) float64 { return r.Rate }, 0},
		metric{fmt.Sprintf("fan-out p99 ms, %s connections in rooms of %d", thousands(float64(cfg.FanoutConns)), cfg.RoomSize), "fanout", cfg.FanoutConns, func(r Result) float64 { return r.P99 }, 3},
		metric{fmt.Sprintf("KiB per idle authenticated connection at %s", thousands(float64(cfg.Idle))), "idle", cfg.Idle, func(r Result) float64 { return r.KiBPer }, 1},
	)
	var rows []summaryRow
	for _, m := range metrics {
		byRound := map[int]map[string]float64{}
		perServer := map[string][]float64{}
		for _, r := range results {
			if r.Mode != m.mode || r.Conns != m.conns {
				continue
			}
			v := m.value(r)
			if v == 0 {
				continue
			}
			if byRound[r.Round] == nil {
				byRound[r.Round] = map[string]float64{}
			}
			byRound[r.Round][r.Server] = v
			perServer[r.Server] = append(perServer[r.Server], v)
		}
		if len(perServer) == 0 {
			continue
		}
		row := summaryRow{Kind: "summary", Metric: m.name, Median: map[string]float64{}, prec: m.prec}
		for s, vs := range perServer {
			row.Median[s] = median(vs)
		}
		var toHand, toBare []float64
		for _, vs := range byRound {
			if g, ok := vs[serverWsgate]; ok {
				if h, ok := vs[serverHandwritten]; ok {
					toHand = append(toHand, g/h)
				}
				if b, ok := vs[serverBare]; ok {
					toBare = append(toBare, g/b)
				}
			}
		}
		row.RatioHandwritten, row.RatioBare = median(toHand), median(toBare)
		rows = append(rows, row)
	}
	return rows
}

// median returns the middle value (the mean of the two middle ones for an
// even count), or 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func writeSummary(w io.Writer, rows []summaryRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tbare coder echo\thand-written\twsgate\twsgate ÷ hand-written\twsgate ÷ bare\t")
	for _, r := range rows {
		cell := func(s string) string {
			v, ok := r.Median[s]
			if !ok {
				return "—"
			}
			if r.prec == 0 {
				return thousands(v)
			}
			return strconv.FormatFloat(v, 'f', r.prec, 64)
		}
		ratio := func(v float64) string {
			if v == 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f×", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Metric, cell(serverBare), cell(serverHandwritten), cell(serverWsgate),
			ratio(r.RatioHandwritten), ratio(r.RatioBare))
	}
	return tw.Flush()
}

func writeSummaryJSON(w io.Writer, m machine, rows []summaryRow) error {
	if err := writeJSONValue(w, m); err != nil {
		return err
	}
	for _, r := range rows {
		if err := writeJSONValue(w, r); err != nil {
			return err
		}
	}
	return nil
}

// parseCPUs reads a CPU list such as "0,2-3".
func parseCPUs(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: want numbers and ranges, as 0,2-3", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: want numbers and ranges, as 0,2-3", s)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, errors.New("empty CPU list")
	}
	return cpus, nil
}

// formatCPUs writes a CPU list as parseCPUs reads it (without ranges).
func formatCPUs(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}
