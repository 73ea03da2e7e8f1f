package socketio

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/sessiongroup"
	"github.com/wsgate/wsgate/internal/wsio"
)

// The WebSocket transport: one Engine.IO packet per text frame (binary
// frames are attachments). A client opens it directly (transport=websocket
// without sid, the open packet is then its first message), or upgrades a
// polling session to it: "2probe", answered "3probe", then "5" once the
// client has paused polling, after which every packet travels on it.

// wsConn is a WebSocket and the TCP connection under it, closed to end a
// close handshake or a write that a stalled peer holds.
type wsConn struct {
	ws  *websocket.Conn
	net net.Conn
}

func (c *wsConn) write(pkt []byte) error {
	return c.ws.Write(context.Background(), websocket.MessageText, pkt)
}

func (c *wsConn) drop() {
	if c.net != nil {
		_ = c.net.Close()
	}
	_ = c.ws.CloseNow()
}

// accept upgrades r. The gateway's origin policy has run already.
func (ss *session) accept(w http.ResponseWriter, r *http.Request) (*wsConn, bool) {
	if r.Method != http.MethodGet || !wsio.HeaderHasToken(r.Header, "Connection", "upgrade") || !wsio.HeaderHasToken(r.Header, "Upgrade", "websocket") {
		engineError(w, errBadRequest)
		return nil, false
	}
	hw := &wsio.Hijacker{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the origin policy has run
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, false
	}
	ws.SetReadLimit(ss.frameLimit() + 1)
	return &wsConn{ws: ws, net: hw.Conn}, true
}

// serveWebSocket opens a session directly over WebSocket. It returns once
// the WebSocket is accepted; the session goes on on a goroutine of its own
// (see goRead).
func (ss *session) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	c, ok := ss.accept(w, r)
	if !ok {
		ss.kill()
		return
	}
	ss.mu.Lock()
	gone := ss.gone
	if !gone {
		ss.ws = c
	}
	ss.mu.Unlock()
	if gone {
		c.drop()
		return
	}
	started := ss.goRead(r, func() {
		if err := ss.send(ss.openPacket([]string{}), nil); err != nil {
			ss.kill()
			return
		}
		ss.readWebSocket(c)
	})
	if !started {
		ss.kill() // drops the WebSocket
	}
}

// goRead runs read, the reading of the session's WebSocket for the rest of
// its life, on a goroutine of its own, and reports whether it started. The
// handler that accepted the WebSocket then returns: the net/http goroutine,
// with the stack the handshake grew (8 to 16 KiB) and the state net/http
// keeps while a handler runs, is not held for the connection's life, as
// Gateway.ServeHTTP does not hold it either. BenchmarkIdleConnection
// measures what that saves per idle connection.
//
// The goroutine is counted in s.running, which Close waits for, and in the
// session group of a harness that serves the Server in process (as
// wsgatetest's does). It joins s.running only while that cannot be at zero
// under Close's Wait: before Close has begun, or while the session is
// connected, its gateway connection's goroutine (counted, and ending only
// after the session is gone) still running. Otherwise read does not run.
func (ss *session) goRead(r *http.Request, read func()) bool {
	s := ss.srv
	s.mu.Lock()
	ss.mu.Lock()
	ok := !ss.gone && (!s.closed || ss.connected)
	if ok {
		s.running.Add(1)
	}
	ss.mu.Unlock()
	s.mu.Unlock()
	if !ok {
		return false
	}
	group := sessiongroup.From(r.Context())
	if group != nil {
		group.Add(1) // the handler, still counted there, keeps it above zero
	}
	go func() {
		defer s.running.Done()
		if group != nil {
			defer group.Done()
		}
		read()
	}()
	return true
}

// upgrade accepts the WebSocket to which a polling session upgrades. It
// returns once the WebSocket is accepted; the probe, the upgrade and the
// reading go on on a goroutine of their own (see goRead).
func (ss *session) upgrade(w http.ResponseWriter, r *http.Request) {
	ss.mu.Lock()
	ok := ss.polling && ss.probe == nil && !ss.gone
	ss.mu.Unlock()
	if !ok {
		engineError(w, errBadRequest)
		return
	}
	c, ok := ss.accept(w, r)
	if !ok {
		return
	}
	ss.mu.Lock()
	if ss.gone || ss.probe != nil {
		ss.mu.Unlock()
		c.drop()
		return
	}
	ss.probe = c
	ss.mu.Unlock()
	if !ss.goRead(r, func() { ss.probeAndUpgrade(c) }) {
		ss.abortProbe(c)
	}
}

// abortProbe ends the upgrade to c, which leaves the session on polling.
func (ss *session) abortProbe(c *wsConn) {
	ss.mu.Lock()
	if ss.probe == c {
		ss.probe = nil
	}
	ss.mu.Unlock()
	c.drop()
}

// probeAndUpgrade answers the client's probe on c, moves the session's
// writes to c once the client has paused polling, and then reads c for the
// rest of the session's life.
func (ss *session) probeAndUpgrade(c *wsConn) {
	abort := func() { ss.abortProbe(c) }

	// The client has the whole of ConnectTimeout to probe and upgrade.
	ctx, cancel := context.WithTimeout(context.Background(), ss.srv.gwo.ConnectTimeout)
	defer cancel()
	if msg, err := readSmall(ctx, c.ws); err != nil || msg != "2probe" {
		abort()
		return
	}
	if err := c.ws.Write(ctx, websocket.MessageText, []byte("3probe")); err != nil {
		abort()
		return
	}
	// A noop answers the waiting poll, so that the client can pause.
	ss.mu.Lock()
	if !ss.gone {
		ss.queueLocked(noopPacket)
	}
	ss.mu.Unlock()
	if msg, err := readSmall(ctx, c.ws); err != nil || msg != "5" {
		abort()
		return
	}

	// Writes move to the WebSocket, after what the polling buffer holds.
	ss.wmu.Lock()
	ss.mu.Lock()
	if ss.gone {
		ss.mu.Unlock()
		ss.wmu.Unlock()
		c.drop()
		return
	}
	pkts := ss.takeLocked()
	ss.ws, ss.probe, ss.polling = c, nil, false
	ss.idleTimer.Stop()
	close(ss.upgraded)
	closing := ss.closeSent
	ss.mu.Unlock()
	for _, p := range pkts {
		if len(p) == 1 && p[0] == '6' {
			continue
		}
		if c.write(p) != nil {
			break
		}
	}
	ss.wmu.Unlock()
	if closing {
		ss.takenOnce.Do(func() { close(ss.closeTaken) })
	}
	ss.readWebSocket(c)
}

// readSmall reads one short text message within ctx.
func readSmall(ctx context.Context, ws *websocket.Conn) (string, error) {
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return "", err
	}
	if typ != websocket.MessageText || len(b) > 16 {
		return "", errProtocol
	}
	return string(b), nil
}

// readWebSocket reads the client's packets until the socket ends, and
// then ends the session.
func (ss *session) readWebSocket(c *wsConn) {
	defer ss.kill()
	limit := ss.frameLimit()
	for {
		typ, rd, err := c.ws.Reader(context.Background())
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				ss.mu.Lock()
				if ss.peerGone == nil {
					ss.peerGone = &peerClose{Code: statusCode(ce.Code), Reason: "transport close"}
				}
				ss.mu.Unlock()
			}
			return
		}
		if typ == websocket.MessageBinary {
			n, err := io.Copy(io.Discard, io.LimitReader(rd, limit+1))
			if err != nil {
				return
			}
			if n > limit {
				ss.overLimit()
				return
			}
			if ss.attachment(nil) != nil {
				return
			}
			continue
		}
		// The buffer is taken once a message has begun, so that an idle
		// connection, waiting in Reader, holds none.
		buf := ss.srv.readBuf()
		b, err := wsio.ReadAtMost((*buf)[:0], rd, limit+1)
		// The packet goes to another goroutine: it gets its own copy.
		pkt := append([]byte(nil), b...)
		ss.srv.putReadBuf(buf, b)
		if err != nil {
			return
		}
		if int64(len(pkt)) > limit {
			ss.overLimit()
			return
		}
		if err := ss.receive(pkt, nil); err != nil {
			return
		}
	}
}

// overLimit reports a message over the limit to the gateway, which closes
// the connection with 1009, and waits for the session's end without
// reading on. Before CONNECT there is no gateway connection: the session
// ends.
func (ss *session) overLimit() {
	if !ss.isConnected() || ss.push(inbound{tooBig: true}, nil) != nil {
		return
	}
	<-ss.dead
}

// maxPooledReadBuf keeps a rare large message's buffer from staying in the
// pool.
const maxPooledReadBuf = 64 << 10

// readBuf returns a buffer for one WebSocket message.
func (s *Server) readBuf() *[]byte {
	if b, ok := s.readBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 512)
	return &b
}

// putReadBuf gives back buf, which grew into b while a message was read.
func (s *Server) putReadBuf(buf *[]byte, b []byte) {
	if cap(b) > maxPooledReadBuf {
		return
	}
	*buf = b[:0]
	s.readBufs.Put(buf)
}
