package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/wsgate/wsgate"
)

// Defaults for Options.
const (
	// DefaultMaxBufferedPackets is how many packets may wait for a polling
	// client's next request.
	DefaultMaxBufferedPackets = 256
	// DefaultMaxBufferedBytes is how many bytes of packets may wait for a
	// polling client's next request.
	DefaultMaxBufferedBytes = 1 << 20
)

// Options configure a Server. The zero value is ready to use: tokens come
// only from the gateway's own TokenSources.
type Options struct {
	// AuthToken reads the token from the CONNECT packet's auth payload,
	// io(url, {auth: {token: "…"}}), in place of the gateway's
	// TokenSources. Off by default, like every token source but the
	// cookie: a token a page's script holds can be stolen by any script
	// that runs on the page. It is not ambient, so the gateway's rules for
	// header tokens apply (a request without Origin needs
	// AllowMissingOrigin). Without AuthToken an auth payload is ignored.
	AuthToken bool
	// MaxBufferedPackets and MaxBufferedBytes bound what waits for a
	// polling client's next request: past either, the gateway's writes to
	// the connection wait, and a client that does not come back within
	// the gateway's WriteTimeout is closed as a slow consumer. Defaults
	// 256 packets and 1 MiB (a single larger packet is still buffered
	// alone).
	MaxBufferedPackets int
	MaxBufferedBytes   int // see MaxBufferedPackets
}

// Server is an http.Handler that serves a Gateway's connections over the
// socket.io protocol. Create it with New and mount it on a path ending in
// "/socket.io/" (socket.io-client's default path), beside the gateway's
// own. It is safe for concurrent use.
type Server struct {
	gw    *wsgate.Gateway
	opts  Options
	gwo   wsgate.Options
	codec *codec
	log   *slog.Logger
	h     http.Handler // s.serve behind the gateway's CORS

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	running  sync.WaitGroup // sessions' goroutines

	// readBufs holds the WebSocket readers' buffers, taken once a message
	// has begun: an idle reader holds none (see readWebSocket).
	readBufs sync.Pool
}

// New returns a Server for gw. It refuses a gateway whose keepalive is off
// (Options.PingInterval < 0): socket.io clients expect the server's
// pings, and close a connection that gets none.
func New(gw *wsgate.Gateway, opts Options) (*Server, error) {
	if gw == nil {
		return nil, errors.New("socketio: New needs a gateway")
	}
	if opts.MaxBufferedPackets < 0 || opts.MaxBufferedBytes < 0 {
		return nil, errors.New("socketio: MaxBufferedPackets and MaxBufferedBytes cannot be negative (zero means the default)")
	}
	gwo := gw.Options()
	if gwo.PingInterval < 0 {
		return nil, errors.New("socketio: the gateway's keepalive is off (PingInterval < 0): socket.io clients close a connection that the server does not ping")
	}
	if opts.MaxBufferedPackets == 0 {
		opts.MaxBufferedPackets = DefaultMaxBufferedPackets
	}
	if opts.MaxBufferedBytes == 0 {
		opts.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	s := &Server{
		gw:       gw,
		opts:     opts,
		gwo:      gwo,
		codec:    &codec{},
		log:      gwo.Logger,
		sessions: make(map[string]*session),
	}
	s.h = gw.CORS(http.HandlerFunc(s.serve))
	return s, nil
}

// ServeHTTP serves one request of the Engine.IO protocol: a handshake, a
// poll or a post of a polling session, a WebSocket (direct, or the upgrade
// of a polling session), or a CORS preflight. Every request is checked
// against the gateway's origin policy first.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Close ends every session that has not connected yet (one that has is
// the gateway's: its Shutdown closes it) and waits for the Server's
// goroutines. Call it after the gateway's Shutdown, which it waits for
// otherwise. Handshakes that arrive afterwards are refused with 503.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		if !ss.isConnected() {
			ss.Drop()
		}
	}
	s.running.Wait()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sid := q.Get("sid")
	r, err := s.checkOrigin(r)
	if err != nil {
		if sid != "" {
			// A request of a session from an origin the policy refuses is
			// a foreign request: it learns nothing about the session.
			engineError(w, errUnknownSID)
			return
		}
		s.gw.Refuse(w, r, err)
		return
	}
	if q.Get("EIO") != "4" {
		engineError(w, errBadVersion)
		return
	}
	transport := q.Get("transport")
	if transport != "polling" && transport != "websocket" {
		engineError(w, errUnknownTransport)
		return
	}
	if sid == "" {
		s.handshake(w, r, transport)
		return
	}
	ss := s.lookup(sid, r)
	if ss == nil {
		engineError(w, errUnknownSID)
		return
	}
	if transport == "websocket" {
		ss.upgrade(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		ss.poll(w, r)
	case http.MethodPost:
		ss.post(w, r)
	default:
		engineError(w, errBadRequest)
	}
}

// handshake opens a session over polling or a direct WebSocket.
func (s *Server) handshake(w http.ResponseWriter, r *http.Request, transport string) {
	if transport == "polling" && r.Method != http.MethodGet {
		engineError(w, errBadHandshakeMethod)
		return
	}
	if r.URL.Query().Has("j") {
		engineError(w, errBadRequest) // JSONP polling is not served
		return
	}
	ss, err := s.open(r, transport == "polling")
	if err != nil {
		s.gw.Refuse(w, r, err)
		return
	}
	if transport == "websocket" {
		ss.serveWebSocket(w, r)
		return
	}
	ss.answerOpen(w)
}

// open registers a new session for the handshake request r.
func (s *Server) open(r *http.Request, polling bool) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if max := s.gwo.MaxConnections; max >= 0 && len(s.sessions) >= max {
		return nil, errTooManySessions
	}
	ss := newSession(s, newID(), r, polling)
	s.sessions[ss.id] = ss
	return ss, nil
}

// lookup returns the session sid if r may use it: the same Origin header
// as its handshake, and no token of another principal than the session's.
// Anything else is a foreign request, answered as an unknown session.
func (s *Server) lookup(sid string, r *http.Request) *session {
	s.mu.Lock()
	ss := s.sessions[sid]
	s.mu.Unlock()
	if ss == nil || !slices.Equal(ss.origin, r.Header.Values("Origin")) {
		return nil
	}
	if subject, bound := ss.boundSubject(); bound {
		// A token of another principal is not the session's. A request
		// without a token, or with one that no longer verifies (the
		// session's own, expired: its 4001 close must still reach the
		// client), is judged by its session id and origin, as a request
		// with no credentials would be.
		if p, err := s.gw.Authenticate(r); err == nil && p != nil && p.Subject != subject {
			return nil
		}
	}
	return ss
}

func (s *Server) forget(ss *session) {
	s.mu.Lock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
	s.mu.Unlock()
}

// pingTimeout is how long a client may be silent: Engine.IO's
// pingInterval + pingTimeout.
func (s *Server) pingTimeout() time.Duration { return s.gwo.PingInterval + s.gwo.PongTimeout }

// checkOrigin applies the gateway's origin policy to r. A browser sends no
// Origin with a same-origin GET, as the polling transport's are when the
// page is served by the gateway's own server; it says so with
// Sec-Fetch-Site: same-origin, a header no script can set. Such a request
// is taken as coming from its own host, over HTTPS or HTTP (a proxy may
// have ended TLS), whichever the policy allows: r is returned with that
// Origin, which is what the session is bound to and what the gateway's
// checks and guards see.
func (s *Server) checkOrigin(r *http.Request) (*http.Request, error) {
	err := s.gw.CheckOrigin(r)
	if err == nil || len(r.Header.Values("Origin")) > 0 || r.Header.Get("Sec-Fetch-Site") != "same-origin" || r.Host == "" {
		return r, err
	}
	for _, scheme := range []string{"https://", "http://"} {
		o := r.Clone(r.Context())
		o.Header.Set("Origin", scheme+r.Host)
		if s.gw.CheckOrigin(o) == nil {
			return o, nil
		}
	}
	return r, err
}

// newID returns an unguessable identifier: 128 random bits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Engine.IO's error answers: HTTP 400 with
// {"code":…,"message":…}.
type engineErr struct {
	code    int
	message string
}

var (
	errUnknownTransport   = engineErr{0, "Transport unknown"}
	errUnknownSID         = engineErr{1, "Session ID unknown"}
	errBadHandshakeMethod = engineErr{2, "Bad handshake method"}
	errBadRequest         = engineErr{3, "Bad request"}
	errBadVersion         = engineErr{5, "Unsupported protocol version"}
)

func engineError(w http.ResponseWriter, e engineErr) {
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{e.code, e.message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(body)
}

var (
	errClosed          = &wsgate.Error{Status: http.StatusServiceUnavailable, Code: wsgate.CodeUnavailable, Message: "shutting down"}
	errTooManySessions = &wsgate.Error{Status: http.StatusServiceUnavailable, Code: wsgate.CodeUnavailable, Message: "too many connections"}
)
