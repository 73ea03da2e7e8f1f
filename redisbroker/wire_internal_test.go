package redisbroker

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
)

// TestWireSent: a message's publication time is stored as Unix nanoseconds
// under "t" and decodes to the same instant; a message without one stores
// no "t", and an entry without "t" (from a publisher of an older version)
// decodes with the zero Time.
func TestWireSent(t *testing.T) {
	sent := time.Date(2026, 12, 1, 20, 4, 37, 987654321, time.UTC)
	body, err := encode(&wsgate.BrokerMessage{Op: wsgate.OpEmit, Rooms: []string{"r"}, Event: "e", Data: json.RawMessage(`1`), Sent: sent})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"t":` + strconv.FormatInt(sent.UnixNano(), 10); !strings.Contains(string(body), want) {
		t.Errorf("entry %s lacks %s", body, want)
	}
	m, err := decode(string(body))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Sent.Equal(sent) {
		t.Errorf("Sent decoded as %v, want %v", m.Sent, sent)
	}

	body, err = encode(&wsgate.BrokerMessage{Op: wsgate.OpDisconnect, Code: 1008, Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), `"t"`) {
		t.Errorf("entry %s of a message without Sent has a time", body)
	}
	for _, body := range []string{string(body), `{"o":1,"r":["r"],"e":"e","d":1}`} {
		m, err := decode(body)
		if err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		if !m.Sent.IsZero() {
			t.Errorf("entry %s decoded with Sent %v, want the zero Time", body, m.Sent)
		}
	}
}
