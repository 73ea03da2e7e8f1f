package wsgate

import (
	"context"
	"log/slog"
	"math"
	"time"
)

// The connection's clocks: keepalive pings, the token's expiry, the
// periodic revalidation, and the watchdogs of a write (outbound.go) and of
// the close handshake (state.go). Each is a time.AfterFunc timer, so an idle
// connection holds no goroutine for them; a timer's work registers with
// c.bg (enter) so the session waits for it before it reports the end.

func newStoppedTimer(f func()) *time.Timer {
	t := time.AfterFunc(math.MaxInt64, f)
	t.Stop()
	return t
}

func (c *Conn) startTimers() {
	o := &c.gw.opts
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.PingInterval > 0 {
		c.pingTimer = time.AfterFunc(o.PingInterval, c.keepalive)
	}
	c.armExpiryLocked(c.Principal())
	if o.Revalidate != nil && c.Principal() != nil {
		c.revalTimer = time.AfterFunc(o.RevalidateInterval, c.revalidate)
	}
}

func (c *Conn) stopTimersLocked() {
	for _, t := range []*time.Timer{c.pingTimer, c.expiryTimer, c.revalTimer, c.writeTimer, c.closeTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// armExpiryLocked (re)starts the clock that closes the connection with 4001
// when p's authentication runs out. c.mu held.
func (c *Conn) armExpiryLocked(p *Principal) {
	if c.expiryTimer != nil {
		c.expiryTimer.Stop()
		c.expiryTimer = nil
	}
	if p == nil || p.Expires.IsZero() || c.state >= stateClosing {
		return
	}
	c.expiryTimer = time.AfterFunc(time.Until(p.Expires), func() {
		c.closeWith(StatusTokenExpired, "token expired")
	})
}

// keepalive pings the peer and drops it if no pong comes within
// PongTimeout. A pong is read by the read loop, so a round during which the
// loop could not read (a handler ran on it in the default in-order mode, or
// it waited for a handler slot) is not held against the peer.
func (c *Conn) keepalive() {
	if !c.enter() {
		return
	}
	defer c.bg.Done()
	o := &c.gw.opts
	if !c.readBlocked.Load() {
		stalls := c.readStalls.Load()
		ctx, cancel := context.WithTimeout(c.ctx, o.PongTimeout)
		err := c.tr.Ping(ctx)
		cancel()
		readable := !c.readBlocked.Load() && c.readStalls.Load() == stalls
		if err != nil && c.ctx.Err() == nil && ctx.Err() != nil && readable {
			c.fail(StatusAbnormalClosure, "ping timeout")
			return
		}
	}
	c.rearm(&c.pingTimer, o.PingInterval)
}

// rearm restarts *t, a timer of the connection (read under c.mu), unless
// the session is over.
func (c *Conn) rearm(t **time.Timer, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state < stateClosing && *t != nil {
		(*t).Reset(d)
	}
}

// revalidate asks the application whether the connection may go on.
func (c *Conn) revalidate() {
	if !c.enter() {
		return
	}
	defer c.bg.Done()
	o := &c.gw.opts
	ctx, cancel := context.WithTimeout(c.ctx, o.ConnectTimeout)
	err := protect(func() error { return o.Revalidate(ctx, c) })
	cancel()
	if err != nil {
		if c.ctx.Err() == nil {
			c.gw.log.Info("wsgate: connection revoked", slog.String("conn", c.id), slog.Any("error", err))
			c.closeWith(StatusPolicyViolation, "revoked")
		}
		return
	}
	c.rearm(&c.revalTimer, o.RevalidateInterval)
}
