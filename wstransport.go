package wsgate

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/wsio"
)

// wsTransport is the native Transport: wire protocol v1 in text frames of
// a github.com/coder/websocket connection.
type wsTransport struct {
	ws      *websocket.Conn
	netConn net.Conn // the hijacked socket, closed to bound a stalled close
}

func newWSTransport(ws *websocket.Conn, netConn net.Conn, readLimit int64) *wsTransport {
	// Messages are read through our own limit (see readMessage), one byte
	// past it, so that we, not the library, decide the close.
	ws.SetReadLimit(readLimit + 1)
	return &wsTransport{ws: ws, netConn: netConn}
}

func (t *wsTransport) ReadMessage(b []byte, max int64) ([]byte, error) {
	r, err := t.next()
	if err != nil {
		return b, err
	}
	return wsio.ReadAtMost(b, r, max)
}

// next waits for the peer's next message and returns its reader. The read
// loop uses it directly, so that an idle connection, waiting here, holds no
// buffer for a message that has not come.
func (t *wsTransport) next() (io.Reader, error) {
	// A context without a Done channel: the library sets no timer per
	// read, and the read ends when the socket is closed.
	typ, r, err := t.ws.Reader(context.Background())
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil, &PeerCloseError{Code: StatusCode(ce.Code), Reason: ce.Reason}
		}
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, ErrUnsupportedMessage
	}
	return r, nil
}

func (t *wsTransport) WriteMessage(b []byte) error {
	// A context without a Done channel lets the library skip its per-write
	// timer; the gateway's watchdog bounds the write instead.
	return t.ws.Write(context.Background(), websocket.MessageText, b)
}

func (t *wsTransport) Ping(ctx context.Context) error { return t.ws.Ping(ctx) }

func (t *wsTransport) Close(code StatusCode, reason string) error {
	return t.ws.Close(websocket.StatusCode(code), reason)
}

// Drop closes the TCP connection under the library, which ends any read,
// write or close handshake in progress whatever the peer does (the
// library's own CloseNow waits for a close handshake already under way).
func (t *wsTransport) Drop() {
	if t.netConn != nil {
		_ = t.netConn.Close()
	}
	_ = t.ws.CloseNow()
}
