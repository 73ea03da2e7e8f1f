package socketio

import (
	"context"
	"errors"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
)

// A session is the wsgate.Transport of its Socket.IO connection.

type peerClose = wsgate.PeerCloseError

func statusCode(c websocket.StatusCode) wsgate.StatusCode { return wsgate.StatusCode(c) }

var errLost = errors.New("socketio: connection lost")

// ReadMessage returns the next Socket.IO packet of the client. Packets
// that arrived before the session ended are read first.
func (ss *session) ReadMessage(b []byte, max int64) ([]byte, error) {
	var it inbound
	select {
	case it = <-ss.in:
	default:
		select {
		case it = <-ss.in:
		case <-ss.dead:
			ss.mu.Lock()
			pg := ss.peerGone
			ss.mu.Unlock()
			if pg != nil {
				return b, pg
			}
			return b, errLost
		}
	}
	switch {
	case it.close != nil:
		return b, it.close
	case it.binary:
		return b, wsgate.ErrUnsupportedMessage
	case it.tooBig:
		// max is one byte over the gateway's limit: so many bytes make it
		// close with 1009.
		return append(b, make([]byte, max)...), nil
	}
	msg := it.msg
	if int64(len(msg)) > max {
		msg = msg[:max]
	}
	return append(b, msg...), nil
}

// WriteMessage sends one packet the codec framed. On polling it queues a
// copy of it, and waits while the buffer is full; the gateway's
// WriteTimeout bounds that.
func (ss *session) WriteMessage(b []byte) error { return ss.sendPacket(b, false, nil) }

// Ping sends Engine.IO's ping and waits for the pong.
func (ss *session) Ping(ctx context.Context) error {
	select {
	case <-ss.pong: // a stale pong
	default:
	}
	if err := ss.send(pingPacket, ctx.Done()); err != nil {
		return err
	}
	select {
	case <-ss.pong:
		return nil
	case <-ss.dead:
		return errGone
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close tells the client why ("$close"), disconnects its socket unless the
// gateway is going away (so that the client reconnects), and closes the
// Engine.IO connection: the WebSocket's close handshake, or the close
// packet taken by the client's next poll.
func (ss *session) Close(code wsgate.StatusCode, reason string) error {
	defer ss.kill()
	if err := ss.send(closeEvent(code, reason), nil); err != nil {
		return err
	}
	if code != wsgate.StatusGoingAway {
		if err := ss.send([]byte("41"), nil); err != nil {
			return err
		}
	}
	// On polling the close packet comes in a poll of its own: a client
	// handles Socket.IO packets a tick after the payload that carried
	// them, and the close packet at once, so in one payload it would close
	// before it saw $close and DISCONNECT.
	ss.mu.Lock()
	for {
		if ws := ss.ws; ws != nil {
			ss.mu.Unlock()
			return ws.ws.Close(websocket.StatusCode(code), reason)
		}
		if ss.gone {
			ss.mu.Unlock()
			return errGone
		}
		if len(ss.out) == 0 {
			break
		}
		drained := ss.drained
		ss.mu.Unlock()
		select {
		case <-drained:
		case <-ss.dead:
		}
		ss.mu.Lock()
	}
	ss.queueLocked(closePacket)
	ss.closeSent = true
	ss.mu.Unlock()
	select {
	case <-ss.closeTaken:
		return nil
	case <-ss.dead:
		return errGone
	}
}

// Drop ends the session at once.
func (ss *session) Drop() { ss.kill() }
