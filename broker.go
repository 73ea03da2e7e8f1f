package wsgate

import (
	"context"
	"encoding/json"
	"time"
)

// A Broker carries the gateway's fan-out (room emits, subject emits,
// broadcasts and disconnects) between gateway processes, so that an emit
// made in one process reaches the matching connections of every process.
//
// The gateway delivers every operation to its own connections first and
// then publishes it; a Broker therefore must not deliver a process's own
// publications back to it. With no Broker (the default) the gateway works
// in one process and pays nothing for the possibility of others.
//
// An implementation must be safe for concurrent use and must lose nothing
// it accepted: Publish returns nil only once the message will reach every
// other process (sent, or kept in a bounded buffer to send later, in
// order), and an error otherwise.
//
// Set one in Options.Broker; Target documents what travels and when.
type Broker interface {
	// Publish hands m to the other processes. Messages of one publisher
	// reach every other process in the order they were published. An
	// error means m was not accepted and will reach no other process.
	// Publish must not keep m past its return, nor modify it: m.Data
	// shares its bytes with the frame being written to local connections.
	//
	// The gateway calls Publish from Target.Emit, Target.Disconnect and
	// Gateway.Broadcast, on the caller's goroutine and with a context that
	// has no deadline (those methods take none): an implementation bounds
	// its own waits, and should not wait on the network at all when it can
	// buffer instead.
	Publish(ctx context.Context, m *BrokerMessage) error

	// Subscribe starts delivering the messages that other processes
	// publish, by calling deliver on one goroutine, one message at a time,
	// in each publisher's order. deliver must not keep m past its return.
	// stop ends the deliveries and returns once deliver has returned for
	// the last time. Subscribe is called once per gateway, by New (an
	// error makes New fail), and stop once, by Gateway.Shutdown. The
	// gateway's deliver never waits for a socket: it only queues frames
	// and starts closes.
	Subscribe(deliver func(m *BrokerMessage)) (stop func(), err error)
}

// BrokerOp is what a BrokerMessage asks the receiving processes to do.
type BrokerOp uint8

// The operations a BrokerMessage carries.
const (
	// OpEmit sends Event with Data to the targeted connections.
	OpEmit BrokerOp = iota + 1
	// OpDisconnect closes the targeted connections with Code and Reason.
	OpDisconnect
)

// BrokerMessage is one fan-out operation as it travels between processes.
// Its target is the union of Rooms and Subjects; with both empty it
// targets every connection. Except names connections (by Conn.ID) that must
// be skipped, such as the sender of a message to its own room. Each
// receiving gateway applies it to its own connections as a local Target
// would: each matching connection once.
//
// A receiving gateway drops (and logs) a message it cannot apply: an
// unknown Op, Data that is not valid JSON, a Code no close frame can carry.
// Empty Data is taken as null.
type BrokerMessage struct {
	Op       BrokerOp
	Rooms    []string
	Subjects []string
	Except   []string
	Event    string          // OpEmit: the event name
	Data     json.RawMessage // OpEmit: the event's data, valid JSON
	Code     int             // OpDisconnect: the close code
	Reason   string          // OpDisconnect: the close reason
	// Sent is when the publishing gateway published the message (set by
	// the gateway, by its host's clock); the receiving gateway reports the
	// time since then as BrokerDelivery.Lag. A Broker carries it across
	// (redisbroker as Unix nanoseconds: wall clock, no monotonic reading),
	// and delivers the zero Time for a message that had none, such as one
	// from a publisher of an older version: such a message has no lag.
	Sent time.Time
}
