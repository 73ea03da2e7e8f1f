package wsgate

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Rooms are named groups of connections, as in Socket.IO. A connection
// joins and leaves them (from a handler, from OnConnect, or from any
// goroutine holding the *Conn) and leaves them all when it ends. Rooms are
// local to a gateway: a room exists while it has a member in this process,
// and an emit to it reaches the members of every process through the
// Broker, if there is one (see Target).
//
// Every connection with a principal is also indexed by its Subject, so
// that an emit or a disconnect aimed at a user (ToSubject) looks up that
// user's connections instead of scanning them all. A $refresh keeps the
// subject (it refuses a token for another one), so the index stays right.

// MaxRoomLen is the longest room name, in bytes. A room name is 1 to
// MaxRoomLen bytes of valid UTF-8 with no control characters; anything
// else is refused with an error that matches ErrInvalidRoom.
const MaxRoomLen = 128

// ErrInvalidRoom is matched (errors.Is) by the error of a join, a leave or
// an emit that names a room the rules of MaxRoomLen refuse.
var ErrInvalidRoom = errors.New("wsgate: invalid room name")

// checkRoom reports why name is not a valid room name.
func checkRoom(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidRoom)
	}
	if len(name) > MaxRoomLen {
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidRoom, len(name), MaxRoomLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidRoom, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %q holds the control character %U", ErrInvalidRoom, name, r)
		}
	}
	return nil
}

func checkRooms(names []string) error {
	for _, name := range names {
		if err := checkRoom(name); err != nil {
			return err
		}
	}
	return nil
}

// hub indexes a gateway's connections by room and by subject. Fan-out
// reads it under mu's read lock; joins, leaves and connection ends write.
type hub struct {
	mu       sync.RWMutex
	rooms    map[string]map[*Conn]struct{}
	subjects map[string]map[*Conn]struct{}
}

// membership is a connection's side of the hub, guarded by hub.mu.
type membership struct {
	subject string              // what the connection is indexed under; "" for none
	rooms   map[string]struct{} // the rooms it is in
	gone    bool                // it has ended: it may join nothing more
}

func (h *hub) init() {
	h.rooms = make(map[string]map[*Conn]struct{})
	h.subjects = make(map[string]map[*Conn]struct{})
}

// add indexes a new connection by its subject.
func (h *hub) add(c *Conn) {
	p := c.Principal()
	if p == nil || p.Subject == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c.member.subject = p.Subject
	addMember(h.subjects, p.Subject, c)
}

// remove takes an ended connection out of every room and out of the
// subject index; it can join nothing afterwards.
func (h *hub) remove(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := &c.member
	for room := range m.rooms {
		removeMember(h.rooms, room, c)
	}
	if m.subject != "" {
		removeMember(h.subjects, m.subject, c)
	}
	m.rooms, m.gone = nil, true
}

func addMember(index map[string]map[*Conn]struct{}, key string, c *Conn) {
	set := index[key]
	if set == nil {
		set = make(map[*Conn]struct{})
		index[key] = set
	}
	set[c] = struct{}{}
}

func removeMember(index map[string]map[*Conn]struct{}, key string, c *Conn) {
	set := index[key]
	delete(set, c)
	if len(set) == 0 {
		delete(index, key) // an empty room holds no memory
	}
}

// Join adds the connection to each of rooms; joining a room it is in
// already does nothing. It is safe to call from a handler, from OnConnect
// and from any goroutine. An invalid name (see MaxRoomLen) makes Join fail
// with ErrInvalidRoom and join none of rooms; a connection that has ended
// joins nothing and Join returns ErrClosed.
//
// NestJS: client.join(room).
func (c *Conn) Join(rooms ...string) error {
	if err := checkRooms(rooms); err != nil {
		return err
	}
	h := &c.gw.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	m := &c.member
	if m.gone {
		return ErrClosed
	}
	for _, room := range rooms {
		if _, in := m.rooms[room]; in {
			continue
		}
		if m.rooms == nil {
			m.rooms = make(map[string]struct{}, len(rooms))
		}
		m.rooms[room] = struct{}{}
		addMember(h.rooms, room, c)
	}
	return nil
}

// Leave removes the connection from each of rooms; leaving a room it is
// not in does nothing. An invalid name makes Leave fail with
// ErrInvalidRoom and leave none of rooms. A connection leaves all its
// rooms by itself when it ends.
//
// NestJS: client.leave(room).
func (c *Conn) Leave(rooms ...string) error {
	if err := checkRooms(rooms); err != nil {
		return err
	}
	h := &c.gw.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	m := &c.member
	for _, room := range rooms {
		if _, in := m.rooms[room]; !in {
			continue
		}
		delete(m.rooms, room)
		removeMember(h.rooms, room, c)
	}
	return nil
}

// Rooms returns the rooms the connection is in, sorted; none once it has
// ended (OnDisconnect sees none).
func (c *Conn) Rooms() []string {
	h := &c.gw.hub
	h.mu.RLock()
	out := make([]string, 0, len(c.member.rooms))
	for room := range c.member.rooms {
		out = append(out, room)
	}
	h.mu.RUnlock()
	slices.Sort(out)
	return out
}

// InRoom reports whether the connection is in room.
func (c *Conn) InRoom(room string) bool {
	h := &c.gw.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, in := c.member.rooms[room]
	return in
}

// RoomSize returns how many of this gateway's connections are in room. It
// counts this process only: with a Broker, other processes have their own
// members.
func (g *Gateway) RoomSize(room string) int {
	g.hub.mu.RLock()
	defer g.hub.mu.RUnlock()
	return len(g.hub.rooms[room])
}

// inAny reports whether the member is in one of rooms. hub.mu held.
func (m *membership) inAny(rooms []string) bool {
	for _, room := range rooms {
		if _, in := m.rooms[room]; in {
			return true
		}
	}
	return false
}
