package socketio

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/internal/wsio"
)

// Socket.IO v5 packets travel in Engine.IO "message" packets (type '4'):
//
//	0[/nsp,][{auth}]          CONNECT; the server answers 0{"sid":…} or
//	4[/nsp,]{"message":…,"data":…}   CONNECT_ERROR
//	1[/nsp,]                  DISCONNECT
//	2[/nsp,][id]["name",arg…] EVENT
//	3[/nsp,]id[arg…]          ACK
//	5n-[/nsp,][id][…]         BINARY_EVENT with n attachments; 6 BINARY_ACK
//
// The codec below frames the gateway's answers with the Engine.IO type in
// front ("42…", "43…"), so that a message is written as it is.

// maxEventName is the longest event name accepted, as the native envelope.
const maxEventName = 128

// maxID is the largest request id: 2^53-1, what a JavaScript number holds.
const maxID = 1<<53 - 1

// codec is the wsgate.Codec of socket.io connections. One value serves
// every connection of a Server.
type codec struct{}

// ExceptionOnErrorAck: socket.io clients of a NestJS gateway get the
// "exception" event for every failure, acked or not.
func (*codec) ExceptionOnErrorAck() bool { return true }

func (*codec) AppendEvent(b []byte, event string, data []byte) []byte {
	b = append(b, `42[`...)
	b = wsio.AppendString(b, event)
	if len(data) > 0 {
		b = append(b, ',')
		b = append(b, data...)
	}
	return append(b, ']')
}

func (*codec) AppendAck(b []byte, id int64, data []byte) []byte {
	b = append(b, "43"...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, '[')
	b = append(b, data...)
	return append(b, ']')
}

func (c *codec) AppendErrorAck(b []byte, id int64, body []byte) []byte {
	return c.AppendAck(b, id, body)
}

// Decode reads a Socket.IO packet (the Engine.IO message's payload) of a
// connected client: an EVENT on "/" is an event; anything else is a
// *wsgate.DecodeError the gateway answers.
func (*codec) Decode(msg []byte) (wsgate.Inbound, error) {
	if len(msg) == 0 {
		return wsgate.Inbound{}, &wsgate.DecodeError{Reason: "empty packet"}
	}
	typ, rest := msg[0], msg[1:]
	if typ == '5' || typ == '6' {
		_, rest, _ = attachments(rest)
	}
	nsp, rest := namespace(rest)
	id, hasID, rest, ok := packetID(rest)
	if !ok {
		return wsgate.Inbound{}, &wsgate.DecodeError{Reason: "bad ack id"}
	}
	fail := func(reason string) (wsgate.Inbound, error) {
		return wsgate.Inbound{}, &wsgate.DecodeError{Reason: reason, ID: id, HasID: hasID && typ != '3' && typ != '6'}
	}
	switch {
	case nsp != "/":
		return fail("namespace not connected")
	case typ == '5' || typ == '6':
		return fail("binary attachments are not supported")
	case typ == '3':
		return fail("the server asks for no acks")
	case typ == '0':
		return fail("already connected")
	case typ != '2':
		return fail("unknown packet type")
	}
	name, data, reason := eventArgs(rest)
	if reason != "" {
		return fail(reason)
	}
	return wsgate.Inbound{Event: name, Data: data, ID: id, HasID: hasID}, nil
}

// attachments reads the "n-" of a binary packet.
func attachments(b []byte) (n int, rest []byte, ok bool) {
	i := 0
	for i < len(b) && i < 6 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(b) || b[i] != '-' {
		return 0, b, false
	}
	n, _ = strconv.Atoi(string(b[:i]))
	return n, b[i+1:], true
}

// namespace reads the "/nsp," of a packet: "/" when there is none.
func namespace(b []byte) (string, []byte) {
	if len(b) == 0 || b[0] != '/' {
		return "/", b
	}
	for i, c := range b {
		if c == ',' {
			return string(b[:i]), b[i+1:]
		}
	}
	return string(b), nil
}

// packetID reads the digits of an ack id, if any.
func packetID(b []byte) (id int64, has bool, rest []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false, b, true
	}
	if i > 16 {
		return 0, false, b, false
	}
	id, err := strconv.ParseInt(string(b[:i]), 10, 64)
	if err != nil || id > maxID {
		return 0, false, b, false
	}
	return id, true, b[i:], true
}

// eventArgs reads ["name"] or ["name",data]. The name is unescaped when
// it has escapes; otherwise it and data alias b.
func eventArgs(b []byte) (name, data []byte, reason string) {
	const shape = `an event is ["name"] or ["name",data]`
	if len(b) == 0 || b[0] != '[' || !json.Valid(b) {
		return nil, nil, shape
	}
	i := skipSpace(b, 1)
	if i >= len(b) || b[i] != '"' {
		return nil, nil, shape
	}
	end := skipString(b, i)
	name = b[i+1 : end-1]
	for _, c := range name {
		if c == '\\' {
			var s string
			if json.Unmarshal(b[i:end], &s) != nil {
				return nil, nil, shape
			}
			name = []byte(s)
			break
		}
	}
	if len(name) == 0 || len(name) > maxEventName || !utf8.Valid(name) || hasControl(name) {
		return nil, nil, "invalid event name"
	}
	i = skipSpace(b, end)
	if b[i] == ']' {
		return name, nil, ""
	}
	// b is valid JSON, so a ',' follows.
	start := skipSpace(b, i+1)
	stop := skipValue(b, start)
	data = b[start:stop]
	if i = skipSpace(b, stop); b[i] != ']' {
		return nil, nil, "an event carries at most one argument"
	}
	return name, data, ""
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] ('"'),
// in valid JSON.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i], in
// valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// connectPacket is the answer to an accepted CONNECT: the socket's id.
func connectPacket(sid string) []byte {
	return []byte(`40{"sid":"` + sid + `"}`)
}

// connectError is the CONNECT_ERROR answering a refused CONNECT to nsp:
// {"message":…,"data":{"status":…,"code":…}}.
func connectError(nsp string, err error) []byte {
	type data struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	var body struct {
		Message string `json:"message"`
		Data    *data  `json:"data,omitempty"`
	}
	var e *wsgate.Error
	switch {
	case errors.Is(err, errInvalidNamespace):
		body.Message = "Invalid namespace"
	case errors.As(err, &e):
		body.Message = e.Message
		body.Data = &data{Status: e.Status, Code: e.Code}
	default:
		body.Message = "Internal server error"
		body.Data = &data{Status: 500, Code: wsgate.CodeInternal}
	}
	b, _ := json.Marshal(body)
	p := []byte("44")
	if nsp != "/" {
		p = append(append(p, nsp...), ',')
	}
	return append(p, b...)
}

var errInvalidNamespace = errors.New("socketio: invalid namespace")

// closeEvent is the "$close" event sent before the gateway closes a
// connection: {"code":…,"reason":…}.
func closeEvent(code wsgate.StatusCode, reason string) []byte {
	b := []byte(`42["$close",{"code":`)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"reason":`...)
	b = wsio.AppendString(b, reason)
	return append(b, "}]"...)
}
