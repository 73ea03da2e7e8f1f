package socketio

import (
	"net/http/httptest"
	"testing"

	"github.com/wsgate/wsgate"
)

// WriteMessage's packet is the gateway's, which reuses it once the call
// returns: a polling session queues a copy.
func TestWriteMessageQueuesACopyOnPolling(t *testing.T) {
	gw, err := wsgate.New(wsgate.Options{AllowMissingOrigin: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(gw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := s.open(httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling", nil), true)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.kill()
	buf := []byte(`42["a"]`)
	if err := ss.WriteMessage(buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, `42["b"]`) // the gateway's next message, in the same buffer
	if err := ss.WriteMessage(buf); err != nil {
		t.Fatal(err)
	}
	ss.mu.Lock()
	got := string(joinPayload(ss.takeLocked()))
	ss.mu.Unlock()
	if want := "42[\"a\"]\x1e42[\"b\"]"; got != want {
		t.Errorf("queued %q, want %q", got, want)
	}
}
