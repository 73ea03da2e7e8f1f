package wsgatetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
)

// DialOptions describe the upgrade request a test client sends.
type DialOptions struct {
	// Path is the request path: Server.Path by default, or "/" when that
	// is empty too.
	Path string
	// Query parameters are added to the URL.
	Query url.Values
	// Origin, when set, is sent as the Origin header, as a browser would.
	Origin string
	// Cookies are sent in one Cookie header, in order.
	Cookies []*http.Cookie
	// Header holds any other request header (Authorization, a second
	// Cookie line, …).
	Header http.Header
	// Subprotocols are offered in Sec-WebSocket-Protocol, in order.
	Subprotocols []string
	// Timeout bounds the handshake and every wait of the client. Default
	// 5 s: a test never hangs.
	Timeout time.Duration
}

// HandshakeError is a refused handshake: the HTTP answer the gateway gave
// instead of upgrading.
type HandshakeError struct {
	Status  int         // the HTTP status, such as 401 or 403
	Header  http.Header // the response header (WWW-Authenticate, Retry-After, …)
	Body    ErrorBody   // the decoded JSON body (zero when the body is not JSON)
	RawBody []byte      // the body as sent
	Path    string      // the path the dial requested
}

// fromGateway reports whether the answer has the shape of a wsgate
// refusal: a JSON error object with a message.
func (e *HandshakeError) fromGateway() bool {
	var body ErrorBody
	return json.Unmarshal(e.RawBody, &body) == nil && body.Status == "error" && body.Message != ""
}

// Error returns the status and the raw body.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("wsgatetest: handshake refused: %d %s", e.Status, e.RawBody)
}

// ErrorBody is the error object of the wire protocol:
// {"status":"error","message":…,"code":…}.
type ErrorBody struct {
	Status  string          `json:"status"`          // always "error"
	Message string          `json:"message"`         // the short, safe reason
	Code    string          `json:"code,omitempty"`  // the machine-readable code, such as "FORBIDDEN"
	Data    json.RawMessage `json:"data,omitempty"`  // wsgate.Error.Data, when set
	Cause   json.RawMessage `json:"cause,omitempty"` // with Options.IncludeCause: {"pattern":…,"data":…}
}

// Ack is the server's answer to a request: Data on success, Error on
// failure.
type Ack struct {
	ID    int64           // the request's id
	Data  json.RawMessage // the result, on success
	Error *ErrorBody      // the error, on failure; nil on success
}

// Event is an event the server emitted to the client.
type Event struct {
	Name string          // the event's name
	Data json.RawMessage // its data, as sent
}

// CloseStatus is how the server closed the connection.
type CloseStatus struct {
	// Code is the close code the server sent, or
	// wsgate.StatusAbnormalClosure (1006) when the connection ended
	// without a close frame: the convention of wsgate.CloseStatus.
	Code   wsgate.StatusCode
	Reason string // the close reason, "" for none
}

// Dial opens a connection to the server and fails the test if the
// handshake is refused.
func (s *Server) Dial(opts DialOptions) *Client {
	s.tb.Helper()
	c, err := s.DialErr(opts)
	if err != nil {
		s.tb.Fatalf("wsgatetest: dial: %v", err)
	}
	return c
}

// Refused dials, expects the handshake to be refused by the gateway, and
// returns the refusal. It fails the test if the connection was upgraded, and
// if the answer is not a wsgate refusal (a JSON body
// {"status":"error","message":…}): a mux's 404 for a wrong path is a
// mistake in the test, not a refused handshake. Use DialErr to look at any
// other answer.
func (s *Server) Refused(opts DialOptions) *HandshakeError {
	s.tb.Helper()
	c, err := s.DialErr(opts)
	if err == nil {
		c.closeNow()
		s.tb.Fatalf("wsgatetest: handshake was accepted; want it refused")
	}
	var he *HandshakeError
	if !errors.As(err, &he) {
		s.tb.Fatalf("wsgatetest: dial failed without an HTTP answer: %v", err)
	}
	if !he.fromGateway() {
		s.tb.Fatalf("wsgatetest: %s %d answered %q, which is not a wsgate refusal "+
			`(a JSON body {"status":"error","message":…}); is the path the gateway's? (DialOptions.Path, Server.Path)`,
			he.Path, he.Status, he.RawBody)
	}
	return he
}

// DialErr opens a connection to the server. A refused handshake is
// returned as a *HandshakeError.
func (s *Server) DialErr(opts DialOptions) (*Client, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = dialTimeout
	}
	path := cmp.Or(opts.Path, s.Path, "/")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := s.URL + path
	if len(opts.Query) > 0 {
		u += "?" + opts.Query.Encode()
	}
	header := opts.Header.Clone()
	if header == nil {
		header = make(http.Header)
	}
	if opts.Origin != "" {
		header.Set("Origin", opts.Origin)
	}
	if len(opts.Cookies) > 0 {
		parts := make([]string, len(opts.Cookies))
		for i, ck := range opts.Cookies {
			parts[i] = ck.Name + "=" + ck.Value
		}
		header.Add("Cookie", strings.Join(parts, "; "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient:   s.HTTPClient(),
		HTTPHeader:   header,
		Subprotocols: opts.Subprotocols,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			he := &HandshakeError{Status: resp.StatusCode, Header: resp.Header, Path: path}
			if resp.Body != nil {
				he.RawBody, _ = io.ReadAll(resp.Body)
				_ = json.Unmarshal(he.RawBody, &he.Body)
			}
			return nil, he
		}
		return nil, err
	}
	ws.SetReadLimit(-1)
	c := &Client{
		tb:       s.tb,
		srv:      s,
		ws:       ws,
		timeout:  timeout,
		acks:     make(map[int64]*Ack),
		changed:  make(chan struct{}),
		readDone: make(chan struct{}),
		Response: resp,
	}
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	go c.readLoop()
	return c, nil
}

// Client is a test client on an in-memory connection. Its methods fail the
// test, with what arrived instead, when the expected answer does not come
// within the dial timeout. Use it from the test's goroutine.
type Client struct {
	// Response is the server's 101 answer (its header holds the
	// negotiated subprotocol).
	Response *http.Response

	tb      testing.TB
	srv     *Server
	ws      *websocket.Conn
	timeout time.Duration
	writeMu sync.Mutex

	mu       sync.Mutex
	nextID   int64
	acks     map[int64]*Ack
	events   []Event
	received []string // every frame, for failure messages
	problems []string // protocol violations seen by the read loop
	changed  chan struct{}
	closed   *CloseStatus
	readDone chan struct{}
}

// Emit sends a fire-and-forget event.
func (c *Client) Emit(event string, data any) {
	c.tb.Helper()
	c.send(map[string]any{"event": event, "data": data})
}

// Request sends an event with a fresh id and waits for its ack.
func (c *Client) Request(event string, data any) *Ack {
	c.tb.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	c.send(map[string]any{"event": event, "data": data, "id": id})
	return c.WaitAck(id)
}

// SendText sends one raw text frame, for malformed input or ids of the
// test's own choosing. An id it carries is never reused by Request.
func (c *Client) SendText(frame string) {
	c.tb.Helper()
	var probe struct {
		ID *int64 `json:"id"`
	}
	if json.Unmarshal([]byte(frame), &probe) == nil && probe.ID != nil {
		c.mu.Lock()
		c.nextID = max(c.nextID, *probe.ID)
		c.mu.Unlock()
	}
	c.write(websocket.MessageText, []byte(frame))
}

// SendBinary sends one binary frame.
func (c *Client) SendBinary(frame []byte) {
	c.tb.Helper()
	c.write(websocket.MessageBinary, frame)
}

// WaitAck waits for the ack of request id.
func (c *Client) WaitAck(id int64) *Ack {
	c.tb.Helper()
	var ack *Ack
	c.wait(fmt.Sprintf("the ack of request %d", id), func() bool {
		ack = c.acks[id]
		return ack != nil
	})
	return ack
}

// NextEvent waits for the next event not yet taken, whatever its name.
func (c *Client) NextEvent() Event {
	c.tb.Helper()
	var ev Event
	c.wait("an event", func() bool {
		if len(c.events) == 0 {
			return false
		}
		ev = c.events[0]
		c.events = c.events[1:]
		return true
	})
	return ev
}

// WaitEvent waits for the first event called name not yet taken; events
// of other names stay for later.
func (c *Client) WaitEvent(name string) Event {
	c.tb.Helper()
	var ev Event
	c.wait(fmt.Sprintf("event %q", name), func() bool {
		for i, e := range c.events {
			if e.Name == name {
				ev = e
				c.events = append(c.events[:i:i], c.events[i+1:]...)
				return true
			}
		}
		return false
	})
	return ev
}

// WaitException waits for an "exception" event and returns its error body.
func (c *Client) WaitException() ErrorBody {
	c.tb.Helper()
	ev := c.WaitEvent("exception")
	var body ErrorBody
	if err := json.Unmarshal(ev.Data, &body); err != nil {
		c.tb.Fatalf("wsgatetest: exception event with data %s: %v", ev.Data, err)
	}
	return body
}

// WaitClosed waits until the server closes the connection and returns the
// close code and reason.
func (c *Client) WaitClosed() CloseStatus {
	c.tb.Helper()
	var st CloseStatus
	c.wait("the server to close the connection", func() bool {
		if c.closed == nil {
			return false
		}
		st = *c.closed
		return true
	})
	return st
}

// Pending returns the events received and not yet taken.
func (c *Client) Pending() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// Close closes the connection normally (1000) and waits for it to end.
func (c *Client) Close() {
	c.tb.Helper()
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	c.finish()
}

func (c *Client) closeNow() {
	_ = c.ws.CloseNow()
	c.finish()
}

func (c *Client) finish() {
	<-c.readDone
	c.srv.mu.Lock()
	delete(c.srv.clients, c)
	c.srv.mu.Unlock()
	c.mu.Lock()
	problems := c.problems
	c.problems = nil
	c.mu.Unlock()
	for _, p := range problems {
		c.tb.Errorf("wsgatetest: %s", p)
	}
}

func (c *Client) send(v any) {
	c.tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatalf("wsgatetest: encoding %v: %v", v, err)
	}
	c.write(websocket.MessageText, b)
}

func (c *Client) write(typ websocket.MessageType, b []byte) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.writeMu.Lock()
	err := c.ws.Write(ctx, typ, b)
	c.writeMu.Unlock()
	if err != nil {
		c.tb.Fatalf("wsgatetest: sending %q: %v (%s)", b, err, c.describe())
	}
}

// wait calls ready under the client's lock until it reports true, and
// fails the test after the timeout.
func (c *Client) wait(what string, ready func() bool) {
	c.tb.Helper()
	deadline := time.NewTimer(c.timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if ready() {
			c.mu.Unlock()
			return
		}
		changed, closed := c.changed, c.closed != nil
		c.mu.Unlock()
		if closed {
			// Nothing more will arrive; one more look, then fail.
			c.mu.Lock()
			ok := ready()
			c.mu.Unlock()
			if ok {
				return
			}
			c.tb.Fatalf("wsgatetest: waiting for %s: connection closed; %s", what, c.describe())
		}
		select {
		case <-changed:
		case <-deadline.C:
			c.tb.Fatalf("wsgatetest: waiting for %s: timed out after %v; %s", what, c.timeout, c.describe())
		}
	}
}

// describe says what the client has received, for failure messages.
func (c *Client) describe() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	if len(c.received) == 0 {
		b.WriteString("received nothing")
	} else {
		b.WriteString("received: ")
		b.WriteString(strings.Join(c.received, ", "))
	}
	if c.closed != nil {
		fmt.Fprintf(&b, "; closed with %d %q", c.closed.Code, c.closed.Reason)
	}
	return b.String()
}

// inbound is any frame the server sends.
type inbound struct {
	Event *string         `json:"event"`
	ID    *int64          `json:"id"`
	Data  json.RawMessage `json:"data"`
	Error *ErrorBody      `json:"error"`
}

func (c *Client) readLoop() {
	defer close(c.readDone)
	for {
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			st := CloseStatus{Code: wsgate.StatusAbnormalClosure}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				st.Code, st.Reason = wsgate.StatusCode(ce.Code), ce.Reason
			}
			c.update(func() { c.closed = &st })
			return
		}
		c.update(func() {
			c.received = append(c.received, string(b))
			var in inbound
			switch {
			case typ != websocket.MessageText:
				c.problems = append(c.problems, fmt.Sprintf("server sent a binary frame %q", b))
			case json.Unmarshal(b, &in) != nil:
				c.problems = append(c.problems, fmt.Sprintf("server sent invalid JSON %q", b))
			case in.ID != nil:
				if c.acks[*in.ID] != nil {
					c.problems = append(c.problems, fmt.Sprintf("request %d answered twice: %s", *in.ID, b))
				}
				c.acks[*in.ID] = &Ack{ID: *in.ID, Data: in.Data, Error: in.Error}
			case in.Event != nil:
				c.events = append(c.events, Event{Name: *in.Event, Data: in.Data})
			default:
				c.problems = append(c.problems, fmt.Sprintf("server sent a frame that is neither ack nor event: %s", b))
			}
		})
	}
}

// update changes the client's state and wakes every waiter.
func (c *Client) update(f func()) {
	c.mu.Lock()
	f()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// OK reports whether the ack is a success.
func (a *Ack) OK() bool { return a.Error == nil }

// Decode decodes the ack's data into v.
func (a *Ack) Decode(v any) error { return json.Unmarshal(a.Data, v) }

// Decode decodes the event's data into v.
func (e Event) Decode(v any) error { return json.Unmarshal(e.Data, v) }
