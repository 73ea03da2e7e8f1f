package wsgate

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

type marshalPanics struct{}

func (marshalPanics) MarshalJSON() ([]byte, error) { panic("boom") }

type marshalSpaced struct{}

func (marshalSpaced) MarshalJSON() ([]byte, error) { return []byte(` { "a" : "<b>" } `), nil }

// TestFrameAppendJSONIsMarshal: a frame's in-place encoding writes what
// appendJSON (json.Marshal) writes, fails where it fails, and leaves the
// frame as it was on a failure or a panic; the frame's encoder is reused
// across all of it.
func TestFrameAppendJSONIsMarshal(t *testing.T) {
	values := []any{
		nil,
		json.RawMessage(nil),
		json.RawMessage(`{"a":[1,2]}`),
		json.RawMessage(`{"a":`),
		"<script>&'\"\u2028",
		map[string]any{"z": 1, "a": []string{"<", ">"}},
		struct {
			N int    `json:"n"`
			S string `json:"s,omitempty"`
		}{N: 7},
		marshalSpaced{},
		make(chan int),
		marshalPanics{},
		3.5,
		errorBody{Status: "error", Message: "m&m", Code: "C"},
	}
	f := &frame{}
	for i, v := range values {
		f.b = append(f.b[:0], "prefix:"...)
		want, wantErr := appendJSON([]byte("prefix:"), v)
		err := f.appendJSON(v)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("value %d: error %v, json.Marshal's %v", i, err, wantErr)
		}
		var pe *PanicError
		if errors.As(wantErr, &pe) != errors.As(err, &pe) {
			t.Fatalf("value %d: error %v, json.Marshal's %v", i, err, wantErr)
		}
		if err != nil {
			want = []byte("prefix:")
		}
		if !bytes.Equal(f.b, want) {
			t.Fatalf("value %d: wrote %q, json.Marshal %q", i, f.b, want)
		}
	}
}
