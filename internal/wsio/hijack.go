package wsio

import (
	"bufio"
	"net"
	"net/http"
)

// Hijacker hands the WebSocket library the ResponseWriter it upgrades
// and keeps the net.Conn the library hijacks from it. Upgrade with
// &Hijacker{ResponseWriter: w} in place of w.
//
// The gateway (native or socket.io) needs that net.Conn to guarantee that a close it starts ends
// in bounded time: the library's close handshake first discards the rest of
// the frame being read with no deadline, so a peer that announced a huge
// frame and stopped sending would hold the socket forever. Closing the
// net.Conn is the one thing that always unblocks it.
type Hijacker struct {
	http.ResponseWriter
	// Conn is the hijacked connection, once Hijack has run.
	Conn net.Conn
}

// Hijack hijacks the underlying connection (through any wrappers that offer
// Unwrap, as http.ResponseController does), records it, and hands the
// library the socket as a peerConn. Bytes the server read past the handshake
// are moved into the peerConn, so that it sees every frame.
func (h *Hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	h.Conn = c
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
func (h *Hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }
