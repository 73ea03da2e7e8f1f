package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// runConfig is how one mode runs.
type runConfig struct {
	Conns    int           // connections (handshake: concurrent dialers)
	Warmup   time.Duration // run before measuring
	Duration time.Duration // measured window
	PID      int           // the server's process, for its CPU time and memory; 0: not measured
	Progress io.Writer     // where progress lines go; nil: nowhere

	Settle time.Duration // idle: wait this long with every connection open before reading the RSS
	Warm   bool          // idle: one round trip per connection before it idles

	RoomSize int    // fanout: members per room
	Join     string // fanout: the event that joins {"room":…}
	Say      string // fanout: the event that emits {"room":…,"data":…} to the room
	Said     string // fanout: the event the members receive, with that data
}

// phases of a timed run.
const (
	warmingUp = iota
	measuring
	done
)

// codeCounts counts errors by code.
type codeCounts struct {
	mu sync.Mutex
	m  map[string]int64
	n  atomic.Int64
}

func (c *codeCounts) add(code string) {
	c.n.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]int64)
	}
	c.m[code]++
}

func (c *codeCounts) fill(r *Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.Errors = c.n.Load()
	if len(c.m) > 0 {
		r.Codes = make(map[string]int64, len(c.m))
		for k, v := range c.m {
			r.Codes[k] = v
		}
	}
}

// connFailure names a connection that ended under load.
func connFailure(err error) string {
	if s := websocket.CloseStatus(err); s != -1 {
		return "closed " + strconv.Itoa(int(s))
	}
	return "connection lost"
}

// window runs the warm-up and then the measured window, sampling the
// server's CPU time at both ends of the window, and returns the window's
// length and the CPU seconds the server spent in it (0 without a pid).
// It returns early when ctx ends.
func window(ctx context.Context, cfg runConfig, phase *atomic.Int32) (time.Duration, float64, error) {
	defer phase.Store(done)
	if !sleep(ctx, cfg.Warmup) {
		return 0, 0, ctx.Err()
	}
	cpu0, cpuErr := serverCPU(cfg.PID)
	start := time.Now()
	phase.Store(measuring)
	if !sleep(ctx, cfg.Duration) {
		return 0, 0, ctx.Err()
	}
	phase.Store(done)
	elapsed := time.Since(start)
	cpu1, _ := serverCPU(cfg.PID)
	if cpuErr != nil {
		return elapsed, 0, nil
	}
	return elapsed, cpu1 - cpu0, nil
}

func serverCPU(pid int) (float64, error) {
	if pid == 0 {
		return 0, errors.New("no pid")
	}
	return processCPU(pid)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dialAll opens n connections, a few at a time. On failure it closes those
// it opened and returns the first error.
func dialAll(ctx context.Context, t *target, n int, progress io.Writer) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, n)
	var next, opened atomic.Int64
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := startProgress(progress, fmt.Sprintf("dialing %d connections", n), 0, &opened, nil)
	var wg sync.WaitGroup
	for range min(n, 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				ws, err := t.dial(ctx, i)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i+1, err) })
					cancel()
					return
				}
				conns[i] = ws
				opened.Add(1)
			}
		}()
	}
	wg.Wait()
	stop()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

// closeAll drops every connection at once (see target.init: with a reset).
func closeAll(conns []*websocket.Conn) {
	for _, ws := range conns {
		if ws != nil {
			_ = ws.CloseNow()
		}
	}
}

// stopWorkers waits for workers to see that the run is done; workers still
// blocked on a server that stopped answering are released by closing
// their connections.
func stopWorkers(wg *sync.WaitGroup, conns []*websocket.Conn) {
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		closeAll(conns)
		<-finished
	}
}

// runRoundTrips keeps one request in flight on each of cfg.Conns
// connections (a closed loop) and measures the rate of round trips and
// their latency.
func runRoundTrips(ctx context.Context, t *target, cfg runConfig) (Result, error) {
	res := Result{Mode: "rt", Conns: cfg.Conns}
	conns, err := dialAll(ctx, t, cfg.Conns, cfg.Progress)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	h := newHistogram()
	var phase atomic.Int32
	var ops atomic.Int64
	var codes codeCounts
	var wg sync.WaitGroup
	for _, ws := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := newRecorder(h)
			defer rec.flush()
			var buf []byte
			for id := int64(1); phase.Load() != done; id++ {
				start := time.Now()
				var code string
				var err error
				buf, code, err = t.request(ws, buf, id)
				p := phase.Load()
				switch {
				case err != nil:
					if p != done {
						codes.add(connFailure(err))
					}
					return
				case p != measuring:
				case code != "":
					codes.add(code)
				default:
					rec.record(time.Since(start))
					ops.Add(1)
				}
			}
		}()
	}
	stop := startProgress(cfg.Progress, fmt.Sprintf("rt, %d connections", cfg.Conns), cfg.Warmup+cfg.Duration, &ops, &codes.n)
	elapsed, cpu, err := window(ctx, cfg, &phase)
	stopWorkers(&wg, conns)
	stop()
	if err != nil {
		return res, err
	}
	res.finish(elapsed, ops.Load(), cpu, h, &codes)
	return res, nil
}

// finish fills in the figures of a timed run.
func (r *Result) finish(elapsed time.Duration, ops int64, cpu float64, h *histogram, codes *codeCounts) {
	r.Seconds = elapsed.Seconds()
	r.Ops = ops
	if r.Seconds > 0 {
		r.Rate = float64(ops) / r.Seconds
	}
	if ops > 0 && cpu > 0 {
		r.ServerCPU = cpu * 1e6 / float64(ops)
		r.PerCore = float64(ops) / cpu
	}
	r.setLatency(h)
	codes.fill(r)
}

// runHandshakes opens and drops connections as fast as cfg.Conns dialers
// can (a closed loop), and measures the rate of completed handshakes and
// their latency.
func runHandshakes(ctx context.Context, t *target, cfg runConfig) (Result, error) {
	res := Result{Mode: "handshake", Conns: cfg.Conns}
	h := newHistogram()
	var phase atomic.Int32
	var ops atomic.Int64
	var codes codeCounts
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := newRecorder(h)
			defer rec.flush()
			for k := i; phase.Load() != done; k += cfg.Conns {
				start := time.Now()
				ws, err := t.dial(ctx, k)
				p := phase.Load()
				if err == nil {
					_ = ws.CloseNow()
				}
				switch {
				case p != measuring:
				case err != nil:
					var de *dialError
					if errors.As(err, &de) {
						codes.add(de.code())
					} else {
						codes.add("dial")
					}
				default:
					rec.record(time.Since(start))
					ops.Add(1)
				}
				if err != nil && ctx.Err() != nil {
					return
				}
			}
		}()
	}
	stop := startProgress(cfg.Progress, fmt.Sprintf("handshakes, %d dialers", cfg.Conns), cfg.Warmup+cfg.Duration, &ops, &codes.n)
	elapsed, cpu, err := window(ctx, cfg, &phase)
	wg.Wait() // each dial has its own deadline
	stop()
	if err != nil {
		return res, err
	}
	res.finish(elapsed, ops.Load(), cpu, h, &codes)
	return res, nil
}

// runIdle opens cfg.Conns connections, lets them idle for cfg.Settle
// (answering the server's pings), and reports the server's resident memory
// per connection: its VmRSS with them open minus before them, divided by
// their number.
func runIdle(ctx context.Context, t *target, cfg runConfig) (Result, error) {
	res := Result{Mode: "idle", Conns: cfg.Conns}
	var rss0 int64
	if cfg.PID != 0 {
		var err error
		if rss0, err = processRSS(cfg.PID); err != nil {
			return res, fmt.Errorf("server memory: %w", err)
		}
	}
	conns, err := dialAll(ctx, t, cfg.Conns, cfg.Progress)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	if cfg.Warm {
		if err := warm(t, conns); err != nil {
			return res, err
		}
	}
	for _, ws := range conns {
		ws.CloseRead(context.Background()) // answers pings; ends with the connection
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "idle: %d connections open, settling for %v\n", cfg.Conns, cfg.Settle)
	}
	if !sleep(ctx, cfg.Settle) {
		return res, ctx.Err()
	}
	if cfg.PID != 0 {
		rss1, err := processRSS(cfg.PID)
		if err != nil {
			return res, fmt.Errorf("server memory: %w", err)
		}
		res.RSSBefore, res.RSSAfter = rss0, rss1
		res.KiBPer = float64(rss1-rss0) / float64(cfg.Conns)
	}
	return res, nil
}

// warm makes one round trip on each connection.
func warm(t *target, conns []*websocket.Conn) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range min(len(conns), 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				_, code, err := t.request(conns[i], nil, 1)
				if err == nil && code != "" {
					err = fmt.Errorf("answered %s", code)
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("warm-up request on connection %d: %w", i+1, err):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// room is one room of a fan-out run and the count of its members that
// received the emit in flight.
type room struct {
	name    string
	members []*websocket.Conn
	seq     atomic.Int64 // the emit in flight
	got     atomic.Int64 // members that received it
	all     chan struct{}
}

// saidData is what the fan-out publisher sends, and each member receives.
type saidData struct {
	Seq int64 `json:"seq"`
	T   int64 `json:"t"` // send time, Unix nanoseconds
}

// runFanout puts cfg.Conns connections into rooms of cfg.RoomSize; in each
// room one member emits to the room and waits until every member (itself
// included) has the message before it emits the next (a closed loop per
// room). It measures deliveries per second and the latency from the emit
// to each member.
func runFanout(ctx context.Context, t *target, cfg runConfig) (Result, error) {
	res := Result{Mode: "fanout", Conns: cfg.Conns}
	size := cfg.RoomSize
	if size <= 0 || size > cfg.Conns {
		size = cfg.Conns
	}
	conns, err := dialAll(ctx, t, cfg.Conns, cfg.Progress)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	var rooms []*room
	roomOf := make([]*room, len(conns))
	for i, ws := range conns {
		if i%size == 0 {
			rooms = append(rooms, &room{name: fmt.Sprintf("load-%d", len(rooms)), all: make(chan struct{}, 1)})
		}
		r := rooms[len(rooms)-1]
		r.members = append(r.members, ws)
		roomOf[i] = r
		frame := fmt.Appendf(nil, `{"event":%q,"data":{"room":%q},"id":1}`, cfg.Join, r.name)
		code, err := roundTrip(ws, frame, 1)
		if err == nil && code != "" {
			err = fmt.Errorf("answered %s", code)
		}
		if err != nil {
			return res, fmt.Errorf("%s on connection %d: %w", cfg.Join, i+1, err)
		}
	}

	h := newHistogram()
	var phase atomic.Int32
	var deliveries, emits atomic.Int64
	var codes codeCounts
	acks := make([]chan string, len(conns))
	var readers, publishers sync.WaitGroup
	for i, ws := range conns {
		acks[i] = make(chan string, 1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			rec := newRecorder(h)
			defer rec.flush()
			r := roomOf[i]
			for {
				_, msg, err := ws.Read(context.Background())
				if err != nil {
					if phase.Load() != done {
						codes.add(connFailure(err))
					}
					close(acks[i])
					return
				}
				rep, err := parseReply(msg)
				switch {
				case err != nil:
				case rep.ID != nil:
					code := ""
					if rep.Error != nil {
						code = rep.errorCode()
					}
					select {
					case acks[i] <- code:
					default: // an ack no publisher waits for
					}
				case rep.Event == cfg.Said:
					var d saidData
					if json.Unmarshal(rep.Data, &d) != nil || d.Seq != r.seq.Load() {
						continue
					}
					if phase.Load() == measuring {
						rec.record(time.Duration(time.Now().UnixNano() - d.T))
					}
					if r.got.Add(1) == int64(len(r.members)) {
						select {
						case r.all <- struct{}{}:
						default: // a publisher that gave up
						}
					}
				}
			}
		}()
	}
	for ri, r := range rooms {
		publishers.Add(1)
		go func() {
			defer publishers.Done()
			ws, ack := r.members[0], acks[ri*size]
			for seq := int64(1); phase.Load() != done; seq++ {
				r.got.Store(0)
				r.seq.Store(seq)
				frame := fmt.Appendf(nil, `{"event":%q,"data":{"room":%q,"data":{"seq":%d,"t":%d}},"id":%d}`,
					cfg.Say, r.name, seq, time.Now().UnixNano(), seq)
				if ws.Write(context.Background(), websocket.MessageText, frame) != nil {
					return
				}
				code, ok := <-ack
				if !ok {
					return
				}
				if code != "" {
					if phase.Load() == measuring {
						codes.add(code)
					}
					continue
				}
				select {
				case <-r.all:
				case <-time.After(10 * time.Second):
					codes.add("undelivered")
					return
				}
				if phase.Load() == measuring {
					emits.Add(1)
					deliveries.Add(int64(len(r.members)))
				}
			}
		}()
	}
	stop := startProgress(cfg.Progress, fmt.Sprintf("fanout, %d rooms of %d", len(rooms), size), cfg.Warmup+cfg.Duration, &deliveries, &codes.n)
	elapsed, cpu, err := window(ctx, cfg, &phase)
	stopWorkers(&publishers, conns)
	closeAll(conns)
	readers.Wait()
	stop()
	if err != nil {
		return res, err
	}
	res.finish(elapsed, deliveries.Load(), cpu, h, &codes)
	res.Emits = emits.Load()
	return res, nil
}
