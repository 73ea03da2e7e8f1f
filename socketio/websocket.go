package socketio

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/coder/websocket"
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

// serveWebSocket runs a session opened directly over WebSocket.
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
	if err := ss.send(ss.openPacket([]string{}), nil); err != nil {
		ss.kill()
		return
	}
	ss.readWebSocket(c)
}

// upgrade runs the probe and upgrade of a polling session to WebSocket.
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
	abort := func() {
		ss.mu.Lock()
		if ss.probe == c {
			ss.probe = nil
		}
		ss.mu.Unlock()
		c.drop()
	}

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
	buf := make([]byte, 0, 512)
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
		b, err := wsio.ReadAtMost(buf[:0], rd, limit+1)
		if err != nil {
			return
		}
		if int64(len(b)) > limit {
			ss.overLimit()
			return
		}
		// The packet goes to another goroutine: it gets its own copy.
		pkt := append([]byte(nil), b...)
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
