package socketio

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The polling transport: the client keeps one GET waiting, which the
// server answers with the packets buffered for it (or waits for the first),
// and sends its own packets in POSTs. Packets are separated by the record
// separator, 0x1e.

// answerOpen answers the polling handshake with the open packet.
func (ss *session) answerOpen(w http.ResponseWriter) {
	writePayload(w, ss.openPacket([]string{"websocket"}))
}

// poll answers a GET with every packet buffered, waiting for the first.
func (ss *session) poll(w http.ResponseWriter, r *http.Request) {
	ss.mu.Lock()
	if !ss.polling || ss.polled || ss.gone {
		// Polling after an upgrade, or two polls at once.
		ss.mu.Unlock()
		engineError(w, errBadRequest)
		return
	}
	ss.polled = true
	ss.idleTimer.Stop()
	ss.mu.Unlock()
	rc := outliveServerTimeouts(w)
	ss.mu.Lock()
	ctx := r.Context()
	for len(ss.out) == 0 && !ss.gone && ss.polling && ctx.Err() == nil {
		ready, upgraded := ss.outReady, ss.upgraded
		ss.mu.Unlock()
		select {
		case <-ready:
		case <-upgraded:
		case <-ss.dead:
		case <-ctx.Done():
		}
		ss.mu.Lock()
	}
	var pkts [][]byte
	closing := false
	switch {
	case ctx.Err() != nil:
		// The client went away: what is buffered waits for the next poll.
	case len(ss.out) > 0:
		pkts = ss.takeLocked()
		closing = ss.closeSent
	case ss.gone:
		pkts = [][]byte{closePacket}
	default: // upgraded meanwhile
		pkts = [][]byte{noopPacket}
	}
	ss.polled = false
	if ss.polling && !ss.gone {
		ss.idleTimer.Reset(ss.srv.pingTimeout())
	}
	ss.mu.Unlock()
	if pkts == nil {
		return
	}
	ss.answerWithin(rc)
	writePayload(w, joinPayload(pkts))
	if closing {
		// The close is done once the client has the packet: flushed, not
		// left in a buffer the server may drop.
		_ = rc.Flush()
		ss.takenOnce.Do(func() { close(ss.closeTaken) })
	}
}

// post reads the packets of a POST, bounded by the frame limit, and hands
// them on in order.
func (ss *session) post(w http.ResponseWriter, r *http.Request) {
	if !ss.postMu.TryLock() {
		engineError(w, errBadRequest) // two POSTs at once
		return
	}
	defer ss.postMu.Unlock()
	ss.mu.Lock()
	polling := ss.polling
	ss.mu.Unlock()
	if !polling {
		engineError(w, errBadRequest)
		return
	}
	limit := ss.frameLimit()
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		engineError(w, errBadRequest)
		return
	}
	// The body is read: what follows (CONNECT's authentication, room in
	// the gateway's inbox) may take longer than the server's timeouts.
	rc := outliveServerTimeouts(w)
	done := r.Context().Done()
	if int64(len(body)) > limit {
		// Over maxPayload: a packet over ReadLimit. The gateway closes
		// the connection with 1009; before CONNECT there is none.
		if !ss.isConnected() || ss.push(inbound{tooBig: true}, done) != nil {
			ss.kill()
		}
		ss.answerWithin(rc)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = io.WriteString(w, `{"code":3,"message":"Bad request"}`)
		return
	}
	for len(body) > 0 {
		pkt := body
		if i := bytes.IndexByte(body, 0x1e); i >= 0 {
			pkt, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if err := ss.receive(pkt, done); err != nil {
			if err == errProtocol {
				ss.kill()
			}
			ss.answerWithin(rc)
			engineError(w, errBadRequest)
			return
		}
	}
	ss.answerWithin(rc)
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
}

// outliveServerTimeouts clears the read and write deadlines the host
// server set for the whole request (ReadTimeout, WriteTimeout, counted from
// its start): a poll waits up to PingInterval for its packets, longer than
// they usually are, and net/http cancels a request whose connection's read
// deadline passes while its handler runs. The client leaving still cancels
// it. The server sets its deadlines again for the connection's next request.
func outliveServerTimeouts(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // ErrNotSupported: nothing to clear
	_ = rc.SetWriteDeadline(time.Time{})
	return rc
}

// answerWithin bounds the write of the answer by the gateway's
// WriteTimeout, so that a client that does not read it cannot hold the
// request.
func (ss *session) answerWithin(rc *http.ResponseController) {
	_ = rc.SetWriteDeadline(time.Now().Add(ss.srv.gwo.WriteTimeout))
}

func writePayload(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
