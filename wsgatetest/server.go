package wsgatetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/sessiongroup"
)

// DefaultBufferSize is how many bytes each direction of an in-memory
// connection buffers, about what a loopback socket does.
const DefaultBufferSize = 256 << 10

// Server serves an http.Handler, usually a *wsgate.Gateway, over in-memory
// connections: the real handshake and the real session run, and no port is
// opened. It is to a gateway what httptest.Server is to an http.Handler.
//
// A Server is closed by the test's Cleanup: its clients are closed and it
// waits for every connection the handler still serves to end.
type Server struct {
	// URL is the base URL clients dial, "ws://wsgatetest.invalid".
	URL string
	// Path is the path a dial requests when its DialOptions.Path is empty:
	// "/" when Path is empty too. Set it, before the first dial, when the
	// handler is a mux with the gateway mounted on a path of its own:
	//
	//	srv := wsgatetest.NewServer(t, mux)
	//	srv.Path = "/ws"
	Path string

	tb      testing.TB
	handler http.Handler
	bufSize int

	mu      sync.Mutex
	clients map[*Client]struct{}
	serving sync.WaitGroup
}

// NewServer starts serving h in memory for the test tb.
func NewServer(tb testing.TB, h http.Handler) *Server {
	tb.Helper()
	s := &Server{
		URL:     "ws://wsgatetest.invalid",
		tb:      tb,
		handler: h,
		bufSize: DefaultBufferSize,
		clients: make(map[*Client]struct{}),
	}
	tb.Cleanup(s.Close)
	return s
}

// Close closes every client the server dialed and waits until the handler
// has returned for each of them and, for a wsgate.Gateway, until every
// session it started has ended (OnDisconnect included). Cleanup calls it;
// calling it again is harmless.
func (s *Server) Close() {
	s.mu.Lock()
	clients := make([]*Client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	for _, c := range clients {
		c.closeNow()
	}
	s.serving.Wait()
}

// HTTPClient returns an *http.Client whose requests are served by the
// handler in memory, for plain HTTP requests (CORS preflights, say) and for
// websocket.Dial's DialOptions.HTTPClient.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: transport{s}}
}

// transport serves each request by calling the handler; an upgraded
// request's response body is the client's end of an in-memory connection.
type transport struct{ s *Server }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := t.s
	clientEnd, serverEnd := newConnPair(s.bufSize)
	w := &responseWriter{header: make(http.Header), conn: serverEnd, hijacked: make(chan struct{})}
	sreq := serverRequest(req)
	// A gateway runs each session on a goroutine of its own, past the
	// handler's return: it counts the session in s.serving too.
	sreq = sreq.WithContext(sessiongroup.With(sreq.Context(), &s.serving))

	done := make(chan struct{})
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		defer close(done)
		defer func() {
			if !w.isHijacked() {
				serverEnd.Close()
			}
		}()
		s.handler.ServeHTTP(w, sreq)
	}()

	select {
	case <-w.hijacked:
		return w.response(req, clientEnd), nil
	case <-done:
		if w.isHijacked() {
			// The handler hijacked and returned at once, as a gateway
			// does: both cases were ready.
			return w.response(req, clientEnd), nil
		}
		clientEnd.Close()
		return w.response(req, io.NopCloser(bytes.NewReader(w.body.Bytes()))), nil
	case <-req.Context().Done():
		clientEnd.Close()
		serverEnd.Close()
		return nil, req.Context().Err()
	}
}

// serverRequest turns a client request into what a net/http server hands
// its handler.
func serverRequest(req *http.Request) *http.Request {
	r := req.Clone(context.WithoutCancel(req.Context()))
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "192.0.2.1:40000" // TEST-NET-1: an address that is nobody's
	r.Host = req.URL.Host
	r.URL.Scheme, r.URL.Host = "", "" // a clone: the client's URL is untouched
	if r.Body == nil {
		r.Body = http.NoBody
	}
	return r
}

// responseWriter records a response and implements http.Hijacker over the
// server's end of the in-memory connection.
type responseWriter struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	conn     *endpoint
	mu       sync.Mutex
	hj       bool
	hijacked chan struct{}
	snapshot http.Header // header as of WriteHeader
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	w.snapshot = w.header.Clone()
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.isHijacked() {
		return 0, http.ErrHijacked
	}
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// Hijack hands over the server's end. The recorded status and header (the
// 101 answer) become the client's response.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hj {
		return nil, nil, errors.New("wsgatetest: connection already hijacked")
	}
	w.hj = true
	close(w.hijacked)
	rw := bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn))
	return w.conn, rw, nil
}

func (w *responseWriter) isHijacked() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hj
}

func (w *responseWriter) response(req *http.Request, body io.ReadCloser) *http.Response {
	status, header := w.status, w.snapshot
	if status == 0 {
		status, header = http.StatusOK, w.header.Clone()
	}
	return &http.Response{
		Status:     http.StatusText(status),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Body:       body,
		Request:    req,
	}
}

// dialTimeout bounds a handshake, a wait for an ack or an event, and a
// close, unless DialOptions.Timeout says otherwise.
const dialTimeout = 5 * time.Second
