package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/wsgate/wsgate"
)

// A session is one Engine.IO connection: opened by a handshake over
// polling or WebSocket, upgraded from polling to WebSocket, and carrying at
// most one Socket.IO connection to "/", which it admits on the client's
// CONNECT and then serves as a wsgate.Transport (the methods of
// transport.go) until the gateway's session ends.
type session struct {
	srv *Server
	id  string
	// req is the handshake request, with a context of its own, until a
	// CONNECT is admitted: the gateway's connection keeps what it needs of
	// it (without credentials), and the session lets go of the rest, its
	// cookies and headers included.
	req    *http.Request
	origin []string // the handshake's Origin header lines

	in         chan inbound  // packets for the gateway's read loop
	pong       chan struct{} // a pong arrived
	dead       chan struct{} // closed when the session is over
	deadOnce   sync.Once
	closeTaken chan struct{} // closed when a poll took the close packet
	takenOnce  sync.Once
	postMu     sync.Mutex // one POST at a time
	wmu        sync.Mutex // orders WebSocket writes, the upgrade's flush included

	mu        sync.Mutex
	gone      bool
	out       [][]byte      // packets waiting for a poll
	outBytes  int           // their size
	outReady  chan struct{} // closed when out gets its first packet
	drained   chan struct{} // closed when a poll takes out
	upgraded  chan struct{} // closed when writes move to the WebSocket
	polling   bool          // on the polling transport (not upgraded)
	polled    bool          // a GET waits
	ws        *wsConn       // the WebSocket, once writes go there
	probe     *wsConn       // an upgrade in progress
	connected bool
	subject   string // the principal's subject, when bound
	bound     bool
	skip      int // binary attachments still to discard
	attempts  int // CONNECT packets to "/" (read by one goroutine at a time: POSTs are serialised, a WebSocket has one reader)
	closeSent bool
	peerGone  *wsgate.PeerCloseError // how the client left, if it said so

	connectTimer *time.Timer // closes a session that never connects
	idleTimer    *time.Timer // closes a polling session nobody polls
}

// inbound is one item for the gateway's read loop.
type inbound struct {
	msg    []byte
	close  *wsgate.PeerCloseError // the client disconnected
	tooBig bool                   // a message over the limit
	binary bool                   // a binary message the protocol does not expect
}

// maxConnectAttempts is how many CONNECTs a session may send before one is
// accepted; past it the session is closed.
const maxConnectAttempts = 10

// inboxSize is how many packets may wait for the gateway's read loop
// before the transport stops reading (a POST waits; a WebSocket is not
// read). The gateway queues up to 8 events of its own beyond those being
// handled, so a client that sends faster than its handlers run is slowed
// after 16; every session holds its inbox for life (40 bytes a slot).
const inboxSize = 8

func newSession(s *Server, id string, r *http.Request, polling bool) *session {
	ss := &session{
		srv:        s,
		id:         id,
		req:        r.WithContext(context.WithoutCancel(r.Context())),
		origin:     r.Header.Values("Origin"),
		in:         make(chan inbound, inboxSize),
		pong:       make(chan struct{}, 1),
		dead:       make(chan struct{}),
		closeTaken: make(chan struct{}),
		outReady:   make(chan struct{}),
		drained:    make(chan struct{}),
		upgraded:   make(chan struct{}),
		polling:    polling,
	}
	ss.connectTimer = time.AfterFunc(s.gwo.ConnectTimeout, func() {
		if !ss.isConnected() {
			ss.kill()
		}
	})
	if polling {
		ss.idleTimer = time.AfterFunc(s.pingTimeout(), ss.expire)
	}
	return ss
}

func (ss *session) isConnected() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.connected
}

func (ss *session) boundSubject() (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.subject, ss.bound
}

// openPacket is Engine.IO's open packet, with the gateway's keepalive and
// ReadLimit.
func (ss *session) openPacket(upgrades []string) []byte {
	o := ss.srv.gwo
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}{ss.id, upgrades, o.PingInterval.Milliseconds(), o.PongTimeout.Milliseconds(), o.ReadLimit})
	return append([]byte{'0'}, b...)
}

// frameLimit is the largest Engine.IO message read: a Socket.IO packet of
// ReadLimit bytes and its type, plus one byte so that the gateway sees a
// packet over its limit as one and closes with 1009.
func (ss *session) frameLimit() int64 { return ss.srv.gwo.ReadLimit + 2 }

// expire closes a polling session whose client stopped polling for
// pingInterval + pingTimeout.
func (ss *session) expire() {
	ss.mu.Lock()
	idle := ss.polling && !ss.polled && ss.probe == nil
	ss.mu.Unlock()
	if idle {
		ss.kill()
	}
}

// kill ends the session at once.
func (ss *session) kill() {
	ss.deadOnce.Do(func() {
		ss.mu.Lock()
		ss.gone = true
		ws, probe := ss.ws, ss.probe
		ss.connectTimer.Stop()
		if ss.idleTimer != nil {
			ss.idleTimer.Stop()
		}
		ss.mu.Unlock()
		close(ss.dead)
		if ws != nil {
			ws.drop()
		}
		if probe != nil {
			probe.drop()
		}
		ss.srv.forget(ss)
	})
}

var errGone = errors.New("socketio: connection closed")

// send queues or writes one Engine.IO packet, which it owns from then on.
// On polling it waits while the buffer is full, until a poll drains it,
// the session ends or done is closed.
func (ss *session) send(pkt []byte, done <-chan struct{}) error {
	return ss.sendPacket(pkt, true, done)
}

// sendPacket is send of a packet that the caller owns unless owned is
// set: on WebSocket it is written before sendPacket returns, and only a
// packet queued for a poll is copied (the gateway writes every message
// from a buffer it reuses, so a WebSocket write needs no copy).
func (ss *session) sendPacket(pkt []byte, owned bool, done <-chan struct{}) error {
	o := &ss.srv.opts
	ss.mu.Lock()
	for {
		if ss.gone {
			ss.mu.Unlock()
			return errGone
		}
		if ws := ss.ws; ws != nil {
			ss.mu.Unlock()
			ss.wmu.Lock()
			defer ss.wmu.Unlock()
			return ws.write(pkt)
		}
		if len(ss.out) == 0 || len(ss.out) < o.MaxBufferedPackets && ss.outBytes+len(pkt) <= o.MaxBufferedBytes {
			if !owned {
				pkt = append([]byte(nil), pkt...)
			}
			ss.queueLocked(pkt)
			ss.mu.Unlock()
			return nil
		}
		drained := ss.drained
		ss.mu.Unlock()
		select {
		case <-drained:
		case <-ss.dead:
		case <-done:
			return context.DeadlineExceeded
		}
		ss.mu.Lock()
	}
}

// queueLocked appends pkt to the polling buffer. ss.mu held.
func (ss *session) queueLocked(pkt []byte) {
	if len(ss.out) == 0 {
		close(ss.outReady)
	}
	ss.out = append(ss.out, pkt)
	ss.outBytes += len(pkt)
}

// takeLocked empties the polling buffer. ss.mu held.
func (ss *session) takeLocked() [][]byte {
	pkts := ss.out
	if len(pkts) > 0 {
		ss.outReady = make(chan struct{})
	}
	ss.out, ss.outBytes = nil, 0
	close(ss.drained)
	ss.drained = make(chan struct{})
	return pkts
}

// push hands an item to the gateway's read loop, waiting for room.
func (ss *session) push(it inbound, done <-chan struct{}) error {
	select {
	case ss.in <- it:
		return nil
	case <-ss.dead:
		return errGone
	case <-done:
		return context.Canceled
	}
}

var errProtocol = errors.New("socketio: protocol error")

// receive handles one Engine.IO packet from the client.
func (ss *session) receive(pkt []byte, done <-chan struct{}) error {
	if len(pkt) == 0 {
		return errProtocol
	}
	switch pkt[0] {
	case '1': // close
		ss.mu.Lock()
		ss.peerGone = &wsgate.PeerCloseError{Code: wsgate.StatusGoingAway, Reason: "transport close"}
		ss.mu.Unlock()
		ss.kill()
		return nil
	case '2': // a ping from a client (Engine.IO v3 clients ping)
		return ss.send([]byte("3"), done)
	case '3': // pong
		select {
		case ss.pong <- struct{}{}:
		default:
		}
		return nil
	case '4':
		return ss.message(pkt[1:], done)
	case '6': // noop
		return nil
	case 'b': // a binary packet in base64, over polling
		return ss.attachment(done)
	}
	return errProtocol
}

// attachment handles a binary message: an attachment of a binary packet
// already refused, to discard, or a message the protocol does not expect.
func (ss *session) attachment(done <-chan struct{}) error {
	ss.mu.Lock()
	connected := ss.connected
	if ss.skip > 0 {
		ss.skip--
		ss.mu.Unlock()
		return nil
	}
	ss.mu.Unlock()
	if !connected {
		return errProtocol
	}
	return ss.push(inbound{binary: true}, done)
}

// message handles a Socket.IO packet.
func (ss *session) message(p []byte, done <-chan struct{}) error {
	if len(p) == 0 {
		return errProtocol
	}
	ss.mu.Lock()
	connected := ss.connected
	ss.mu.Unlock()
	if !connected {
		return ss.connect(p, done)
	}
	typ := p[0]
	rest := p[1:]
	if typ == '5' || typ == '6' {
		if n, r, ok := attachments(rest); ok {
			rest = r
			ss.mu.Lock()
			ss.skip += n
			ss.mu.Unlock()
		}
	}
	nsp, _ := namespace(rest)
	switch {
	case typ == '0' && nsp != "/":
		return ss.send(connectError(nsp, errInvalidNamespace), done)
	case typ == '1' && nsp == "/":
		return ss.push(inbound{close: &wsgate.PeerCloseError{Code: wsgate.StatusNormalClosure, Reason: "client namespace disconnect"}}, done)
	case typ == '1':
		return nil // leaving a namespace it never joined
	}
	// Events, and anything else for the codec to answer.
	return ss.push(inbound{msg: p}, done)
}

// connect handles the packet of a client that has not connected: a
// CONNECT, admitted by the gateway. Anything else before it is a protocol
// error that ends the session (socket.io-client buffers its emits until it
// is connected).
func (ss *session) connect(p []byte, done <-chan struct{}) error {
	if p[0] != '0' {
		return errProtocol
	}
	nsp, rest := namespace(p[1:])
	if nsp != "/" {
		return ss.send(connectError(nsp, errInvalidNamespace), done)
	}
	if ss.attempts++; ss.attempts > maxConnectAttempts {
		// Each attempt runs the authenticator: a client may retry with
		// other credentials, not make the server verify token after token.
		return errProtocol
	}
	adm, err := ss.admit(rest)
	if err != nil {
		return ss.send(connectError(nsp, err), done)
	}
	s := ss.srv
	s.mu.Lock()
	ss.mu.Lock()
	if s.closed || ss.gone {
		ss.mu.Unlock()
		s.mu.Unlock()
		adm.Release()
		return errGone
	}
	ss.connected = true
	ss.req = nil // admitted: see session.req
	ss.connectTimer.Stop()
	if p := adm.Principal(); p != nil {
		ss.subject, ss.bound = p.Subject, true
	}
	s.running.Add(1)
	ss.mu.Unlock()
	s.mu.Unlock()
	// The CONNECT answer is sent by Open, which Serve calls once the
	// connection is registered and before OnConnect.
	go func() {
		defer s.running.Done()
		defer ss.kill()
		adm.Serve(ss, s.codec)
	}()
	return nil
}

// admit reads the CONNECT's auth payload and has the gateway admit the
// connection (Gateway.Admit: the token's verification, the connect guards,
// the limits).
//
// On WebSocket it does so on a goroutine of its own that it waits for. The
// caller is then the WebSocket's reader, which lives as long as the
// connection: the deep call chains of verification would grow its stack,
// which it would then keep while idle (a GC shrinks a stack only while
// less than a quarter of it is in use, which the reader's, parked under
// the WebSocket's read, is not). A short-lived goroutine takes that growth
// away with it: measured with BenchmarkIdleConnection, the goroutine
// stacks of an idle socket.io connection on WebSocket are 7.7 KB (the
// reader's as small as a native session's) instead of 12.3 KB, for the
// price of a goroutine per CONNECT. Waiting keeps the order: nothing the
// client sends after CONNECT is handled before the connection is
// registered. On polling the caller is a POST's handler, whose goroutine
// ends with the request: admit runs on it.
func (ss *session) admit(payload []byte) (*wsgate.Admission, error) {
	ss.mu.Lock()
	polling := ss.polling
	ss.mu.Unlock()
	if polling {
		return ss.admitHere(payload)
	}
	type admitted struct {
		adm *wsgate.Admission
		err error
	}
	result := make(chan admitted, 1)
	go func() {
		adm, err := ss.admitHere(payload)
		result <- admitted{adm, err}
	}()
	r := <-result
	return r.adm, r.err
}

// admitHere is admit on the caller's goroutine.
func (ss *session) admitHere(payload []byte) (*wsgate.Admission, error) {
	token, err := ss.authToken(payload)
	if err != nil {
		return nil, err
	}
	return ss.srv.gw.Admit(ss.req, token)
}

// Open sends the CONNECT answer: see wsgate.Opener.
func (ss *session) Open() error { return ss.send(connectPacket(newID()), nil) }

var errBadAuth = &wsgate.Error{Status: http.StatusBadRequest, Code: wsgate.CodeBadRequest, Message: "invalid auth payload"}

// authToken reads the CONNECT packet's auth payload: an object, whose
// "token" is the connection's token when Options.AuthToken is set.
func (ss *session) authToken(payload []byte) (string, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return "", nil
	}
	if payload[0] != '{' || !json.Valid(payload) {
		return "", errBadAuth
	}
	if !ss.srv.opts.AuthToken {
		return "", nil
	}
	var auth struct {
		Token json.RawMessage `json:"token"`
	}
	if json.Unmarshal(payload, &auth) != nil {
		return "", errBadAuth
	}
	if len(auth.Token) == 0 || string(auth.Token) == "null" {
		return "", nil
	}
	var token string
	if json.Unmarshal(auth.Token, &token) != nil {
		return "", errBadAuth
	}
	return token, nil
}

// closePacket is the Engine.IO close packet.
var closePacket = []byte("1")

// pingPacket and noopPacket are Engine.IO's ping and noop.
var (
	pingPacket = []byte("2")
	noopPacket = []byte("6")
)

// joinPayload joins polling packets with the record separator.
func joinPayload(pkts [][]byte) []byte {
	n := 0
	for _, p := range pkts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range pkts {
		if i > 0 {
			b = append(b, 0x1e)
		}
		b = append(b, p...)
	}
	return b
}
