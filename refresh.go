package wsgate

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
	errRefreshAborted       = &Error{Code: CodeUnavailable, Message: "connection closed"}
)

type refreshRequest struct {
	Token string `json:"token"`
}

type refreshAck struct {
	Expires *time.Time `json:"expires"`
}

// protocolEvent handles a reserved event, in its turn among the
// connection's events. Its answer is given exactly once: an answer that
// cannot be encoded becomes an error answer.
func (c *Conn) protocolEvent(ctx *Context) {
	event := ctx.event
	ctx.event = "" // reserved names are not echoed (IncludeCause)
	if event != RefreshEvent {
		_ = ctx.ReplyError(errUnknownProtocolEvent)
		return
	}
	ack, err := c.refresh(ctx.data)
	if err != nil {
		_ = ctx.ReplyError(err)
		return
	}
	if rerr := ctx.Reply(ack); rerr != nil && !errors.Is(rerr, ErrClosed) && !errors.Is(rerr, ErrSlowConsumer) {
		c.gw.log.Error("wsgate: refresh answer could not be encoded", slog.String("conn", c.id), slog.Any("error", rerr))
		_ = ctx.ReplyError(errInternal)
	}
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
	var p *Principal
	err := protect(func() (err error) {
		p, err = auth.Authenticate(ctx, req.Token)
		return err
	})
	var pe *PanicError
	if errors.As(err, &pe) {
		c.gw.log.Error("wsgate: authenticator panicked during $refresh", slog.String("conn", c.id), slog.Any("error", err))
		return nil, errInternal
	}
	if err != nil && c.ctx.Err() != nil {
		// The connection ended while the authenticator ran: nothing to
		// answer, and nothing wrong with the authenticator.
		return nil, errRefreshAborted
	}
	if err != nil {
		return nil, c.gw.authFailure(err, slog.String("conn", c.id))
	}
	if fault := principalFault(p); fault != "" {
		c.gw.log.Error("wsgate: authenticator returned an unusable principal during $refresh",
			slog.String("conn", c.id), slog.String("fault", fault))
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
