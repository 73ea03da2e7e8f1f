package wsgate

import (
	"encoding/json"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/wsgate/wsgate/internal/wsio"
)

// Wire protocol v1, server to client (see the README):
//
//	{"event":"<name>","data":<any JSON>}                                     emit
//	{"id":<integer>,"data":<any JSON>}                                       ack: success
//	{"id":<integer>,"error":{"status":"error","message":"…","code":"…"}}     ack: failure
//	{"event":"exception","data":{"status":"error","message":"…","code":"…"}} failure without id
//
// Frames are built by appending into pooled buffers, so the per-message path
// allocates only what encoding/json needs for the payload itself.

// ExceptionEvent is the event that carries the failure of a message sent
// without an id, in the shape of NestJS's BaseWsExceptionFilter.
const ExceptionEvent = "exception"

// errorBody is the error object of an error ack or an exception event.
type errorBody struct {
	Status  string      `json:"status"`
	Message string      `json:"message"`
	Code    string      `json:"code,omitempty"`
	Data    any         `json:"data,omitempty"`
	Cause   *errorCause `json:"cause,omitempty"`
}

// errorCause echoes what the client sent, when Options.IncludeCause is set.
type errorCause struct {
	Pattern string          `json:"pattern"`
	Data    json.RawMessage `json:"data"`
}

// frame is one outbound text message. Frames from the pool go back to it
// once written; a shared frame (a broadcast) is written to many connections
// and never pooled.
type frame struct {
	b      []byte
	shared bool
	// enc encodes JSON values straight onto b (see appendJSON), made with
	// the frame's first value and kept with it in the pool.
	enc *json.Encoder
}

// maxPooledFrame keeps a rare huge frame from pinning memory in the pool.
const maxPooledFrame = 64 << 10

type framePool struct{ pool sync.Pool }

func (p *framePool) get() *frame {
	if f, ok := p.pool.Get().(*frame); ok {
		f.b = f.b[:0]
		return f
	}
	return &frame{b: make([]byte, 0, 512)}
}

// putMaybe is put for a frame that may be nil.
func (p *framePool) putMaybe(f *frame) {
	if f != nil {
		p.put(f)
	}
}

func (p *framePool) put(f *frame) {
	if f.shared || cap(f.b) > maxPooledFrame {
		return
	}
	p.pool.Put(f)
}

// appendEventHead appends the start of an event message in wire protocol
// v1, up to where its data goes; the message ends with the data and '}'.
func appendEventHead(b []byte, event string) []byte {
	b = append(b, `{"event":`...)
	b = wsio.AppendString(b, event)
	return append(b, `,"data":`...)
}

// appendEvent appends an event message to f.
func (f *frame) appendEvent(event string, data any) error {
	f.b = appendEventHead(f.b, event)
	err := f.appendJSON(data)
	f.b = append(f.b, '}')
	return err
}

// appendAck appends the success answer to request id to f.
func (f *frame) appendAck(id int64, data any) error {
	f.b = append(f.b, `{"id":`...)
	f.b = strconv.AppendInt(f.b, id, 10)
	f.b = append(f.b, `,"data":`...)
	err := f.appendJSON(data)
	f.b = append(f.b, '}')
	return err
}

// appendErrorFrame appends an error ack to f when hasID is set and an
// exception event otherwise.
func (f *frame) appendErrorFrame(id int64, hasID bool, e *Error, cause *errorCause) error {
	body := errorBody{Status: "error", Message: e.Message, Code: e.Code, Data: e.Data, Cause: cause}
	if hasID {
		f.b = append(f.b, `{"id":`...)
		f.b = strconv.AppendInt(f.b, id, 10)
		f.b = append(f.b, `,"error":`...)
	} else {
		f.b = append(f.b, `{"event":"`+ExceptionEvent+`","data":`...)
	}
	err := f.appendJSON(body)
	f.b = append(f.b, '}')
	return err
}

// Write appends p to the frame: the frame is its encoder's writer.
func (f *frame) Write(p []byte) (int, error) {
	f.b = append(f.b, p...)
	return len(p), nil
}

// appendJSON appends v to f as appendJSON does, encoding it straight onto
// f.b through the frame's own json.Encoder, which writes what json.Marshal
// returns (HTML escaped, same errors) and a newline, dropped here. That
// saves json.Marshal's copy of the result, an allocation per message. A
// value that fails to encode, or panics, leaves f.b as it was.
func (f *frame) appendJSON(v any) (err error) {
	switch v := v.(type) {
	case nil:
		f.b = append(f.b, "null"...)
		return nil
	case json.RawMessage:
		f.b, err = appendJSON(f.b, v)
		return err
	}
	n := len(f.b)
	defer func() {
		if r := recover(); r != nil {
			f.b, err = f.b[:n], &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	if f.enc == nil {
		f.enc = json.NewEncoder(f)
	}
	if err := f.enc.Encode(v); err != nil {
		f.b = f.b[:n]
		return err
	}
	f.b = f.b[:len(f.b)-1] // Encode's newline
	return nil
}

// appendJSON appends v as JSON. Raw JSON is appended as it is once checked.
// A panic in v's MarshalJSON (or MarshalText) is the caller's error, not
// the connection's end: it is returned as a *PanicError.
func appendJSON(b []byte, v any) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = b, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case json.RawMessage:
		if v == nil {
			return append(b, "null"...), nil
		}
		if !json.Valid(v) {
			return b, &json.SyntaxError{}
		}
		return append(b, v...), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}

// rawOrNull returns data as raw JSON, null when absent.
func rawOrNull(data []byte) json.RawMessage {
	if data == nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(data)
}

// A connection's messages are framed by its Codec; a nil codec is wire
// protocol v1, whose frames are appended directly around the JSON value. A
// front end's codec gets the value encoded once, in a scratch buffer.

// appendEvent appends the message of an event for c to f.
func (c *Conn) appendEvent(f *frame, event string, data any) error {
	if c.codec == nil {
		return f.appendEvent(event, data)
	}
	return c.appendWith(f, data, func(b, raw []byte) []byte { return c.codec.AppendEvent(b, event, raw) })
}

// appendAck appends the success answer to request id for c to f.
func (c *Conn) appendAck(f *frame, id int64, data any) error {
	if c.codec == nil {
		return f.appendAck(id, data)
	}
	return c.appendWith(f, data, func(b, raw []byte) []byte { return c.codec.AppendAck(b, id, raw) })
}

// appendWith encodes v into a scratch frame and appends the codec's
// message around it to f.
func (c *Conn) appendWith(f *frame, v any, frameIt func(b, raw []byte) []byte) error {
	scratch := c.gw.frames.get()
	defer c.gw.frames.put(scratch)
	if err := scratch.appendJSON(v); err != nil {
		return err
	}
	f.b = frameIt(f.b, scratch.b)
	return nil
}

// decode reads one message of c's protocol.
func (c *Conn) decode(msg []byte) (Inbound, error) {
	if c.codec == nil {
		return decodeEnvelope(msg)
	}
	in, err := c.codec.Decode(msg)
	if err != nil {
		return in, err
	}
	// A codec is outside code: the name it gives is held to the rules of
	// the wire envelope's (see Inbound.Event), which routing relies on.
	var reason string
	switch {
	case len(in.Event) == 0 || hasControl(in.Event):
		reason = reasonInvalidEvent
	case len(in.Event) > maxEventLen:
		reason = reasonEventTooLong
	default:
		return in, nil
	}
	return Inbound{}, &DecodeError{Reason: reason, ID: in.ID, HasID: in.HasID}
}

// sendError answers request id (or, without one, emits the "exception"
// event) with e, in the NestJS shape. An e whose Data cannot be encoded is
// sent without it. A codec that asks for it (ExceptionOnErrorAck) also gets
// the exception event for a request, first.
func (c *Conn) sendError(id int64, hasID bool, e *Error, cause *errorCause, inline bool) error {
	f := c.gw.frames.get()
	if c.codec == nil {
		if err := f.appendErrorFrame(id, hasID, e, cause); err != nil {
			f.b = f.b[:0]
			_ = f.appendErrorFrame(id, hasID, &Error{Message: e.Message, Code: e.Code}, nil)
		}
		return c.send(f, inline)
	}
	scratch := c.gw.frames.get()
	defer c.gw.frames.put(scratch)
	if err := scratch.appendJSON(errorBody{Status: "error", Message: e.Message, Code: e.Code, Data: e.Data, Cause: cause}); err != nil {
		scratch.b = scratch.b[:0]
		_ = scratch.appendJSON(errorBody{Status: "error", Message: e.Message, Code: e.Code})
	}
	body := scratch.b
	if !hasID || c.exceptionOnAck {
		f.b = c.codec.AppendEvent(f.b, ExceptionEvent, body)
		if !hasID {
			return c.send(f, inline)
		}
		if err := c.send(f, inline); err != nil {
			return err
		}
		f = c.gw.frames.get()
	}
	f.b = c.codec.AppendErrorAck(f.b, id, body)
	return c.send(f, inline)
}
