package wsio

import (
	"encoding/binary"
	"net"
	"unicode/utf8"
)

// peerConn is the socket as the WebSocket library reads it: the hijacked
// net.Conn, with the frames the peer sends followed header by header.
//
// It exists for one rule the library does not keep: a close frame whose
// reason is not valid UTF-8 (RFC 6455 §5.5.1 requires UTF-8) must not be
// echoed back. The library answers a peer's close frame with the peer's own
// code and reason, so peerConn rewrites such a frame to carry its code
// alone before the library sees it. Everything else passes through
// untouched; only frame headers are looked at, never payloads, and bytes are
// copied only from the start of a close frame on.
type peerConn struct {
	net.Conn
	pre []byte // bytes read past the handshake before the hijack, served first

	raw     bool   // stop following frames (the peer broke framing; the library will say so)
	hdr     []byte // the header of a data frame being read, until complete
	payload uint64 // bytes of the current data frame's payload still to come
	hold    []byte // a close frame being held back until complete
	out     []byte // bytes ready to be read, served before any new read
	err     error  // a read error held back until out is served
}

func newPeerConn(c net.Conn, buffered []byte) *peerConn {
	return &peerConn{Conn: c, pre: buffered}
}

// Read reads from the socket and hands the bytes on, rewritten as above.
func (p *peerConn) Read(b []byte) (int, error) {
	for {
		if len(p.out) > 0 {
			n := copy(b, p.out)
			p.out = p.out[n:]
			if len(p.out) == 0 {
				p.out = nil
			}
			return n, nil
		}
		if p.err != nil {
			err := p.err
			p.err = nil
			return 0, err
		}
		var n int
		var err error
		if len(p.pre) > 0 {
			n = copy(b, p.pre)
			p.pre = p.pre[n:]
		} else {
			n, err = p.Conn.Read(b)
		}
		if p.raw {
			return n, err
		}
		keep := p.scan(b[:n])
		if keep == n || (keep > 0 && err == nil) {
			return keep, err
		}
		// Part or all of this read was diverted: hand on what was kept,
		// then what was diverted, and only then the error.
		p.err = err
		if keep > 0 {
			return keep, nil
		}
	}
}

// scan follows the frames in b. It returns how many leading bytes of b go
// to the reader as they are; from the first byte of a close frame on, bytes
// are diverted into p.hold and then, rewritten if need be, into p.out.
func (p *peerConn) scan(b []byte) int {
	cut := -1
	divert := func(seg []byte) {
		if cut >= 0 {
			p.out = append(p.out, seg...)
		}
	}
	for i := 0; i < len(b); {
		switch {
		case p.raw:
			divert(b[i:])
			i = len(b)
		case p.payload > 0:
			m := uint64(len(b) - i)
			if m > p.payload {
				m = p.payload
			}
			divert(b[i : i+int(m)])
			i += int(m)
			p.payload -= m
		case p.hold != nil || (len(p.hdr) == 0 && b[i]&0x0f == opClose):
			if cut < 0 {
				cut = i
			}
			p.hold = append(p.hold, b[i])
			i++
			p.checkClose()
		case len(p.hdr) == 0:
			// A data frame's header begins here. It is parsed in place
			// when the read holds all of it (the usual case: no copy);
			// one split across reads is gathered in p.hdr.
			if size, length, ok := frameHeader(b[i:]); ok {
				divert(b[i : i+size])
				i += size
				p.payload = length
				continue
			}
			p.hdr = append(p.hdr, b[i:]...)
			divert(b[i:])
			i = len(b)
		default:
			// The rest of a header split across reads, byte by byte:
			// once it is whole, no byte past it is taken.
			p.hdr = append(p.hdr, b[i])
			divert(b[i : i+1])
			i++
			if _, length, ok := frameHeader(p.hdr); ok {
				p.payload, p.hdr = length, p.hdr[:0]
			}
		}
	}
	if cut < 0 {
		return len(b)
	}
	return cut
}

// opClose is the close frame's opcode.
const opClose = 0x8

// checkClose looks at the close frame held so far and, once it is
// complete, moves it to p.out with a reason that is not valid UTF-8 dropped.
func (p *peerConn) checkClose() {
	h := p.hold
	if len(h) < 2 {
		return
	}
	n := int(h[1] & 0x7f)
	if h[1]&0x80 == 0 || n > 125 {
		// Unmasked or too long for a control frame: a protocol error the
		// library answers itself. Stop following the stream.
		p.out = append(p.out, h...)
		p.hold, p.raw = nil, true
		return
	}
	if len(h) < 6+n {
		return
	}
	if n > 2 {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = h[6+i] ^ h[2+i%4]
		}
		if !utf8.Valid(payload[2:]) {
			h[1] = 0x80 | 2 // keep the code (its masked bytes are unchanged), drop the reason
			h = h[:8]
		}
	}
	p.out = append(p.out, h...)
	p.hold = nil
}

// frameHeader reports, when hdr begins with a whole frame header, the
// header's size and the payload length it announces. Bytes past the header
// are ignored.
func frameHeader(hdr []byte) (size int, length uint64, ok bool) {
	if len(hdr) < 2 {
		return 0, 0, false
	}
	size = 2
	switch n := hdr[1] & 0x7f; n {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if hdr[1]&0x80 != 0 {
		size += 4
	}
	if len(hdr) < size {
		return 0, 0, false
	}
	switch n := hdr[1] & 0x7f; n {
	case 126:
		length = uint64(binary.BigEndian.Uint16(hdr[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(hdr[2:10])
	default:
		length = uint64(n)
	}
	return size, length, true
}
