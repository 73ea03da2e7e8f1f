package wsgate

import (
	"context"
	"encoding/json"
	"time"
)

// Protocol events are the reserved names beginning with "$". There is one:
//
//	{"event":"$refresh","data":{"token":"<new token>"},"id":1}
//
// It replaces the connection's principal with the one the new token
// verifies to, under the same rules as the handshake and for the same
// subject, and moves the 4001 deadline to the new expiry. The ack's data is
// {"expires":"<RFC 3339 time>"} (null when the new token does not expire).
const RefreshEvent = "$refresh"

var (
	errUnknownProtocolEvent = &Error{Code: CodeUnknownEvent, Message: "unknown event"}
	errRefreshUnsupported   = &Error{Code: CodeBadRequest, Message: "token refresh is not supported"}
	errRefreshBadData       = &Error{Code: CodeInvalidData, Message: "refresh needs data {\"token\": string}"}
	errRefreshAnonymous     = &Error{Code: CodeUnauthorized, Message: "refresh needs an authenticated connection"}
	errRefreshSubject       = &Error{Code: CodeForbidden, Message: "token is for another subject"}
)

type refreshRequest struct {
	Token string `json:"token"`
}

type refreshAck struct {
	Expires *time.Time `json:"expires"`
}

// protocolEvent handles a reserved event on the read loop.
func (c *Conn) protocolEvent(env envelope) {
	if string(env.Event) != RefreshEvent {
		c.answerError(env.ID, env.HasID, errUnknownProtocolEvent)
		return
	}
	ack, err := c.refresh(env.Data)
	if err != nil {
		c.answerError(env.ID, env.HasID, err)
		return
	}
	ctx := Context{ctx: c.ctx, gw: c.gw, conn: c, id: env.ID, hasID: env.HasID}
	_ = ctx.Reply(ack)
}

func (c *Conn) refresh(data []byte) (*refreshAck, *Error) {
	auth := c.gw.opts.Authenticator
	if auth == nil {
		return nil, errRefreshUnsupported
	}
	old := c.Principal()
	if old == nil {
		return nil, errRefreshAnonymous
	}
	var req refreshRequest
	if json.Unmarshal(data, &req) != nil || req.Token == "" {
		return nil, errRefreshBadData
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.gw.opts.ConnectTimeout)
	defer cancel()
	p, err := auth.Authenticate(ctx, req.Token)
	if err != nil {
		return nil, c.gw.authFailure(err)
	}
	if p == nil || p.Subject == "" {
		return nil, errInvalidToken
	}
	if p.Subject != old.Subject {
		return nil, errRefreshSubject
	}
	c.mu.Lock()
	c.principal.Store(p)
	c.armExpiryLocked(p)
	c.mu.Unlock()
	ack := &refreshAck{}
	if !p.Expires.IsZero() {
		ack.Expires = &p.Expires
	}
	return ack, nil
}
