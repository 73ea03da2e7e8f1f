package wsgate

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits of the wire envelope.
const (
	// maxEventLen is the longest event name accepted, in bytes after
	// unescaping. Event names are route keys, not payload; a short cap
	// keeps lookups and logs cheap. It is the one limit on event names:
	// Handle refuses to register a longer one.
	maxEventLen = 128
	// maxDataDepth is how deeply arrays and objects may nest inside "data".
	// "[[1]]" has depth 2. The cap bounds the work the scanner does per
	// value and the cost of binding the value later with encoding/json.
	maxDataDepth = 128
	// maxID is the largest request id, 2^53-1: the largest integer every
	// JSON implementation, JavaScript's included, represents exactly.
	maxID = 1<<53 - 1
)

// Reasons carried by an envelopeError. They are short, stable and safe to
// send to the client.
const (
	reasonMalformed    = "malformed JSON"
	reasonUnknownField = "unknown field"
	reasonDuplicate    = "duplicate field"
	reasonMissingEvent = "missing event"
	reasonInvalidEvent = "invalid event"
	reasonEventTooLong = "event name too long"
	reasonInvalidID    = "invalid id"
	reasonTrailing     = "trailing data"
	reasonTooDeep      = "nesting too deep"
)

// envelope is one decoded client frame of wire protocol v1, as an Inbound:
//
//	{"event":"<name>","data":<any JSON>}                 fire and forget
//	{"event":"<name>","data":<any JSON>,"id":<integer>}  request
//
// Event and Data alias the frame's bytes (no copy), so they are valid only as
// long as the frame's buffer is; Event is a fresh copy only when the name was
// written with escape sequences. Data is the raw JSON value of "data",
// exactly as in the frame without the whitespace around it: nil when "data"
// is absent, the four bytes "null" for an explicit null.
type envelope = Inbound

// envelopeError is why a frame is not a valid envelope, as a DecodeError.
//
// When the frame's "id" was decoded before the scanner met the problem, or
// despite it, ID and HasID carry it so the server can answer the request with
// an error ack rather than a bare exception event. A frame whose id itself is
// invalid has HasID false.
type envelopeError = DecodeError

// Fields of the envelope, as bits of a set.
const (
	fieldEvent = 1 << iota
	fieldData
	fieldID
)

// decodeEnvelope decodes frame strictly, as exactly one JSON object holding
// the keys "event" (required), "data" and "id" (optional) and nothing else.
//
// It is stricter than encoding/json on purpose, since a gateway's routing
// must not depend on which of two readings a parser picks:
//   - anything but JSON whitespace after the object is an error, where
//     encoding/json's Decoder would leave it for the next call;
//   - keys match exactly, where encoding/json folds case;
//   - a repeated key is an error, where encoding/json keeps the last one;
//   - a key written with escape sequences, such as "\u0065vent", is an
//     unknown field even though it unescapes to a known one. No client
//     needs to escape these three keys, and refusing them means a key is
//     recognised by its bytes alone, the same way by every reader.
//
// "data" is validated in full against the JSON grammar, up to maxDataDepth
// nested arrays and objects. The scan is iterative, so no input makes it
// recurse; its cost is linear in the frame's length.
//
// The frame is expected to be valid UTF-8 (the caller closes the connection
// with 1007 otherwise); decodeEnvelope does not check it but never panics on
// any input.
//
// On success it does not allocate, unless the event name has escape
// sequences. On failure the error is an *envelopeError, and the returned
// envelope holds only ID and HasID, with the same values as the error.
//
// When a frame has several problems, the first one in frame order is
// reported. A problem of meaning (an unknown or duplicate field, a bad event
// or id) does not stop the scan, so an id further on is still found; a
// syntax error does.
func decodeEnvelope(frame []byte) (envelope, error) {
	d := envelopeDecoder{s: scanner{buf: frame}}
	d.decode()
	if d.reason != "" {
		env := envelope{ID: d.env.ID, HasID: d.env.HasID}
		return env, &envelopeError{Reason: d.reason, ID: env.ID, HasID: env.HasID}
	}
	return d.env, nil
}

// envelopeDecoder holds the state of one decodeEnvelope call.
type envelopeDecoder struct {
	s      scanner
	env    envelope
	seen   uint8  // fields met so far, valid or not
	reason string // the first problem met; "" while there is none
}

// fail records reason unless an earlier problem was recorded.
func (d *envelopeDecoder) fail(reason string) {
	if d.reason == "" {
		d.reason = reason
	}
}

// decode scans the whole frame, filling d.env and d.reason.
func (d *envelopeDecoder) decode() {
	s := &d.s
	s.skipSpace()
	if !s.consume('{') {
		d.fail(reasonMalformed)
		return
	}
	s.skipSpace()
	if !s.consume('}') {
		for {
			if !d.member() {
				return
			}
			s.skipSpace()
			if s.consume(',') {
				s.skipSpace()
				continue
			}
			if s.consume('}') {
				break
			}
			d.fail(reasonMalformed)
			return
		}
	}
	s.skipSpace()
	if s.pos != len(s.buf) {
		d.fail(reasonTrailing)
		return
	}
	if d.seen&fieldEvent == 0 {
		d.fail(reasonMissingEvent)
	}
}

// member scans one `"key": value` pair of the envelope object. It reports
// false on a syntax error, after which the scan cannot go on.
func (d *envelopeDecoder) member() bool {
	s := &d.s
	key, escaped, ok := s.str()
	if !ok {
		d.fail(reasonMalformed)
		return false
	}
	s.skipSpace()
	if !s.consume(':') {
		d.fail(reasonMalformed)
		return false
	}
	s.skipSpace()

	var field uint8
	if !escaped {
		switch string(key) { // does not allocate
		case "event":
			field = fieldEvent
		case "data":
			field = fieldData
		case "id":
			field = fieldID
		}
	}
	switch {
	case field == 0:
		d.fail(reasonUnknownField)
	case d.seen&field != 0:
		d.fail(reasonDuplicate)
	default:
		d.seen |= field
		switch field {
		case fieldEvent:
			return d.event()
		case fieldData:
			return d.data()
		case fieldID:
			return d.id()
		}
	}
	return d.skip()
}

// skip scans a value that is not kept.
func (d *envelopeDecoder) skip() bool {
	if reason := d.s.value(); reason != "" {
		d.fail(reason)
		return false
	}
	return true
}

// event scans the value of "event".
func (d *envelopeDecoder) event() bool {
	s := &d.s
	if s.pos >= len(s.buf) || s.buf[s.pos] != '"' {
		// Not a string: refuse it, but scan it to reach any id after it.
		if !d.skip() {
			return false
		}
		d.fail(reasonInvalidEvent)
		return true
	}
	raw, escaped, ok := s.str()
	if !ok {
		d.fail(reasonMalformed)
		return false
	}
	name := raw
	if escaped {
		// An escape sequence is at most six bytes long per byte it
		// yields ("\u0061"), so a raw name this long is too long without
		// unescaping it, and unescaping never allocates much.
		if len(raw) > 6*maxEventLen {
			d.fail(reasonEventTooLong)
			return true
		}
		name = unescape(raw)
	}
	switch {
	case len(name) == 0:
		d.fail(reasonInvalidEvent)
	case len(name) > maxEventLen:
		d.fail(reasonEventTooLong)
	case hasControl(name):
		d.fail(reasonInvalidEvent)
	default:
		d.env.Event = name
	}
	return true
}

// data scans the value of "data".
func (d *envelopeDecoder) data() bool {
	start := d.s.pos
	if !d.skip() {
		return false
	}
	d.env.Data = d.s.buf[start:d.s.pos:d.s.pos]
	return true
}

// id scans the value of "id". Any valid JSON value is scanned, so that an id
// of the wrong type is reported as "invalid id" and the scan goes on.
func (d *envelopeDecoder) id() bool {
	start := d.s.pos
	if !d.skip() {
		return false
	}
	end := d.s.pos
	d.s.skipSpace()
	if d.s.pos >= len(d.s.buf) || (d.s.buf[d.s.pos] != ',' && d.s.buf[d.s.pos] != '}') {
		// As in "01" or "0-1": the grammar ends the number after "0", but
		// the member does not end there. The syntax error that follows is
		// the problem to report, and it must not come with id 0.
		return true
	}
	id, ok := parseID(d.s.buf[start:end])
	if !ok {
		d.fail(reasonInvalidID)
		return true
	}
	d.env.ID, d.env.HasID = id, true
	return true
}

// parseID parses tok, a complete JSON value, as a request id: a JSON integer
// with neither sign, fraction nor exponent, in [0, maxID]. The JSON grammar
// already rules out leading zeros.
func parseID(tok []byte) (int64, bool) {
	// maxID has 16 digits.
	if len(tok) == 0 || len(tok) > 16 || (tok[0] == '0' && len(tok) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > maxID {
		return 0, false
	}
	return n, true
}

// hasControl reports whether name holds a control character (Unicode
// category Cc: U+0000-U+001F, U+007F-U+009F). Such characters have no place
// in a route key and make logs lie.
func hasControl(name []byte) bool {
	for i, c := range name {
		switch {
		case c < 0x20 || c == 0x7f:
			return true
		case c == 0xc2 && i+1 < len(name) && name[i+1] >= 0x80 && name[i+1] <= 0x9f:
			return true // U+0080-U+009F in UTF-8
		}
	}
	return false
}

// unescape returns a new slice holding the JSON string body raw with its
// escape sequences decoded. raw must have been validated by scanner.str.
// Like encoding/json, it decodes a surrogate pair to one rune and a lone
// surrogate to U+FFFD.
func unescape(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			out = append(out, c)
			i++
			continue
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw[i:])
			if !ok {
				return out // unreachable for validated input
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2, ok = hex4(raw[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != unicode.ReplacementChar {
					r = dec
					i += 6
				} else {
					r = unicode.ReplacementChar
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, e)
		}
	}
	return out
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// scanner is a cursor over a JSON text. Its methods check syntax only; they
// never allocate and never index out of range.
type scanner struct {
	buf []byte
	pos int
}

// skipSpace moves past JSON whitespace.
func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// consume moves past c if it is the next byte, and reports whether it was.
func (s *scanner) consume(c byte) bool {
	if s.pos < len(s.buf) && s.buf[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// str scans the JSON string at the cursor. It returns the bytes between the
// quotes, still escaped, and whether they hold escape sequences. ok is false
// if there is no well-formed string at the cursor.
func (s *scanner) str() (body []byte, escaped, ok bool) {
	if !s.consume('"') {
		return nil, false, false
	}
	start := s.pos
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			body = s.buf[start:s.pos:s.pos]
			s.pos++
			return body, escaped, true
		case c == '\\':
			escaped = true
			if s.pos+1 >= len(s.buf) {
				return nil, false, false
			}
			switch s.buf[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if _, ok := hex4(s.buf[s.pos+2:]); !ok {
					return nil, false, false
				}
				s.pos += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			s.pos++
		}
	}
	return nil, false, false
}

// number scans the JSON number at the cursor:
//
//	-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.pos < len(s.buf) && s.buf[s.pos] >= '1' && s.buf[s.pos] <= '9':
		s.digits()
	default:
		return false
	}
	if s.consume('.') && !s.digits() {
		return false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits moves past a run of decimal digits and reports whether there was
// at least one.
func (s *scanner) digits() bool {
	start := s.pos
	for s.pos < len(s.buf) && s.buf[s.pos] >= '0' && s.buf[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// literal moves past lit if it is next, and reports whether it was.
func (s *scanner) literal(lit string) bool {
	if len(s.buf)-s.pos >= len(lit) && string(s.buf[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	return false
}

// value scans one JSON value at the cursor, with arrays and objects nested
// at most maxDataDepth deep, and leaves the cursor just after it. It returns
// "" on success and the reason otherwise.
//
// It is iterative: the kind of each open container is one bit of a fixed
// bit set, so neither depth nor input length grows the stack or the heap.
func (s *scanner) value() string {
	var objects [(maxDataDepth + 63) / 64]uint64 // bit set: open container i is an object
	depth := 0
	for {
		// Expect a value.
		if s.pos >= len(s.buf) {
			return reasonMalformed
		}
		closed := true // whether the value just scanned is complete
		switch c := s.buf[s.pos]; {
		case c == '{' || c == '[':
			if depth == maxDataDepth {
				return reasonTooDeep
			}
			s.pos++
			if c == '{' {
				objects[depth/64] |= 1 << (depth % 64)
			} else {
				objects[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			s.skipSpace()
			end := byte(']')
			if c == '{' {
				end = '}'
			}
			if s.consume(end) {
				depth--
			} else {
				closed = false
				if c == '{' && !s.key() {
					return reasonMalformed
				}
			}
		case c == '"':
			if _, _, ok := s.str(); !ok {
				return reasonMalformed
			}
		case c == 't':
			if !s.literal("true") {
				return reasonMalformed
			}
		case c == 'f':
			if !s.literal("false") {
				return reasonMalformed
			}
		case c == 'n':
			if !s.literal("null") {
				return reasonMalformed
			}
		default:
			if !s.number() {
				return reasonMalformed
			}
		}
		if !closed {
			continue
		}

		// A value is complete: close containers until one has more
		// members, or the outermost value is done.
		for {
			if depth == 0 {
				return ""
			}
			s.skipSpace()
			isObject := objects[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			if s.consume(',') {
				s.skipSpace()
				if isObject && !s.key() {
					return reasonMalformed
				}
				break
			}
			if (isObject && s.consume('}')) || (!isObject && s.consume(']')) {
				depth--
				continue
			}
			return reasonMalformed
		}
	}
}

// key scans an object key and the colon after it, leaving the cursor at the
// member's value.
func (s *scanner) key() bool {
	if _, _, ok := s.str(); !ok {
		return false
	}
	s.skipSpace()
	if !s.consume(':') {
		return false
	}
	s.skipSpace()
	return true
}
