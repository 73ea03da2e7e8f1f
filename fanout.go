package wsgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Target is a set of connections to emit to or to disconnect: the union
// of rooms and subjects (users) it names, or every connection, minus the
// connections it excepts. Make one with Gateway.To, Gateway.ToSubject or
// Gateway.Everyone and narrow or widen it by chaining:
//
//	gw.To("a", "b").Emit("msg", data)            // members of a or b, each once
//	gw.To("room").Except(c).Emit("msg", data)    // everyone in room but the sender
//	gw.ToSubject("alice").Emit("notice", data)   // alice, on every device
//	gw.To("room").Disconnect(1008, "revoked")    // close every member
//
// A Target is a small value: chaining returns a new one and leaves the
// receiver as it was, so one can be kept and reused. The zero Target
// belongs to no gateway: its Emit and Disconnect return an error.
//
// Delivery. Emit encodes the payload once and queues the same frame for
// every matching connection; it never waits for a socket. A connection
// whose outbound queue is full is closed with 1013 (slow consumer) and the
// others are served as usual. A connection in several of the named rooms,
// or both in a room and of a named subject, gets the event once. "Each
// connection once" holds per Emit: two emits are two events.
//
// Across processes. With Options.Broker set, Emit and Disconnect act on
// this gateway's connections first and then publish the operation, which
// every other gateway applies to its own connections the same way; their
// error is the Broker's (the local connections have been served even
// then). Without a Broker they act on this process only and never fail
// for that reason. Rooms and subjects need no registration across
// processes: each gateway looks names up in its own tables.
type Target struct {
	gw       *Gateway
	rooms    []string
	subjects []string
	except   []string // connection ids
	all      bool
	err      error // the first invalid name, reported by Emit and Disconnect
}

// To returns the target of every connection in any of rooms. With no
// rooms it targets no connection (never everyone: see Everyone).
//
// NestJS: server.to(room), server.in(room).
func (g *Gateway) To(rooms ...string) Target { return Target{gw: g}.To(rooms...) }

// ToSubject returns the target of every connection whose principal has
// one of subjects as its Subject: a user on every device, in every
// process. Anonymous connections have no subject.
func (g *Gateway) ToSubject(subjects ...string) Target {
	return Target{gw: g}.ToSubject(subjects...)
}

// Everyone returns the target of every connection. Broadcast(event, data)
// is Everyone().Emit(event, data).
//
// NestJS: server.emit, client.broadcast (with Except), server.disconnectSockets.
func (g *Gateway) Everyone() Target { return Target{gw: g, all: true} }

// To adds the members of rooms to the target.
func (t Target) To(rooms ...string) Target {
	if err := checkRooms(rooms); err != nil && t.err == nil {
		t.err = err
	}
	t.rooms = union(t.rooms, rooms)
	return t
}

// ToSubject adds the connections of subjects to the target.
func (t Target) ToSubject(subjects ...string) Target {
	for _, s := range subjects {
		if s == "" && t.err == nil {
			t.err = errors.New("wsgate: empty subject: a principal's Subject is never empty")
		}
	}
	t.subjects = union(t.subjects, subjects)
	return t
}

// union returns a followed by b in a new slice (a Target's own: the
// caller's may change), never appending into a, which another Target may
// share.
func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	return append(slices.Clip(a), b...)
}

// Except removes conns from the target, in every process. Nil conns are
// ignored.
//
// NestJS: client.to(room).emit is gw.To(room).Except(client).Emit.
func (t Target) Except(conns ...*Conn) Target {
	t.except = slices.Clip(t.except)
	for _, c := range conns {
		if c != nil {
			t.except = append(t.except, c.id)
		}
	}
	return t
}

// Emit sends event with data to every connection of the target, each
// once. data is encoded once, as Conn.Emit encodes it; an encoding error
// is returned and nothing is sent. See Target for delivery and for the
// error with a Broker.
func (t Target) Emit(event string, data any) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.empty() {
		return nil
	}
	b := appendEventHead(make([]byte, 0, 64+len(event)), event)
	start := len(b)
	b, err := appendJSON(b, data)
	if err != nil {
		return fmt.Errorf("wsgate: emit %q: %w", event, err)
	}
	b = append(b, '}')
	g := t.gw
	raw := b[start : len(b)-1]
	g.fanout(t.selection(), fanoutOp{frame: &frame{b: b, shared: true}, event: event, data: raw})
	if g.opts.Broker == nil {
		return nil
	}
	// The message's data is the frame's own bytes: nothing is encoded twice.
	return t.publish(&BrokerMessage{Op: OpEmit, Event: event, Data: json.RawMessage(raw)})
}

// Disconnect closes every connection of the target with code and reason,
// after the frames already queued for it (as Conn.Close does). Logout and
// revocation use 1008 (policy violation). The code must be one an endpoint
// may send (1000–1003, 1007–1014, 3000–4999) and the reason at most 123
// bytes of UTF-8; otherwise Disconnect closes nothing and returns an error.
//
// NestJS: server.in(room).disconnectSockets().
func (t Target) Disconnect(code StatusCode, reason string) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := checkClose(code, reason); err != nil {
		return err
	}
	if t.empty() {
		return nil
	}
	t.gw.fanout(t.selection(), fanoutOp{disconnect: true, code: code, reason: reason})
	if t.gw.opts.Broker == nil {
		return nil
	}
	return t.publish(&BrokerMessage{Op: OpDisconnect, Code: int(code), Reason: reason})
}

func (t *Target) check() error {
	if t.err != nil {
		return t.err
	}
	if t.gw == nil {
		return errors.New("wsgate: a Target made without a Gateway (use Gateway.To, ToSubject or Everyone)")
	}
	return nil
}

func (t *Target) empty() bool { return !t.all && len(t.rooms) == 0 && len(t.subjects) == 0 }

func (t *Target) selection() selection {
	return selection{rooms: t.rooms, subjects: t.subjects, except: t.except, all: t.all}
}

// publish hands the operation to the Broker, stamped with the time of its
// publication. An everyone target travels with no rooms and no subjects.
func (t *Target) publish(m *BrokerMessage) error {
	m.Sent = time.Now()
	// The Target's own slices: the Broker must neither keep nor modify m.
	if !t.all {
		m.Rooms, m.Subjects = t.rooms, t.subjects
	}
	m.Except = t.except
	err := t.gw.opts.Broker.Publish(context.Background(), m)
	t.gw.brokerPublished(m.Op, err)
	if err != nil {
		return fmt.Errorf("wsgate: publish to the other gateway processes: %w", err)
	}
	return nil
}

// selection is the set a fan-out reaches; see Target.
type selection struct {
	rooms, subjects, except []string
	all                     bool
}

func (s *selection) excepted(c *Conn) bool {
	for _, id := range s.except {
		if id == c.id {
			return true
		}
	}
	return false
}

// fanoutOp is what a fan-out does to each connection it reaches: queue a
// shared frame, or close.
type fanoutOp struct {
	frame *frame // the event in wire protocol v1
	event string
	data  []byte // the event's data as JSON (within frame), for other codecs
	// coded holds the event framed by each front end's codec met so far:
	// an event is framed once per protocol, never per member.
	coded      []codedFrame
	disconnect bool
	code       StatusCode
	reason     string
}

type codedFrame struct {
	codec Codec
	f     *frame
}

func (o *fanoutOp) apply(c *Conn) {
	if o.disconnect {
		c.closeWith(o.code, o.reason)
		return
	}
	_ = c.send(o.frameFor(c), false) // a full queue closes c (1013); nobody waits
}

// frameFor returns the event framed for c's protocol.
func (o *fanoutOp) frameFor(c *Conn) *frame {
	if c.codec == nil {
		return o.frame
	}
	for _, cf := range o.coded {
		if cf.codec == c.codec {
			return cf.f
		}
	}
	f := &frame{b: c.codec.AppendEvent(nil, o.event, o.data), shared: true}
	o.coded = append(o.coded, codedFrame{codec: c.codec, f: f})
	return f
}

// fanout applies o to every local connection of s, each once. It is the
// one path of local emits, broadcasts and the Broker's deliveries. The
// index stays read-locked while it runs: applying only queues or starts a
// close, so no connection's socket holds it, and no member list is copied.
func (g *Gateway) fanout(s selection, o fanoutOp) {
	if s.all {
		g.connsMu.RLock()
		defer g.connsMu.RUnlock()
		for c := range g.conns {
			if !s.excepted(c) {
				o.apply(c)
			}
		}
		return
	}
	h := &g.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	for i, room := range s.rooms {
		if slices.Contains(s.rooms[:i], room) {
			continue
		}
		earlier := s.rooms[:i]
		for c := range h.rooms[room] {
			if !s.excepted(c) && !c.member.inAny(earlier) {
				o.apply(c)
			}
		}
	}
	for i, subject := range s.subjects {
		if slices.Contains(s.subjects[:i], subject) {
			continue
		}
		for c := range h.subjects[subject] {
			// A connection has one subject: only the rooms can have
			// reached it already.
			if !s.excepted(c) && !c.member.inAny(s.rooms) {
				o.apply(c)
			}
		}
	}
}

// deliver applies a message another process published to this gateway's
// connections, through the same fan-out as a local emit. A message that
// cannot be applied (an unknown operation, data that is not JSON, a close
// code no close frame can carry) is logged and dropped: it came from a
// broken or incompatible publisher, and sending it on would break clients.
func (g *Gateway) deliver(m *BrokerMessage) {
	d := g.receiving(m)
	err := g.applyDelivered(m)
	if err != nil {
		g.log.Error("wsgate: broker message dropped", slog.Any("error", err),
			slog.Int("op", int(m.Op)), slog.String("event", m.Event))
	}
	g.brokerDelivered(d, err)
}

// applyDelivered applies m, or returns why it cannot be.
func (g *Gateway) applyDelivered(m *BrokerMessage) error {
	s := selection{rooms: m.Rooms, subjects: m.Subjects, except: m.Except}
	s.all = len(s.rooms) == 0 && len(s.subjects) == 0
	switch m.Op {
	case OpEmit:
		data := []byte(m.Data)
		if len(data) == 0 {
			data = []byte("null")
		}
		if !json.Valid(data) {
			return errDeliveryBadData
		}
		// m is not ours to keep: the frame is a copy.
		b := appendEventHead(make([]byte, 0, len(m.Event)+len(data)+24), m.Event)
		start := len(b)
		b = append(b, data...)
		b = append(b, '}')
		g.fanout(s, fanoutOp{frame: &frame{b: b, shared: true}, event: m.Event, data: b[start : len(b)-1]})
		return nil
	case OpDisconnect:
		if err := checkClose(StatusCode(m.Code), m.Reason); err != nil {
			return err
		}
		g.fanout(s, fanoutOp{disconnect: true, code: StatusCode(m.Code), reason: m.Reason})
		return nil
	}
	return errDeliveryBadOp
}
