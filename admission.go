package wsgate

import (
	"net/http"
	"sync"
)

var (
	errTooManyConnections = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "too many connections"}
	errTooManyForSubject  = &Error{Status: http.StatusTooManyRequests, Code: CodeTooManyConnections, Message: "too many connections for this principal"}
)

// admission counts open connections, gateway-wide and per subject, and
// holds the shutdown flag, so that a refusal is decided before the upgrade.
type admission struct {
	mu         sync.Mutex
	max        int // negative: no cap
	perSubject int // negative: no cap
	total      int
	bySubject  map[string]int
	shutdown   bool
	// sessions counts admitted connections until they are fully gone; it
	// is incremented under mu, before the shutdown flag can be seen set,
	// so Shutdown's Wait never races an Add.
	sessions sync.WaitGroup
}

// ticket is one admitted connection's place; release gives it back once,
// when the connection and everything it started are gone.
type ticket struct {
	a       *admission
	subject string
	counted bool // whether the subject was counted
	once    sync.Once
}

func (a *admission) init(max, perSubject int) {
	a.max, a.perSubject = max, perSubject
	a.bySubject = make(map[string]int)
}

// admit reserves a place for a connection of principal p.
func (a *admission) admit(p *Principal) (*ticket, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shutdown {
		return nil, errShuttingDown
	}
	if a.max >= 0 && a.total >= a.max {
		return nil, errTooManyConnections
	}
	t := &ticket{a: a, counted: p != nil}
	if p != nil {
		t.subject = p.Subject
		if a.perSubject >= 0 && a.bySubject[p.Subject] >= a.perSubject {
			return nil, errTooManyForSubject
		}
		a.bySubject[p.Subject]++
	}
	a.total++
	a.sessions.Add(1)
	return t, nil
}

func (t *ticket) release() {
	t.once.Do(func() {
		a := t.a
		defer a.sessions.Done()
		a.mu.Lock()
		defer a.mu.Unlock()
		a.total--
		if !t.counted {
			return
		}
		if a.bySubject[t.subject]--; a.bySubject[t.subject] <= 0 {
			delete(a.bySubject, t.subject)
		}
	})
}

func (a *admission) closing() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.shutdown
}

func (a *admission) close() {
	a.mu.Lock()
	a.shutdown = true
	a.mu.Unlock()
}
