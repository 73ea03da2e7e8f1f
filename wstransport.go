package wsgate

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/coder/websocket"
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
	return readMessage(b, r, max)
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

// readMessage reads r into b, at most max bytes.
func readMessage(b []byte, r io.Reader, max int64) ([]byte, error) {
	for int64(len(b)) < max {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):cap(b)]
		if rest := max - int64(len(b)); int64(len(room)) > rest {
			room = room[:rest]
		}
		n, err := r.Read(room)
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// hijackRecorder hands the WebSocket library the ResponseWriter it upgrades
// and keeps the net.Conn the library hijacks from it.
//
// The gateway needs that net.Conn to guarantee that a close it starts ends
// in bounded time: the library's close handshake first discards the rest of
// the frame being read with no deadline, so a peer that announced a huge
// frame and stopped sending would hold the socket forever. Closing the
// net.Conn is the one thing that always unblocks it.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

// Hijack hijacks the underlying connection (through any wrappers that offer
// Unwrap, as http.ResponseController does), records it, and hands the
// library the socket as a peerConn. Bytes the server read past the handshake
// are moved into the peerConn, so that it sees every frame.
func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	h.conn = c
	var pre []byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		pre = append([]byte(nil), b...)
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			_ = c.Close()
			return nil, nil, err
		}
	}
	// Buffers of our own size replace net/http's 4 KiB ones, which would
	// stay for the connection's life: an idle connection needs little, and
	// a message bigger than a buffer goes around it (bufio reads and writes
	// large slices directly).
	pc := newPeerConn(c, pre)
	brw = bufio.NewReadWriter(bufio.NewReaderSize(pc, readBufferSize), bufio.NewWriterSize(c, writeBufferSize))
	return pc, brw, nil
}

// The sizes of a connection's read and write buffers.
const (
	readBufferSize  = 512
	writeBufferSize = 1 << 10
)

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }
