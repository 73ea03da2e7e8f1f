package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/baseline"
	"github.com/wsgate/wsgate/internal/leakcheck"
)

// TestMain runs the tests, or, as compare re-executes this binary with
// "serve", one of compare's servers.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serveMain(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString("serve: " + err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	leakcheck.Main(m)
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	h := newHistogram()
	if got := h.quantile(0.5); got != 0 {
		t.Fatalf("empty histogram: p50 %v, want 0", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var exact []int64
	rec := newRecorder(h)
	for range 100_000 {
		// Log-normal-ish latencies from 20 µs to tens of ms, and a few tiny ones.
		v := int64(20_000 * (1 + r.ExpFloat64()*r.ExpFloat64()*20))
		if r.IntN(1000) == 0 {
			v = int64(r.IntN(128))
		}
		exact = append(exact, v)
		rec.record(time.Duration(v))
	}
	rec.flush()
	if h.count() != uint64(len(exact)) {
		t.Fatalf("count %d, want %d", h.count(), len(exact))
	}
	slices.Sort(exact)
	for _, q := range []float64{0.0001, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(q*float64(len(exact)) + 0.999999)
		want := exact[max(rank, 1)-1]
		got := int64(h.quantile(q))
		if d := float64(got-want) / float64(want); d > 0.005 || d < -0.005 {
			t.Errorf("q %v: %d, want %d (±0.5%%)", q, got, want)
		}
	}
	if got := h.quantile(1); int64(got) != exact[len(exact)-1] {
		t.Errorf("p100 %d, want the maximum %d", got, exact[len(exact)-1])
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	t.Parallel()
	h := newHistogram()
	h.add(5, 7, 7, 100)
	for q, want := range map[float64]time.Duration{0.25: 5, 0.5: 7, 0.75: 7, 1: 100} {
		if got := h.quantile(q); got != want {
			t.Errorf("q %v: %v, want %v", q, got, want)
		}
	}
	// Every bucket's middle lies in that bucket, and buckets grow with values.
	prev := -1
	for v := int64(0); v < 1<<30; v = v*17/16 + 1 {
		b := bucket(v)
		if b < prev {
			t.Fatalf("bucket(%d) = %d after %d", v, b, prev)
		}
		if bucket(bucketMid(b)) != b {
			t.Fatalf("middle of bucket %d (%d) is in bucket %d", b, bucketMid(b), bucket(bucketMid(b)))
		}
		prev = b
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestProcParsing(t *testing.T) {
	t.Parallel()
	// The command name may hold spaces and parentheses.
	stat := "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 123 456 789"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 3.25 {
		t.Fatalf("parseStatCPU: %v, %v; want 3.25 s (250+75 ticks)", cpu, err)
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Error("parseStatCPU(garbage): no error")
	}
	status := "Name:\tx\nVmPeak:\t  9999 kB\nVmRSS:\t   23456 kB\nThreads:\t5\n"
	rss, err := parseVmRSS([]byte(status))
	if err != nil || rss != 23456 {
		t.Fatalf("parseVmRSS: %v, %v; want 23456", rss, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("parseVmRSS without VmRSS: no error")
	}
	if runtime.GOOS == "linux" {
		if rss, err := processRSS(os.Getpid()); err != nil || rss <= 0 {
			t.Errorf("processRSS(self): %v, %v", rss, err)
		}
		if _, err := processCPU(os.Getpid()); err != nil {
			t.Errorf("processCPU(self): %v", err)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	t.Parallel()
	got, err := parseCPUs("0,2-4,7")
	if err != nil || !slices.Equal(got, []int{0, 2, 3, 4, 7}) {
		t.Fatalf("parseCPUs: %v, %v", got, err)
	}
	for _, bad := range []string{"", "a", "3-1", "-1", "1,"} {
		if _, err := parseCPUs(bad); err == nil {
			t.Errorf("parseCPUs(%q): no error", bad)
		}
	}
	if s := formatCPUs([]int{1, 3}); s != "1,3" {
		t.Errorf("formatCPUs: %q", s)
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "-", 7: "7", 999.6: "1,000", 57714: "57,714", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

var sampleResult = Result{
	Mode: "rt", Server: "wsgate", Round: 2, Conns: 64, Seconds: 3, Ops: 173142, Rate: 57714,
	Errors: 3, Codes: map[string]int64{"RATE_LIMITED": 2, "INTERNAL": 1},
	P50: 1.0625, P99: 4.5, P999: 9.25, ServerCPU: 17.2,
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := writeTable(&b, sampleResult, Result{Mode: "idle", Conns: 10000, KiBPer: 27.14}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and 2 rows:\n%s", len(lines), b.String())
	}
	for _, want := range []string{"57,714", "1.062", "4.500", "9.250", "3 (RATE_LIMITED×2, INTERNAL×1)", "17.2", "wsgate"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if f := strings.Fields(lines[2]); f[0] != "idle" || f[2] != "10000" || f[len(f)-1] != "27.1" {
		t.Errorf("idle row: %q", lines[2])
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := writeJSON(&b, sampleResult, Result{Mode: "idle", Conns: 10}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	var got Result
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	if got.Rate != 57714 || got.P99 != 4.5 || got.Codes["RATE_LIMITED"] != 2 || got.ServerCPU != 17.2 {
		t.Errorf("decoded %+v", got)
	}
	if strings.Contains(lines[1], "rate") || strings.Contains(lines[1], "kib_per_conn") {
		t.Errorf("unmeasured figures written: %s", lines[1])
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	cfg := compareConfig{Conns: []int{64}, Dialers: 4, Idle: 100, FanoutConns: 10, RoomSize: 5}
	var results []Result
	// Three rounds; wsgate ÷ hand-written is 0.5, 1.0 and 2.0: median 1.0,
	// while the ratio of the medians would be 600/450.
	for i, v := range [][3]float64{{1000, 400, 200}, {1000, 450, 450}, {1000, 500, 1000}} {
		for j, name := range serverNames {
			results = append(results, Result{Mode: "rt", Server: name, Round: i + 1, Conns: 64, Rate: v[j]})
		}
	}
	rows := summarize(results, cfg)
	if len(rows) != 1 || rows[0].Metric != "round trips/s, 64 connections" {
		t.Fatalf("rows: %+v", rows)
	}
	r := rows[0]
	if r.Median[serverWsgate] != 450 || r.Median[serverHandwritten] != 450 || r.RatioHandwritten != 1 || r.RatioBare != 0.45 {
		t.Errorf("row: %+v", r)
	}
	var b bytes.Buffer
	if err := writeSummary(&b, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1.00×") || !strings.Contains(b.String(), "0.45×") {
		t.Errorf("table:\n%s", b.String())
	}
}

// loopback serves h on a loopback port at loadPath and returns its target.
func loopback(t *testing.T, h http.Handler, token string) *target {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(loadPath, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tg := &target{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + loadPath, Origin: loadOrigin,
		Cookie: "access_token", Event: "echo", Payload: "hello"}
	if token != "" {
		tg.Tokens = []string{token}
	}
	tg.init()
	return tg
}

// gatewayTarget starts compare's wsgate server in this process.
func gatewayTarget(t *testing.T) *target {
	t.Helper()
	key := bytes.Repeat([]byte("k"), 32)
	gw, err := newGateway(serverConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	token, err := mintToken(key, "tester")
	if err != nil {
		t.Fatal(err)
	}
	return loopback(t, gw, token)
}

var quick = runConfig{Warmup: 50 * time.Millisecond, Duration: 400 * time.Millisecond}

func wantClean(t *testing.T, res Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Rate <= 0 || res.Errors != 0 || res.P50 <= 0 || res.P99 < res.P50 || res.P999 < res.P99 {
		t.Fatalf("result %+v", res)
	}
}

func TestRoundTripsAgainstGateway(t *testing.T) {
	t.Parallel()
	cfg := quick
	cfg.Conns = 4
	cfg.PID = os.Getpid() // the server runs in this process
	res, err := runRoundTrips(context.Background(), gatewayTarget(t), cfg)
	wantClean(t, res, err)
	if runtime.GOOS == "linux" && res.ServerCPU <= 0 {
		t.Errorf("no CPU time per round trip: %+v", res)
	}
}

func TestRoundTripErrorsCounted(t *testing.T) {
	t.Parallel()
	tg := gatewayTarget(t)
	tg.Event = "no-such-event"
	cfg := quick
	cfg.Conns = 2
	res, err := runRoundTrips(context.Background(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.Errors == 0 || res.Codes["UNKNOWN_EVENT"] != res.Errors {
		t.Fatalf("result %+v, want every request answered UNKNOWN_EVENT", res)
	}
}

func TestRefusedHandshakeReported(t *testing.T) {
	t.Parallel()
	tg := gatewayTarget(t)
	tg.Tokens = nil
	cfg := quick
	cfg.Conns = 3
	_, err := runRoundTrips(context.Background(), tg, cfg)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "missing token") {
		t.Fatalf("error %v, want the 401 and its reason", err)
	}
	hs := quick
	hs.Conns = 2
	res, err := runHandshakes(context.Background(), tg, hs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.Errors == 0 || res.Codes["HTTP 401"] != res.Errors {
		t.Fatalf("handshakes without a token: %+v", res)
	}
}

func TestHandshakesAgainstGateway(t *testing.T) {
	t.Parallel()
	cfg := quick
	cfg.Conns = 2
	res, err := runHandshakes(context.Background(), gatewayTarget(t), cfg)
	wantClean(t, res, err)
}

func TestIdleAgainstGateway(t *testing.T) {
	t.Parallel()
	cfg := runConfig{Conns: 20, Settle: 50 * time.Millisecond, Warm: true}
	if runtime.GOOS == "linux" {
		cfg.PID = os.Getpid()
	}
	res, err := runIdle(context.Background(), gatewayTarget(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Conns != 20 || (cfg.PID != 0 && (res.RSSBefore <= 0 || res.RSSAfter <= 0)) {
		t.Fatalf("result %+v", res)
	}
}

func TestFanout(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte("k"), 32)
	token, err := mintToken(key, "tester")
	if err != nil {
		t.Fatal(err)
	}
	for name, tg := range map[string]*target{
		"wsgate":      gatewayTarget(t),
		"handwritten": loopback(t, baseline.New(baseline.Config{Origin: loadOrigin, Key: key, Issuer: loadIssuer, Audience: loadAudience}), token),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := quick
			cfg.Conns, cfg.RoomSize = 12, 5 // rooms of 5, 5 and 2
			cfg.Join, cfg.Say, cfg.Said = "join", "say", "said"
			res, err := runFanout(context.Background(), tg, cfg)
			wantClean(t, res, err)
			if res.Emits == 0 || res.Ops < res.Emits*2 || res.Ops > res.Emits*5 {
				t.Fatalf("%d deliveries for %d emits to rooms of 2 to 5", res.Ops, res.Emits)
			}
		})
	}
}

func TestRunFlags(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	for _, args := range [][]string{
		{},
		{"nope"},
		{"rt"},                              // no URL
		{"rt", "-url", "ws://x", "-c", "0"}, // no connections
		{"rt", "-url", "ws://x", "-compress", "max"},
		{"compare", "-modes", "rt,nap"},
		{"compare", "-c", "64,x"},
	} {
		if err := run(context.Background(), args, strings.NewReader(""), &out, &errOut); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
	// Rooms of no member would silently become one room of everyone.
	for _, args := range [][]string{
		{"fanout", "-url", "ws://x", "-room-size", "0"},
		{"compare", "-room-size", "-1"},
	} {
		err := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "-room-size") {
			t.Errorf("run %q: %v, want an error about -room-size", args, err)
		}
	}
}

// TestRunRoundTrips runs the command's rt mode end to end, with JSON out.
func TestRunRoundTrips(t *testing.T) {
	t.Parallel()
	tg := gatewayTarget(t)
	var out, errOut bytes.Buffer
	args := []string{"rt", "-url", tg.URL, "-token", tg.Tokens[0], "-origin", loadOrigin, "-c", "2",
		"-warmup", "50ms", "-d", "300ms", "-json", "-q"}
	if err := run(context.Background(), args, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Mode != "rt" || res.Ops == 0 || res.Errors != 0 {
		t.Fatalf("output %s (%v)", out.String(), err)
	}
}

// TestCompare runs compare briefly: three servers as child processes (this
// test binary, as "serve"), every run, JSON out.
func TestCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and runs for seconds")
	}
	t.Parallel()
	var out, errOut bytes.Buffer
	args := []string{"compare", "-rounds", "1", "-warmup", "50ms", "-d", "300ms", "-c", "4", "-dialers", "2",
		"-idle", "20", "-settle", "50ms", "-fanout", "10", "-room-size", "5", "-server-cpus", "none", "-json", "-q"}
	if err := run(context.Background(), args, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var results, summaries int
	var sawMachine bool
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v struct {
			Kind   string             `json:"kind"`
			Mode   string             `json:"mode"`
			Errors int64              `json:"errors"`
			Median map[string]float64 `json:"median"`
			Ratio  float64            `json:"wsgate_per_handwritten"`
			CPU    string             `json:"cpu"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch v.Kind {
		case "":
			results++
			if v.Errors != 0 {
				t.Errorf("errors: %s", line)
			}
		case "summary":
			summaries++
			var metric struct {
				Metric string `json:"metric"`
			}
			_ = json.Unmarshal([]byte(line), &metric)
			if strings.Contains(metric.Metric, "per server core") && (v.Median[serverWsgate] <= 0 || v.Ratio <= 0) {
				// CPU time is counted in clock ticks (10 ms): in a run
				// this short a server may show none, and its per-core
				// figure is then left out, not made up.
				continue
			}
			if v.Median[serverWsgate] <= 0 || v.Ratio <= 0 {
				t.Errorf("summary without wsgate or its ratio: %s", line)
			}
		case "machine":
			sawMachine = v.CPU != ""
		}
	}
	// rt ×3, handshake ×3, fanout ×2 (the echo has no rooms), idle ×3.
	if results != 11 || summaries == 0 || !sawMachine {
		t.Fatalf("%d results, %d summary rows, machine %v:\n%s", results, summaries, sawMachine, out.String())
	}
}
