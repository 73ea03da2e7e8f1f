package wsgate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()

	long := strings.Repeat("a", maxEventLen)
	deep := strings.Repeat("[", maxDataDepth) + strings.Repeat("]", maxDataDepth)
	tooDeep := strings.Repeat("[", maxDataDepth+1) + strings.Repeat("]", maxDataDepth+1)
	deepObj := strings.Repeat(`{"a":`, maxDataDepth) + "1" + strings.Repeat("}", maxDataDepth)
	tooDeepObj := strings.Repeat(`{"a":`, maxDataDepth+1) + "1" + strings.Repeat("}", maxDataDepth+1)

	tests := []struct {
		name  string
		frame string
		// On success:
		event string
		data  string // "" means nil
		id    int64
		hasID bool
		// On failure:
		reason string
	}{
		// Happy paths.
		{name: "event only", frame: `{"event":"ping"}`, event: "ping"},
		{name: "event and data", frame: `{"event":"msg","data":{"a":[1,2,{"b":null}]}}`, event: "msg", data: `{"a":[1,2,{"b":null}]}`},
		{name: "request", frame: `{"event":"msg","data":"x","id":7}`, event: "msg", data: `"x"`, id: 7, hasID: true},
		{name: "request without data", frame: `{"id":0,"event":"e"}`, event: "e", id: 0, hasID: true},
		{name: "any key order", frame: `{"data":1,"id":2,"event":"e"}`, event: "e", data: "1", id: 2, hasID: true},
		{name: "whitespace everywhere", frame: " \t\r\n{ \n\"event\" \t: \r\"e\" ,\n\"data\"\t:\t[ 1 , { \"k\" : true } ] , \"id\" : 3 \n} \r\n\t", event: "e", data: `[ 1 , { "k" : true } ]`, id: 3, hasID: true},
		{name: "data null", frame: `{"event":"e","data":null}`, event: "e", data: "null"},
		{name: "data true", frame: `{"event":"e","data":true}`, event: "e", data: "true"},
		{name: "data false", frame: `{"event":"e","data":false}`, event: "e", data: "false"},
		{name: "data empty object", frame: `{"event":"e","data":{}}`, event: "e", data: "{}"},
		{name: "data empty array", frame: `{"event":"e","data":[ ]}`, event: "e", data: "[ ]"},
		{name: "data numbers", frame: `{"event":"e","data":[0,-0,1.5,-2e10,3E+2,4e-1,0.0]}`, event: "e", data: `[0,-0,1.5,-2e10,3E+2,4e-1,0.0]`},
		{name: "data escapes", frame: `{"event":"e","data":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, event: "e", data: `"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"`},
		{name: "data with duplicate keys inside", frame: `{"event":"e","data":{"a":1,"a":2}}`, event: "e", data: `{"a":1,"a":2}`},
		{name: "data depth at limit", frame: `{"event":"e","data":` + deep + `}`, event: "e", data: deep},
		{name: "data object depth at limit", frame: `{"event":"e","data":` + deepObj + `}`, event: "e", data: deepObj},
		{name: "unicode event", frame: `{"event":"héllo.世界.😀"}`, event: "héllo.世界.😀"},
		{name: "escaped event", frame: `{"event":"a\/b\"c\\d"}`, event: `a/b"c\d`},
		{name: "escaped unicode event", frame: `{"event":"\u0068i\u00e9\uD83D\uDE00"}`, event: "hié😀"},
		{name: "lone surrogate event", frame: `{"event":"a\uD800b"}`, event: "a\uFFFDb"},
		{name: "event at length limit", frame: `{"event":"` + long + `"}`, event: long},
		{name: "escaped event at length limit", frame: `{"event":"` + strings.Repeat(`\u0061`, maxEventLen) + `"}`, event: long},
		{name: "reserved event", frame: `{"event":"$refresh","data":{"token":"t"},"id":1}`, event: "$refresh", data: `{"token":"t"}`, id: 1, hasID: true},
		{name: "max id", frame: `{"event":"e","id":9007199254740991}`, event: "e", id: 1<<53 - 1, hasID: true},
		{name: "invalid UTF-8 passes through", frame: "{\"event\":\"a\xffb\"}", event: "a\xffb"},

		// Not one object.
		{name: "empty", frame: ``, reason: reasonMalformed},
		{name: "whitespace only", frame: " \n", reason: reasonMalformed},
		{name: "array", frame: `[{"event":"e"}]`, reason: reasonMalformed},
		{name: "string", frame: `"event"`, reason: reasonMalformed},
		{name: "null", frame: `null`, reason: reasonMalformed},
		{name: "unterminated", frame: `{"event":"e"`, reason: reasonMalformed},
		{name: "unterminated string", frame: `{"event":"e`, reason: reasonMalformed},
		{name: "trailing comma", frame: `{"event":"e",}`, reason: reasonMalformed},
		{name: "missing colon", frame: `{"event" "e"}`, reason: reasonMalformed},
		{name: "missing comma", frame: `{"event":"e" "id":1}`, reason: reasonMalformed},
		{name: "single quotes", frame: `{'event':'e'}`, reason: reasonMalformed},
		{name: "unquoted key", frame: `{event:"e"}`, reason: reasonMalformed},
		{name: "trailing object", frame: `{"event":"e"}{"event":"f"}`, reason: reasonTrailing},
		{name: "trailing garbage", frame: `{"event":"e"} x`, reason: reasonTrailing},
		{name: "trailing NUL", frame: "{\"event\":\"e\"}\x00", reason: reasonTrailing},
		{name: "trailing with id", frame: `{"event":"e","id":4}]`, reason: reasonTrailing, id: 4, hasID: true},
		{name: "non-JSON whitespace", frame: "{\"event\":\"e\"}\v", reason: reasonTrailing},

		// Keys.
		{name: "unknown field", frame: `{"event":"e","extra":1}`, reason: reasonUnknownField},
		{name: "unknown field after id", frame: `{"id":5,"event":"e","x":{}}`, reason: reasonUnknownField, id: 5, hasID: true},
		{name: "unknown field before id", frame: `{"x":[1,{"y":2}],"event":"e","id":6}`, reason: reasonUnknownField, id: 6, hasID: true},
		{name: "key case differs", frame: `{"Event":"e"}`, reason: reasonUnknownField},
		{name: "key case differs id", frame: `{"event":"e","ID":1}`, reason: reasonUnknownField},
		{name: "escaped key", frame: `{"\u0065vent":"e"}`, reason: reasonUnknownField},
		{name: "escaped key id", frame: `{"event":"e","\u0069d":1}`, reason: reasonUnknownField},
		{name: "empty key", frame: `{"":1,"event":"e"}`, reason: reasonUnknownField},
		{name: "duplicate event", frame: `{"event":"a","event":"b"}`, reason: reasonDuplicate},
		{name: "duplicate data", frame: `{"event":"a","data":1,"data":2}`, reason: reasonDuplicate},
		{name: "duplicate id keeps first", frame: `{"event":"a","id":1,"id":2}`, reason: reasonDuplicate, id: 1, hasID: true},
		{name: "first problem wins", frame: `{"x":1,"event":"a","event":"b"}`, reason: reasonUnknownField},
		{name: "syntax error after unknown field", frame: `{"x":1,"id":2,`, reason: reasonUnknownField, id: 2, hasID: true},
		{name: "syntax error after id", frame: `{"id":2,"event":}`, reason: reasonMalformed, id: 2, hasID: true},

		// Event.
		{name: "empty object", frame: `{}`, reason: reasonMissingEvent},
		{name: "missing event", frame: `{"data":1,"id":9}`, reason: reasonMissingEvent, id: 9, hasID: true},
		{name: "empty event", frame: `{"event":"","id":9}`, reason: reasonInvalidEvent, id: 9, hasID: true},
		{name: "null event", frame: `{"event":null,"id":9}`, reason: reasonInvalidEvent, id: 9, hasID: true},
		{name: "number event", frame: `{"event":1}`, reason: reasonInvalidEvent},
		{name: "object event", frame: `{"event":{"a":"b"},"id":1}`, reason: reasonInvalidEvent, id: 1, hasID: true},
		{name: "event too long", frame: `{"event":"` + long + `a","id":1}`, reason: reasonEventTooLong, id: 1, hasID: true},
		{name: "escaped event too long", frame: `{"event":"` + strings.Repeat(`\u0061`, maxEventLen+1) + `"}`, reason: reasonEventTooLong},
		{name: "huge escaped event", frame: `{"event":"` + strings.Repeat(`\n`, 10000) + `"}`, reason: reasonEventTooLong},
		{name: "raw control in event", frame: "{\"event\":\"a\tb\"}", reason: reasonMalformed},
		{name: "escaped newline in event", frame: `{"event":"a\nb"}`, reason: reasonInvalidEvent},
		{name: "escaped NUL in event", frame: `{"event":"a\u0000b"}`, reason: reasonInvalidEvent},
		{name: "DEL in event", frame: "{\"event\":\"a\x7fb\"}", reason: reasonInvalidEvent},
		{name: "C1 control in event", frame: "{\"event\":\"a\u0085b\"}", reason: reasonInvalidEvent},
		{name: "escaped C1 control in event", frame: `{"event":"a\u009fb"}`, reason: reasonInvalidEvent},
		{name: "bad escape in event", frame: `{"event":"a\xb"}`, reason: reasonMalformed},
		{name: "short unicode escape in event", frame: `{"event":"a\u00"}`, reason: reasonMalformed},

		// Data.
		{name: "data missing value", frame: `{"event":"e","data":}`, reason: reasonMalformed},
		{name: "data bad literal", frame: `{"event":"e","data":nul}`, reason: reasonMalformed},
		{name: "data literal suffix", frame: `{"event":"e","data":truex}`, reason: reasonMalformed},
		{name: "data capital literal", frame: `{"event":"e","data":True}`, reason: reasonMalformed},
		{name: "data leading zero", frame: `{"event":"e","data":01}`, reason: reasonMalformed},
		{name: "data plus sign", frame: `{"event":"e","data":+1}`, reason: reasonMalformed},
		{name: "data bare minus", frame: `{"event":"e","data":-}`, reason: reasonMalformed},
		{name: "data bare fraction", frame: `{"event":"e","data":1.}`, reason: reasonMalformed},
		{name: "data leading dot", frame: `{"event":"e","data":.5}`, reason: reasonMalformed},
		{name: "data bare exponent", frame: `{"event":"e","data":1e}`, reason: reasonMalformed},
		{name: "data hex", frame: `{"event":"e","data":0x1}`, reason: reasonMalformed},
		{name: "data NaN", frame: `{"event":"e","data":NaN}`, reason: reasonMalformed},
		{name: "data bad escape", frame: `{"event":"e","data":"\a"}`, reason: reasonMalformed},
		{name: "data bad unicode escape", frame: `{"event":"e","data":"\u12G4"}`, reason: reasonMalformed},
		{name: "data raw control", frame: "{\"event\":\"e\",\"data\":\"a\nb\"}", reason: reasonMalformed},
		{name: "data trailing comma in array", frame: `{"event":"e","data":[1,]}`, reason: reasonMalformed},
		{name: "data trailing comma in object", frame: `{"event":"e","data":{"a":1,}}`, reason: reasonMalformed},
		{name: "data mismatched brackets", frame: `{"event":"e","data":[1}}`, reason: reasonMalformed},
		{name: "data non-string key", frame: `{"event":"e","data":{1:2}}`, reason: reasonMalformed},
		{name: "data unclosed", frame: `{"event":"e","data":[[1]`, reason: reasonMalformed},
		{name: "data too deep", frame: `{"id":8,"event":"e","data":` + tooDeep + `}`, reason: reasonTooDeep, id: 8, hasID: true},
		{name: "data object too deep", frame: `{"event":"e","data":` + tooDeepObj + `}`, reason: reasonTooDeep},
		{name: "unknown field too deep", frame: `{"event":"e","x":` + tooDeep + `}`, reason: reasonUnknownField},

		// ID.
		{name: "id one above max", frame: `{"event":"e","id":9007199254740992}`, reason: reasonInvalidID},
		{name: "id far above max", frame: `{"event":"e","id":99999999999999999999999}`, reason: reasonInvalidID},
		{name: "id negative", frame: `{"event":"e","id":-1}`, reason: reasonInvalidID},
		{name: "id minus zero", frame: `{"event":"e","id":-0}`, reason: reasonInvalidID},
		{name: "id fraction", frame: `{"event":"e","id":1.0}`, reason: reasonInvalidID},
		{name: "id exponent", frame: `{"event":"e","id":1e3}`, reason: reasonInvalidID},
		{name: "id null", frame: `{"event":"e","id":null}`, reason: reasonInvalidID},
		{name: "id string", frame: `{"event":"e","id":"1"}`, reason: reasonInvalidID},
		{name: "id bool", frame: `{"event":"e","id":true}`, reason: reasonInvalidID},
		{name: "id array", frame: `{"event":"e","id":[1]}`, reason: reasonInvalidID},
		{name: "id leading zero", frame: `{"event":"e","id":01}`, reason: reasonMalformed},
		{name: "id minus after digit", frame: `{"event":"e","id":0-1}`, reason: reasonMalformed},
		{name: "id unterminated", frame: `{"event":"e","id":1`, reason: reasonMalformed},
		{name: "id plus sign", frame: `{"event":"e","id":+1}`, reason: reasonMalformed},
		{name: "bad id then bad event", frame: `{"id":-1,"event":""}`, reason: reasonInvalidID},
		{name: "bad event then bad id", frame: `{"event":"","id":-1}`, reason: reasonInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, err := decodeEnvelope([]byte(tt.frame))
			if tt.reason != "" {
				var ee *envelopeError
				if !errors.As(err, &ee) {
					t.Fatalf("error = %v, want *envelopeError %q", err, tt.reason)
				}
				if ee.Reason != tt.reason || ee.ID != tt.id || ee.HasID != tt.hasID {
					t.Fatalf("error = %+v, want {Reason:%s ID:%d HasID:%t}", *ee, tt.reason, tt.id, tt.hasID)
				}
				if ee.Error() != "wsgate: "+tt.reason {
					t.Fatalf("Error() = %q", ee.Error())
				}
				if env.Event != nil || env.Data != nil || env.ID != tt.id || env.HasID != tt.hasID {
					t.Fatalf("envelope on error = %+v, want only the id", env)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v, want success", err)
			}
			if string(env.Event) != tt.event {
				t.Errorf("Event = %q, want %q", env.Event, tt.event)
			}
			if tt.data == "" {
				if env.Data != nil {
					t.Errorf("Data = %q, want nil", env.Data)
				}
			} else if string(env.Data) != tt.data {
				t.Errorf("Data = %q, want %q", env.Data, tt.data)
			}
			if env.ID != tt.id || env.HasID != tt.hasID {
				t.Errorf("ID, HasID = %d, %t, want %d, %t", env.ID, env.HasID, tt.id, tt.hasID)
			}
		})
	}
}

// TestDecodeEnvelopeAliasing checks that Event and Data alias the frame when
// the event name has no escapes, and that appending to them cannot write into
// the frame.
func TestDecodeEnvelopeAliasing(t *testing.T) {
	t.Parallel()
	frame := []byte(`{"event":"abc","data":[1],"id":1}`)
	env, err := decodeEnvelope(frame)
	if err != nil {
		t.Fatal(err)
	}
	if &env.Event[0] != &frame[10] {
		t.Error("Event does not alias the frame")
	}
	if &env.Data[0] != &frame[22] {
		t.Error("Data does not alias the frame")
	}
	_ = append(env.Event, 'X')
	_ = append(env.Data, 'X')
	if string(frame) != `{"event":"abc","data":[1],"id":1}` {
		t.Errorf("append wrote into the frame: %s", frame)
	}
}

// TestDecodeEnvelopeHuge feeds megabyte-sized hostile frames, which must be
// refused quickly and without exhausting the stack.
func TestDecodeEnvelopeHuge(t *testing.T) {
	t.Parallel()
	const n = 1 << 20
	frames := map[string]string{
		"open brackets":       `{"event":"e","data":` + strings.Repeat("[", n),
		"open braces":         `{"event":"e","data":` + strings.Repeat(`{"a":`, n/5),
		"bare brackets":       strings.Repeat("[", n),
		"unknown deep":        `{"x":` + strings.Repeat("[", n) + `,"event":"e"}`,
		"long string":         `{"event":"e","data":"` + strings.Repeat("a", n) + `"}`,
		"long escaped string": `{"event":"e","data":"` + strings.Repeat(`\u0041`, n/6) + `"}`,
	}
	for name, frame := range frames {
		_, err := decodeEnvelope([]byte(frame))
		if name == "long string" || name == "long escaped string" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A valid, wide (not deep) value is accepted.
	wide := `{"event":"e","data":[` + strings.Repeat("[],", n/3) + `[]]}`
	if _, err := decodeEnvelope([]byte(wide)); err != nil {
		t.Errorf("wide: %v", err)
	}
}

func TestDecodeEnvelopeNoAllocs(t *testing.T) {
	frame := []byte(`{"event":"chat.message","data":{"room":"general","text":"hello, world","tags":["a","b"],"n":1.5e3,"ok":true},"id":42}`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeEnvelope(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	frame := []byte(`{"event":"chat.message","data":{"room":"general","text":"hello, world","tags":["a","b"],"n":1.5e3,"ok":true},"id":42}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := decodeEnvelope(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeEnvelope checks decodeEnvelope against encoding/json: whatever
// it accepts must be valid JSON with the same event, data and id as
// encoding/json reads, and whatever encoding/json finds invalid it must
// refuse.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"event":"ping"}`,
		`{"event":"msg","data":{"a":[1,2.5e-3,null,true,false,"x"]},"id":7}`,
		` { "id" : 9007199254740991 , "event" : "e" } `,
		`{"event":"e","id":9007199254740992}`,
		`{"event":"\u0068\uD83D\uDE00\/"}`,
		`{"\u0065vent":"e"}`,
		`{"Event":"e"}`,
		`{"event":"a","event":"b"}`,
		`{"event":"e"}{}`,
		`{"event":"e","data":[[[[[[[[]]]]]]]]}`,
		`{"event":"e","id":-0}`,
		`{"event":"e","data":"\uD800"}`,
		"{\"event\":\"a\xffb\"}",
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		env, err := decodeEnvelope(frame)
		valid := json.Valid(frame)
		if err != nil {
			var ee *envelopeError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v is not an *envelopeError", err)
			}
			isObject := len(bytes.TrimLeft(frame, " \t\r\n")) > 0 && bytes.TrimLeft(frame, " \t\r\n")[0] == '{'
			if valid && isObject && (ee.Reason == reasonMalformed || ee.Reason == reasonTrailing) {
				t.Fatalf("refused valid JSON with %q", ee.Reason)
			}
			if ee.HasID && (ee.ID < 0 || ee.ID > maxID) {
				t.Fatalf("error id %d out of range", ee.ID)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted invalid JSON")
		}
		if env.Data != nil && !json.Valid(env.Data) {
			t.Fatalf("Data %q is not valid JSON", env.Data)
		}
		if len(env.Event) == 0 || len(env.Event) > maxEventLen {
			t.Fatalf("Event length %d", len(env.Event))
		}
		if env.HasID && (env.ID < 0 || env.ID > maxID) {
			t.Fatalf("id %d out of range", env.ID)
		}

		var m map[string]json.RawMessage
		if err := json.Unmarshal(frame, &m); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		for k := range m {
			if k != "event" && k != "data" && k != "id" {
				t.Fatalf("accepted key %q", k)
			}
		}
		if !bytes.Equal(m["data"], env.Data) {
			t.Fatalf("Data = %q, encoding/json has %q", env.Data, m["data"])
		}
		_, hasID := m["id"]
		if hasID != env.HasID {
			t.Fatalf("HasID = %t, encoding/json says %t", env.HasID, hasID)
		}
		if hasID {
			var id int64
			if err := json.Unmarshal(m["id"], &id); err != nil || id != env.ID {
				t.Fatalf("ID = %d, encoding/json has %d (%v)", env.ID, id, err)
			}
		}
		if utf8.Valid(frame) {
			var event string
			if err := json.Unmarshal(m["event"], &event); err != nil || event != string(env.Event) {
				t.Fatalf("Event = %q, encoding/json has %q (%v)", env.Event, event, err)
			}
		}
	})
}
