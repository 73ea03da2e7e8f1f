package wsgate_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
)

func TestKeepaliveDropsSilentPeer(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	e.dialRaw("silent") // never reads, so never answers a ping

	d := recv(t, gone, "the silent peer to be dropped")
	if d.subject != "silent" {
		t.Fatalf("OnDisconnect for %q, want the silent peer", d.subject)
	}
	if st := d.status; st.Code != wsgate.StatusAbnormalClosure || st.Reason != "ping timeout" || !st.ByServer {
		t.Fatalf("silent peer closed with %+v, want 1006 \"ping timeout\" by the server", st)
	}
}

func TestKeepaliveKeepsReadingPeer(t *testing.T) {
	t.Parallel()
	// A pong timeout far above any scheduling delay: only a peer that
	// really does not answer may be dropped.
	const interval = 50 * time.Millisecond
	opts := wsgate.Options{PingInterval: interval, PongTimeout: 2 * time.Second}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	c := e.dial("alice") // reads all the time: answers every ping

	time.Sleep(8 * interval)
	wantOK(t, c.Request("echo", 1))
	select {
	case d := <-gone:
		t.Fatalf("reading peer dropped with %+v", d.status)
	default:
	}
}

func TestTokenExpiryCloses4001(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, noLeeway)
	// exp has one-second granularity: this token runs out 0.5 to 1.5 s
	// from now.
	c := e.dialToken(e.signer.ExpiringIn(t, "alice", 1500*time.Millisecond))
	wantOK(t, c.Request("echo", 1))
	wantClosed(t, c, wsgate.StatusTokenExpired, "token expired")
}

func TestRefreshExtendsConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, noLeeway)
	short := e.signer.ExpiringIn(t, "alice", 1500*time.Millisecond)
	refreshed := e.dialToken(short)
	control := e.dialToken(short) // not refreshed: closes at the original expiry

	ack := refreshed.Request(wsgate.RefreshEvent, map[string]string{"token": e.token("alice")})
	wantOK(t, ack)
	var got struct {
		Expires *time.Time `json:"expires"`
	}
	if err := ack.Decode(&got); err != nil || got.Expires == nil {
		t.Fatalf("refresh ack data %s (%v), want {\"expires\":<time>}", ack.Data, err)
	}
	if until := time.Until(*got.Expires); until < 30*time.Minute {
		t.Fatalf("refresh ack expires in %v, want about an hour", until)
	}

	// The control connection's close says the original expiry has passed.
	wantClosed(t, control, wsgate.StatusTokenExpired, "token expired")
	wantOK(t, refreshed.Request("echo", 1))
	wantOK(t, refreshed.Request("echo", 2))
}

func TestRefreshForAnotherSubject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, noLeeway)
	c := e.dialToken(e.signer.ExpiringIn(t, "alice", 1500*time.Millisecond))

	ack := c.Request(wsgate.RefreshEvent, map[string]string{"token": e.token("mallory")})
	wantCode(t, ack, wsgate.CodeForbidden)
	// Refused: the original expiry still holds, and so does the principal.
	e.gw.Handle("whoami", func(c *wsgate.Context) (any, error) { return c.Principal().Subject, nil }, wsgate.HandlerOptions{})
	who := c.Request("whoami", nil)
	wantOK(t, who)
	if string(who.Data) != `"alice"` {
		t.Fatalf("principal after refused refresh = %s, want alice", who.Data)
	}
	wantClosed(t, c, wsgate.StatusTokenExpired, "token expired")
}

func TestRefreshWithBadToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, noLeeway)
	c := e.dial("alice")

	forger := e.signer
	forger.Key = []byte("another key of thirty-two bytes!")
	for name, token := range map[string]string{
		"expired":   e.signer.Expired(t, "alice"),
		"garbage":   "not.a.token",
		"wrong key": forger.Token(t, "alice", nil),
	} {
		ack := c.Request(wsgate.RefreshEvent, map[string]string{"token": token})
		if ack.OK() || ack.Error.Code != wsgate.CodeUnauthorized {
			t.Fatalf("refresh with %s token = %s %+v, want UNAUTHORIZED", name, ack.Data, ack.Error)
		}
	}
	// Missing token: the data is wrong, not the credentials.
	wantCode(t, c.Request(wsgate.RefreshEvent, map[string]string{}), wsgate.CodeInvalidData)
	wantOK(t, c.Request("echo", 1))
}

func TestRefreshOnAnonymousConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{AllowAnonymous: true}, noLeeway)
	c := e.srv.Dial(e.dialOptions(""))
	ack := c.Request(wsgate.RefreshEvent, map[string]string{"token": e.token("alice")})
	if ack.OK() {
		t.Fatalf("refresh on an anonymous connection succeeded: %s", ack.Data)
	}
	wantCode(t, ack, wsgate.CodeUnauthorized)
	wantOK(t, c.Request("echo", 1))
}

func TestUnknownProtocolEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	c := e.dial("alice")
	wantCode(t, c.Request("$foo", nil), wsgate.CodeUnknownEvent)
	c.Emit("$foo", nil)
	if body := c.WaitException(); body.Code != wsgate.CodeUnknownEvent {
		t.Fatalf("exception %+v, want UNKNOWN_EVENT", body)
	}
	wantOK(t, c.Request("echo", 1))
}

func TestRevalidateRevokes(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{
		RevalidateInterval: 50 * time.Millisecond,
		Revalidate: func(ctx context.Context, c *wsgate.Conn) error {
			return errors.New("session revoked in the database")
		},
	}
	e := newEnv(t, opts, 0)
	c := e.dial("alice")
	wantClosed(t, c, wsgate.StatusPolicyViolation, "revoked")
}

func TestRevalidateKeeps(t *testing.T) {
	t.Parallel()
	checked := make(chan string, 64)
	var calls atomic.Int64
	opts := wsgate.Options{
		RevalidateInterval: 50 * time.Millisecond,
		Revalidate: func(ctx context.Context, c *wsgate.Conn) error {
			if calls.Add(1) <= 64 {
				checked <- c.Principal().Subject
			}
			return nil
		},
	}
	e := newEnv(t, opts, 0)
	c := e.dial("alice")
	for range 3 {
		if sub := recv(t, checked, "a revalidation"); sub != "alice" {
			t.Fatalf("revalidated %q, want alice", sub)
		}
	}
	wantOK(t, c.Request("echo", 1))
}

// TestKeepaliveSparesPeerWhileSlotsAreBusy: with every handler busy and the
// queue behind them full, the read loop stops reading and cannot see pongs;
// a healthy peer is not dropped for that. The pong timeout is generous (a
// pong late on a loaded machine must not fail the test), and the loop stays
// blocked for several times as long.
func TestKeepaliveSparesPeerWhileSlotsAreBusy(t *testing.T) {
	t.Parallel()
	const interval, pongTimeout = 50 * time.Millisecond, 400 * time.Millisecond
	const conc, queued = 2, 8 // HandlerConcurrency, and what the queue holds
	opts := wsgate.Options{HandlerConcurrency: conc, PingInterval: interval, PongTimeout: pongTimeout, EventsPerSecond: -1}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	entered, release := handleBlocking(e.gw)
	c := e.dial("alice")
	const n = conc + queued + 1 // the last one makes the read loop wait
	for id := int64(1); id <= n; id++ {
		send(c, id, "block", "null")
	}
	recv(t, entered, "the first handler")
	recv(t, entered, "the second handler")
	time.Sleep(4 * pongTimeout) // several keepalive rounds with the loop stuck
	close(release)
	for id := int64(1); id <= n; id++ {
		wantOK(t, c.WaitAck(id))
	}
	select {
	case d := <-gone:
		t.Fatalf("healthy peer dropped with %+v", d.status)
	default:
	}
}

// TestStatusCodeString: a close code prints as its number, with its name
// when the gateway knows one, so that logs of a CloseStatus read plainly.
func TestStatusCodeString(t *testing.T) {
	t.Parallel()
	for code, want := range map[wsgate.StatusCode]string{
		wsgate.StatusNormalClosure:    "1000 (normal closure)",
		wsgate.StatusGoingAway:        "1001 (going away)",
		wsgate.StatusNoStatusReceived: "1005 (no status received)",
		wsgate.StatusAbnormalClosure:  "1006 (abnormal closure)",
		wsgate.StatusPolicyViolation:  "1008 (policy violation)",
		wsgate.StatusTryAgainLater:    "1013 (try again later)",
		wsgate.StatusTokenExpired:     "4001 (token expired)",
		4999:                          "4999",
		0:                             "0",
	} {
		if got := code.String(); got != want {
			t.Errorf("StatusCode(%d).String() = %q, want %q", int(code), got, want)
		}
	}
}
