package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/wsgate/wsgate"
)

// FuzzDecode: whatever a client sends, Decode returns an event that keeps
// the promises of wsgate.Inbound, or a *wsgate.DecodeError; an event the
// codec framed decodes to itself.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`2["xyz",{"a":1}]`, `21["xyz"]`, `2/admin,3["x"]`, `51-["x",{"_placeholder":true,"num":0}]`,
		`3[1]`, `0`, `1`, `2[]`, `2["a",1,2]`, `2["\u0000"]`, `29007199254740992["x"]`, `2 ["x"]`,
		`2["x",]`, `2["x"`, `2["é",["]"]]`, `2[ "x" , "y" ]`, "2[\"x\"]\n", `2{"x":1}`,
	} {
		f.Add([]byte(s))
	}
	c := &codec{}
	f.Fuzz(func(t *testing.T, msg []byte) {
		in, err := c.Decode(msg)
		if err != nil {
			var de *wsgate.DecodeError
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("Decode(%q) = %v, want a *wsgate.DecodeError with a reason", msg, err)
			}
			return
		}
		if len(in.Event) == 0 || len(in.Event) > maxEventName || !utf8.Valid(in.Event) || hasControl(in.Event) {
			t.Fatalf("Decode(%q): event name %q", msg, in.Event)
		}
		if in.Data != nil && !json.Valid(in.Data) {
			t.Fatalf("Decode(%q): data %q is not JSON", msg, in.Data)
		}
		if in.HasID && (in.ID < 0 || in.ID > maxID) {
			t.Fatalf("Decode(%q): id %d", msg, in.ID)
		}
		// Framed by the codec, the event decodes to itself.
		framed := c.AppendEvent(nil, string(in.Event), in.Data)
		back, err := c.Decode(framed[1:])
		if err != nil || !bytes.Equal(back.Event, in.Event) || !bytes.Equal(back.Data, in.Data) {
			t.Fatalf("Decode(%q) = %q %q; framed %q decodes to %q %q, %v", msg, in.Event, in.Data, framed, back.Event, back.Data, err)
		}
	})
}
