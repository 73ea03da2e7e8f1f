package wsio

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"
)

// chunkConn is a net.Conn whose reads return its data in the given chunk
// sizes, then EOF.
type chunkConn struct {
	net.Conn
	data   []byte
	chunks []int
}

func (c *chunkConn) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.chunks) > 0 {
		n = min(n, c.chunks[0])
		c.chunks = c.chunks[1:]
	}
	n = copy(b, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// clientFrame builds a masked client frame.
func clientFrame(opcode byte, payload []byte, mask [4]byte) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// readAll reads the whole stream through a peerConn with reads of at most
// bufSize bytes.
func readAll(t *testing.T, pc *peerConn, bufSize int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, bufSize)
	for range 1 << 20 {
		n, err := pc.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no EOF")
	return nil
}

func TestPeerConnRewritesInvalidCloseReasons(t *testing.T) {
	mask := [4]byte{0x11, 0x22, 0x33, 0x44}
	text := clientFrame(0x1, []byte(`{"event":"x"}`), mask)
	big := clientFrame(0x1, bytes.Repeat([]byte("y"), 70000), mask)
	ping := clientFrame(0x9, []byte("p"), mask)
	good := clientFrame(opClose, closePayload(1000, "bye"), mask)
	bad := clientFrame(opClose, closePayload(4000, "\xff\xfe"), mask)
	badRewritten := clientFrame(opClose, closePayload(4000, ""), mask)
	codeOnly := clientFrame(opClose, closePayload(1001, ""), mask)
	empty := clientFrame(opClose, nil, mask)

	cases := []struct {
		name     string
		in, want [][]byte
	}{
		{"data and a valid close pass", [][]byte{text, big, ping, good}, [][]byte{text, big, ping, good}},
		{"an invalid reason is dropped", [][]byte{text, bad}, [][]byte{text, badRewritten}},
		{"a close with a code only passes", [][]byte{codeOnly}, [][]byte{codeOnly}},
		{"a close without a code passes", [][]byte{empty}, [][]byte{empty}},
		{"frames after a close are followed", [][]byte{bad, text, bad}, [][]byte{badRewritten, text, badRewritten}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		in, want := bytes.Join(tc.in, nil), bytes.Join(tc.want, nil)
		// Every split of the stream into two reads, then random splits.
		splits := [][]int{nil}
		for i := 1; i < len(in) && i < 200; i++ {
			splits = append(splits, []int{i})
		}
		for range 200 {
			var ch []int
			for rest := len(in); rest > 0; {
				n := 1 + rng.IntN(min(rest, 40))
				ch = append(ch, n)
				rest -= n
			}
			splits = append(splits, ch)
		}
		for _, ch := range splits {
			for _, bufSize := range []int{1, 7, 4096} {
				pc := newPeerConn(&chunkConn{data: in, chunks: ch}, nil)
				if got := readAll(t, pc, bufSize); !bytes.Equal(got, want) {
					t.Fatalf("%s: chunks %v, reads of %d: got % x, want % x", tc.name, ch, bufSize, got, want)
				}
			}
		}
	}
}

// TestPeerConnServesBufferedBytesFirst: bytes read past the handshake
// before the hijack are followed like the rest.
func TestPeerConnServesBufferedBytesFirst(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	bad := clientFrame(opClose, closePayload(1000, "\xc3"), mask)
	pc := newPeerConn(&chunkConn{data: bad[5:]}, bad[:5])
	got := readAll(t, pc, 64)
	if want := clientFrame(opClose, closePayload(1000, ""), mask); !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

// TestPeerConnStopsFollowingBrokenFraming: an unmasked or oversized close
// frame is the library's to refuse; peerConn passes it and everything after
// it untouched.
func TestPeerConnStopsFollowingBrokenFraming(t *testing.T) {
	unmasked := append([]byte{0x88, 4}, closePayload(1000, "\xff\xfe")...)
	tail := []byte("anything at all")
	in := append(append([]byte(nil), unmasked...), tail...)
	pc := newPeerConn(&chunkConn{data: in, chunks: []int{3, 1, 100}}, nil)
	if got := readAll(t, pc, 8); !bytes.Equal(got, in) {
		t.Fatalf("got % x, want the input", got)
	}
}

// TestPeerConnHeadersSplitAtEveryByte: a frame header of each size (2+4,
// 4+4 and 10+4 bytes) split across two or three reads at every byte is
// followed as one that arrives whole, and so is the close frame after it.
func TestPeerConnHeadersSplitAtEveryByte(t *testing.T) {
	mask := [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	frames := [][]byte{
		clientFrame(0x1, []byte("hi"), mask),
		clientFrame(0x1, bytes.Repeat([]byte("m"), 300), mask),
		clientFrame(0x2, bytes.Repeat([]byte("l"), 1<<16), mask),
		clientFrame(0x1, nil, mask),
		clientFrame(0x9, []byte("p"), mask),
	}
	bad := clientFrame(opClose, closePayload(4000, "\xff"), mask)
	want := clientFrame(opClose, closePayload(4000, ""), mask)
	for fi, f := range frames {
		// Two headers back to back, the close after them: a cut anywhere
		// in or around either header.
		in := bytes.Join([][]byte{f, f, bad}, nil)
		out := bytes.Join([][]byte{f, f, want}, nil)
		var cuts []int
		for _, start := range []int{0, len(f)} {
			for i := max(start-1, 1); i <= start+15 && i < len(in); i++ {
				cuts = append(cuts, i)
			}
		}
		for _, a := range cuts {
			for _, b := range append([]int{0}, cuts...) {
				var ch []int
				switch {
				case b == 0:
					ch = []int{a}
				case b > a:
					ch = []int{a, b - a}
				default:
					continue
				}
				bufSizes := []int{1, 5, 4096, 1 << 17}
				if len(in) > 1<<10 {
					bufSizes = bufSizes[2:] // byte by byte through 128 KiB is slow, and no header is split there that is not split above
				}
				for _, bufSize := range bufSizes {
					pc := newPeerConn(&chunkConn{data: in, chunks: ch}, nil)
					if got := readAll(t, pc, bufSize); !bytes.Equal(got, out) {
						t.Fatalf("frame %d: chunks %v, reads of %d: the stream was changed", fi, ch, bufSize)
					}
				}
			}
		}
	}
}

// TestFrameHeader: the size and length of a header that is whole, and no
// answer for one that is not.
func TestFrameHeader(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		f := clientFrame(0x1, make([]byte, n), mask)
		size := len(f) - n
		for cut := range size {
			if _, _, ok := frameHeader(f[:cut]); ok {
				t.Fatalf("payload %d: a header cut at %d of %d was taken as whole", n, cut, size)
			}
		}
		gotSize, length, ok := frameHeader(f)
		if !ok || gotSize != size || length != uint64(n) {
			t.Fatalf("payload %d: got size %d, length %d, %v; want %d, %d", n, gotSize, length, ok, size, n)
		}
	}
}
