package wsgate_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
)

// Raw-frame tests over real TCP: a peer that announces a huge frame and then
// stalls must not hold its socket once the gateway has decided to close it.

const stallCloseTimeout = 300 * time.Millisecond

// stallEnv is a gateway on a real loopback listener.
type stallEnv struct {
	*env
	addr string
	gone <-chan disconnect
}

func newStallEnv(t *testing.T, opts wsgate.Options) *stallEnv {
	t.Helper()
	opts.CloseTimeout = stallCloseTimeout
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	srv := httptest.NewServer(e.gw)
	t.Cleanup(srv.Close)
	return &stallEnv{env: e, addr: strings.TrimPrefix(srv.URL, "http://"), gone: gone}
}

// dialTCP performs the upgrade by hand and returns the socket, ready for
// frames.
func (e *stallEnv) dialTCP(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", e.addr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\nCookie: %s=%s\r\n\r\n",
		e.addr, base64.StdEncoding.EncodeToString(key), testOrigin, wsgate.DefaultTokenCookie, e.token("stall"))
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(testWait))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d", resp.StatusCode)
	}
	return nc, br
}

// frameHeader is a masked client frame header announcing length bytes.
func frameHeader(opcode byte, length uint64) []byte {
	h := []byte{0x80 | opcode, 0x80 | 127}
	h = binary.BigEndian.AppendUint64(h, length)
	return append(h, 1, 2, 3, 4) // the mask key
}

// wantCloseThenEOF reads the server's close frame, checks its code, and
// then waits for the server to drop the TCP connection although the peer
// never completes the close.
func wantCloseThenEOF(t *testing.T, nc net.Conn, br *bufio.Reader, code wsgate.StatusCode) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(testWait))
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatalf("reading the close frame: %v", err)
	}
	if head[0] != 0x88 || head[1] < 2 || head[1] > 125 {
		t.Fatalf("server sent frame header % x, want a close frame", head)
	}
	payload := make([]byte, head[1])
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	if got := wsgate.StatusCode(binary.BigEndian.Uint16(payload)); got != code {
		t.Fatalf("close code %d, want %d", got, code)
	}
	start := time.Now()
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still held the socket %v after its close frame", time.Since(start))
	}
}

func TestStalledBinaryFrameIsDropped(t *testing.T) {
	t.Parallel()
	e := newStallEnv(t, wsgate.Options{})
	nc, br := e.dialTCP(t)
	if _, err := nc.Write(frameHeader(0x2, 1<<40)); err != nil {
		t.Fatal(err)
	}
	wantCloseThenEOF(t, nc, br, wsgate.StatusUnsupportedData)
	if d := wantGone(t, e.gw, e.gone); d.status.Code != wsgate.StatusUnsupportedData || !d.status.ByServer {
		t.Fatalf("OnDisconnect status %+v, want 1003 by the server", d.status)
	}
}

func TestStalledOversizeTextFrameIsDropped(t *testing.T) {
	t.Parallel()
	e := newStallEnv(t, wsgate.Options{})
	nc, br := e.dialTCP(t)
	msg := append(frameHeader(0x1, 1<<40), make([]byte, wsgate.DefaultReadLimit+1)...)
	if _, err := nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	wantCloseThenEOF(t, nc, br, wsgate.StatusMessageTooBig)
	if d := wantGone(t, e.gw, e.gone); d.status.Code != wsgate.StatusMessageTooBig {
		t.Fatalf("OnDisconnect status %+v, want 1009", d.status)
	}
}

// TestStalledFramesDoNotHoldSlots: sockets stalled mid-frame and closed by
// the gateway give their connection slots back, so the gateway keeps
// admitting others under MaxConnections.
func TestStalledFramesDoNotHoldSlots(t *testing.T) {
	t.Parallel()
	const slots = 3
	e := newStallEnv(t, wsgate.Options{MaxConnections: slots})
	for range 2 * slots {
		nc, br := e.dialTCP(t)
		if _, err := nc.Write(frameHeader(0x2, 1<<40)); err != nil {
			t.Fatal(err)
		}
		wantCloseThenEOF(t, nc, br, wsgate.StatusUnsupportedData)
		recv(t, e.gone, "OnDisconnect")
	}
	eventually(t, "every slot to be free", func() bool { return e.gw.Len() == 0 })
}

// TestShutdownWithStalledSocket: a socket stalled in the middle of a frame
// does not keep Shutdown from returning, and is gone when it does.
func TestShutdownWithStalledSocket(t *testing.T) {
	t.Parallel()
	e := newStallEnv(t, wsgate.Options{})
	nc, br := e.dialTCP(t)
	if _, err := nc.Write(append(frameHeader(0x1, 1<<40), make([]byte, 100)...)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the connection to be served", func() bool { return e.gw.Len() == 1 })

	shutdown(t, e.gw) // nil: the stalled socket was dropped after CloseTimeout
	if n := e.gw.Len(); n != 0 {
		t.Fatalf("gw.Len() = %d after Shutdown", n)
	}
	wantCloseThenEOF(t, nc, br, wsgate.StatusGoingAway)
}

// TestShutdownDeadlineDropsStalledSocket: with a CloseTimeout longer than
// Shutdown's deadline, the deadline still drops the stalled socket.
func TestShutdownDeadlineDropsStalledSocket(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	gone := recordDisconnects(&opts)
	opts.CloseTimeout = time.Hour
	e := newEnv(t, opts, 0)
	srv := httptest.NewServer(e.gw)
	t.Cleanup(srv.Close)
	se := &stallEnv{env: e, addr: strings.TrimPrefix(srv.URL, "http://"), gone: gone}
	nc, br := se.dialTCP(t)
	if _, err := nc.Write(append(frameHeader(0x1, 1<<40), make([]byte, 100)...)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the connection to be served", func() bool { return e.gw.Len() == 1 })

	wantShutdownDeadline(t, e.gw, 200*time.Millisecond)
	wantCloseThenEOF(t, nc, br, wsgate.StatusGoingAway)
	if d := recv(t, gone, "OnDisconnect"); d.status.Code != wsgate.StatusGoingAway {
		t.Fatalf("OnDisconnect status %+v, want 1001", d.status)
	}
}

// readCloseFrame reads the server's close frame and returns its code and
// reason.
func readCloseFrame(t *testing.T, nc net.Conn, br *bufio.Reader) (wsgate.StatusCode, string) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(testWait))
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatalf("reading the close frame: %v", err)
	}
	if head[0] != 0x88 || head[1] > 125 {
		t.Fatalf("server sent frame header % x, want a close frame", head)
	}
	payload := make([]byte, head[1])
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	if len(payload) < 2 {
		return wsgate.StatusNoStatusReceived, ""
	}
	return wsgate.StatusCode(binary.BigEndian.Uint16(payload)), string(payload[2:])
}

// TestPeerCloseReasonNotUTF8IsNotEchoed: the answer to a peer's close frame
// repeats its code, and its reason only when that is valid UTF-8.
func TestPeerCloseReasonNotUTF8IsNotEchoed(t *testing.T) {
	t.Parallel()
	for _, reason := range []string{"\xff\xfe", "ok"} {
		t.Run(fmt.Sprintf("%q", reason), func(t *testing.T) {
			t.Parallel()
			e := newStallEnv(t, wsgate.Options{})
			nc, br := e.dialTCP(t)
			payload := append(binary.BigEndian.AppendUint16(nil, 4000), reason...)
			frame := append([]byte{0x88, 0x80 | byte(len(payload))}, 0, 0, 0, 0) // a zero mask
			if _, err := nc.Write(append(frame, payload...)); err != nil {
				t.Fatal(err)
			}
			code, got := readCloseFrame(t, nc, br)
			want := reason
			if reason == "\xff\xfe" {
				want = ""
			}
			if code != 4000 || got != want {
				t.Fatalf("server answered %d %q, want 4000 %q", code, got, want)
			}
			if d := wantGone(t, e.gw, e.gone); d.status.Code != 4000 || d.status.Reason != want || d.status.ByServer {
				t.Fatalf("OnDisconnect status %+v, want 4000 %q from the peer", d.status, want)
			}
		})
	}
}
