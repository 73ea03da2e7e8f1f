package wsgate

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// StatusCode is a WebSocket close code (RFC 6455 §7.4). wsgate owns the type,
// rather than exposing its WebSocket library's, so that a change of library
// is not a change of wsgate's API.
type StatusCode int

// Close codes the gateway sends or reports. See the README's table for when
// each is used.
const (
	StatusNormalClosure   StatusCode = 1000 // normal close
	StatusGoingAway       StatusCode = 1001 // the gateway is shutting down
	StatusUnsupportedData StatusCode = 1003 // a binary frame (wire v1 is text)
	// StatusNoStatusReceived is reported when the peer's close frame
	// carried no code. It is never sent.
	StatusNoStatusReceived StatusCode = 1005
	// StatusAbnormalClosure is reported when no close frame went either
	// way: the peer vanished, stopped answering pings, or the gateway had
	// to drop the socket. It is never sent.
	StatusAbnormalClosure StatusCode = 1006
	StatusInvalidUTF8     StatusCode = 1007 // a text frame that is not valid UTF-8
	StatusPolicyViolation StatusCode = 1008 // rate limit, malformed frames, revocation
	StatusMessageTooBig   StatusCode = 1009 // a message over ReadLimit
	StatusInternalError   StatusCode = 1011 // an error the session could not survive
	StatusTryAgainLater   StatusCode = 1013 // slow consumer: the outbound queue stayed full
	// StatusTokenExpired closes a connection whose token expired and was
	// not refreshed in band with the $refresh event.
	StatusTokenExpired StatusCode = 4001
)

// String returns the code's number and, for the codes above, its name.
func (s StatusCode) String() string {
	name := ""
	switch s {
	case StatusNormalClosure:
		name = "normal closure"
	case StatusGoingAway:
		name = "going away"
	case StatusUnsupportedData:
		name = "unsupported data"
	case StatusNoStatusReceived:
		name = "no status received"
	case StatusAbnormalClosure:
		name = "abnormal closure"
	case StatusInvalidUTF8:
		name = "invalid UTF-8"
	case StatusPolicyViolation:
		name = "policy violation"
	case StatusMessageTooBig:
		name = "message too big"
	case StatusInternalError:
		name = "internal error"
	case StatusTryAgainLater:
		name = "try again later"
	case StatusTokenExpired:
		name = "token expired"
	}
	if name == "" {
		return strconv.Itoa(int(s))
	}
	return strconv.Itoa(int(s)) + " (" + name + ")"
}

// sendable reports whether s may be sent in a close frame: 1000–1003 and
// 1007–1014 (the codes RFC 6455 and the IANA registry define for endpoints
// to send), and 3000–4999 (libraries, frameworks and applications). 1004 is
// reserved, 1005, 1006 and 1015 must never be sent, and the rest is
// unassigned.
func (s StatusCode) sendable() bool {
	switch {
	case s >= 1000 && s <= 1003, s >= 1007 && s <= 1014, s >= 3000 && s <= 4999:
		return true
	}
	return false
}

// maxCloseReason is the longest close reason a close frame can carry: a
// control frame's 125 bytes less the 2-byte code.
const maxCloseReason = 123

// checkClose reports why a close with code and reason cannot be sent.
func checkClose(code StatusCode, reason string) error {
	switch {
	case !code.sendable():
		return fmt.Errorf("wsgate: close code %d may not be sent (1000–1003, 1007–1014 and 3000–4999 may)", int(code))
	case len(reason) > maxCloseReason:
		return fmt.Errorf("wsgate: close reason of %d bytes, longer than the %d a close frame holds", len(reason), maxCloseReason)
	case !utf8.ValidString(reason):
		return errors.New("wsgate: close reason is not valid UTF-8")
	}
	return nil
}

// closeFrame returns what the gateway actually sends for a close with code
// and reason: a close that cannot be sent (see checkClose) becomes 1011 with
// no reason, a programming error of the caller's reported as an internal
// error rather than sent on the wire.
func closeFrame(code StatusCode, reason string) (StatusCode, string) {
	if checkClose(code, reason) != nil {
		return StatusInternalError, ""
	}
	return code, reason
}

// CloseStatus says how a connection ended.
type CloseStatus struct {
	// Code is the close code sent or received. StatusAbnormalClosure
	// (1006) means no close frame went either way: the peer vanished, or
	// stopped answering pings, or the socket had to be dropped.
	Code StatusCode
	// Reason is the close reason, short and safe to show. A reason the peer
	// sent that is not valid UTF-8 is replaced by "".
	Reason string
	// ByServer reports whether the gateway ended the connection (a limit,
	// a guard, Close, Shutdown) rather than the peer.
	ByServer bool
}

// peerStatus is the close status of a connection the gateway did not close,
// from the error that ended its read loop.
func peerStatus(err error) CloseStatus {
	var pe *PeerCloseError
	if !errors.As(err, &pe) {
		return CloseStatus{Code: StatusAbnormalClosure, Reason: "connection lost"}
	}
	reason := pe.Reason
	if !utf8.ValidString(reason) {
		reason = ""
	}
	return CloseStatus{Code: pe.Code, Reason: reason}
}
