package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// target is the server under load and how a client of it authenticates.
type target struct {
	URL      string   // ws:// or wss://
	Origin   string   // the Origin header; none when empty
	Tokens   []string // connection i uses Tokens[i % len(Tokens)]; none when empty
	Cookie   string   // the token cookie's name, unless Bearer
	Bearer   bool     // send the token as "Authorization: Bearer" instead
	Compress websocket.CompressionMode
	Event    string // the request event of round trips
	Payload  string // the "s" field of each request's data

	client *http.Client
}

// init prepares the HTTP client every connection dials with: HTTP/1.1
// (the upgrade needs it) and, so that a run's thousands of closed
// connections leave no TIME_WAIT behind to exhaust the client's ports,
// sockets closed with a reset once the WebSocket is done with them.
func (t *target) init() {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	t.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			return c, nil
		},
		// A non-nil, empty map: no HTTP/2, whose streams cannot be upgraded.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
}

// dialError is a handshake that failed: an HTTP status (with the start of
// the body), or a network error (Status 0).
type dialError struct {
	Status int
	Body   string
	Err    error
}

func (e *dialError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("handshake answered HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
	}
	return "dial: " + e.Err.Error()
}

// code names the failure for the error counts: "HTTP 503", or "dial".
func (e *dialError) code() string {
	if e.Status != 0 {
		return "HTTP " + strconv.Itoa(e.Status)
	}
	return "dial"
}

// dial opens connection number i.
func (t *target) dial(ctx context.Context, i int) (*websocket.Conn, error) {
	h := http.Header{}
	if t.Origin != "" {
		h.Set("Origin", t.Origin)
	}
	if len(t.Tokens) > 0 {
		token := t.Tokens[i%len(t.Tokens)]
		if t.Bearer {
			h.Set("Authorization", "Bearer "+token)
		} else {
			h.Set("Cookie", t.Cookie+"="+token)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, t.URL, &websocket.DialOptions{
		HTTPClient:      t.client,
		HTTPHeader:      h,
		CompressionMode: t.Compress,
	})
	if err != nil {
		de := &dialError{Err: err}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			de.Status = resp.StatusCode
			if resp.Body != nil {
				var b [256]byte
				n, _ := resp.Body.Read(b[:])
				de.Body = string(b[:n])
			}
		}
		return nil, de
	}
	ws.SetReadLimit(1 << 20)
	return ws, nil
}

// appendRequest appends the request frame
// {"event":<event>,"data":{"n":<id>,"s":<payload>},"id":<id>}.
func (t *target) appendRequest(b []byte, id int64) []byte {
	b = append(b, `{"event":`...)
	b = strconv.AppendQuote(b, t.Event)
	b = append(b, `,"data":{"n":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"s":`...)
	b = strconv.AppendQuote(b, t.Payload)
	b = append(b, `},"id":`...)
	b = strconv.AppendInt(b, id, 10)
	return append(b, '}')
}

// reply is what the client reads of a frame from the server: an ack (id
// with data or error) or an event.
type reply struct {
	ID    *int64          `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func parseReply(msg []byte) (reply, error) {
	var r reply
	if err := json.Unmarshal(msg, &r); err != nil {
		return r, errors.New("a frame that is not a JSON object")
	}
	return r, nil
}

// errorCode names an error ack for the error counts: its code, else its
// message.
func (r *reply) errorCode() string {
	if r.Error.Code != "" {
		return r.Error.Code
	}
	if r.Error.Message != "" {
		return r.Error.Message
	}
	return "error"
}

// request sends one request of the round-trip event with id and waits
// for its ack (see roundTrip).
func (t *target) request(ws *websocket.Conn, buf []byte, id int64) ([]byte, string, error) {
	buf = t.appendRequest(buf[:0], id)
	code, err := roundTrip(ws, buf, id)
	return buf, code, err
}

// roundTrip sends frame, a request with id, and waits for its ack,
// skipping events the server emits meanwhile. It returns the ack's error
// code ("" on success), and an error when the connection failed. It reads
// without a deadline: whoever runs it closes ws to stop it.
func roundTrip(ws *websocket.Conn, frame []byte, id int64) (string, error) {
	ctx := context.Background()
	if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return "", err
	}
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			return "", err
		}
		r, err := parseReply(msg)
		if err != nil {
			return "", err
		}
		if r.ID == nil {
			continue // an event the server emitted
		}
		if *r.ID != id {
			return "", fmt.Errorf("ack for id %d, want %d", *r.ID, id)
		}
		if r.Error != nil {
			return r.errorCode(), nil
		}
		return "", nil
	}
}
