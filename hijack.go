package wsgate

import (
	"bufio"
	"net"
	"net/http"
)

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
	pc := newPeerConn(c, pre)
	brw.Reader.Reset(pc)
	return pc, brw, nil
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }
