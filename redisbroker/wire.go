package redisbroker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate"
)

// An entry of the stream has three fields: the publisher's id, its
// sequence number and the message, compact JSON with one-letter keys. The
// message's publication time (wsgate.BrokerMessage.Sent) travels as Unix
// nanoseconds, wall clock only: the receiving gateway's lag is measured
// across hosts (see wsgate.BrokerDelivery.Lag).
const (
	fieldPublisher = "p"
	fieldSeq       = "s"
	fieldMessage   = "m"
)

// wireMessage is a wsgate.BrokerMessage as it is stored in an entry.
type wireMessage struct {
	Op       wsgate.BrokerOp `json:"o"`
	Rooms    []string        `json:"r,omitempty"`
	Subjects []string        `json:"u,omitempty"`
	Except   []string        `json:"x,omitempty"`
	Event    string          `json:"e,omitempty"`
	Data     json.RawMessage `json:"d,omitempty"`
	Code     int             `json:"c,omitempty"`
	Reason   string          `json:"n,omitempty"`
	// Sent is BrokerMessage.Sent in Unix nanoseconds; absent (0) when the
	// message has none, as from a publisher of an older version.
	Sent int64 `json:"t,omitempty"`
}

func validOp(op wsgate.BrokerOp) bool {
	return op == wsgate.OpEmit || op == wsgate.OpDisconnect
}

// encode returns m's entry body. It refuses an unknown operation and Data
// that is not valid JSON (json.Marshal checks a RawMessage).
func encode(m *wsgate.BrokerMessage) ([]byte, error) {
	if m == nil {
		return nil, errors.New("redisbroker: nil message")
	}
	if !validOp(m.Op) {
		return nil, fmt.Errorf("redisbroker: unknown operation %d", m.Op)
	}
	w := wireMessage{
		Op: m.Op, Rooms: m.Rooms, Subjects: m.Subjects, Except: m.Except,
		Event: m.Event, Data: m.Data, Code: m.Code, Reason: m.Reason,
	}
	if !m.Sent.IsZero() {
		w.Sent = m.Sent.UnixNano()
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("redisbroker: encoding the message: %w", err)
	}
	return b, nil
}

// decode parses an entry body into a message of its own.
func decode(body string) (*wsgate.BrokerMessage, error) {
	var w wireMessage
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		return nil, err
	}
	if !validOp(w.Op) {
		return nil, fmt.Errorf("unknown operation %d", w.Op)
	}
	m := &wsgate.BrokerMessage{
		Op: w.Op, Rooms: w.Rooms, Subjects: w.Subjects, Except: w.Except,
		Event: w.Event, Data: w.Data, Code: w.Code, Reason: w.Reason,
	}
	if w.Sent != 0 {
		m.Sent = time.Unix(0, w.Sent)
	}
	return m, nil
}

// streamID is an entry id, "<ms>-<seq>". The Broker's own entries have
// ms 0 and seq 1, 2, 3… (XADD "0-*").
type streamID struct{ ms, seq uint64 }

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || id.ms == o.ms && id.seq < o.seq
}

func parseID(s string) (streamID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, fmt.Errorf("malformed stream id %q", s)
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("malformed stream id %q", s)
	}
	return streamID{a, b}, nil
}
