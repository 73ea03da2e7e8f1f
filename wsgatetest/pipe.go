package wsgatetest

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipe is one direction of an in-memory connection: a bounded byte buffer.
// A write blocks while the buffer is full, as a socket's send buffer does,
// so a client that stops reading is a slow consumer here too; net.Pipe,
// unbuffered, would instead stall every write, a close frame included,
// until the other side reads.
type pipe struct {
	mu       sync.Mutex
	cond     *sync.Cond
	buf      []byte
	max      int
	closed   bool // no more writes: reads drain the buffer, then EOF
	readDL   time.Time
	writeDL  time.Time
	dlTimers [2]*time.Timer // wake the waiters at the read and write deadlines
}

func newPipe(max int) *pipe {
	p := &pipe{max: max}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 {
		if p.closed {
			return 0, io.EOF
		}
		if expired(p.readDL) {
			return 0, os.ErrDeadlineExceeded
		}
		p.cond.Wait()
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	p.cond.Broadcast()
	return n, nil
}

func (p *pipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	written := 0
	for written < len(b) {
		if p.closed {
			return written, io.ErrClosedPipe
		}
		if expired(p.writeDL) {
			return written, os.ErrDeadlineExceeded
		}
		room := p.max - len(p.buf)
		if room <= 0 {
			p.cond.Wait()
			continue
		}
		chunk := b[written:]
		if len(chunk) > room {
			chunk = chunk[:room]
		}
		p.buf = append(p.buf, chunk...)
		written += len(chunk)
		p.cond.Broadcast()
	}
	return written, nil
}

func (p *pipe) close() {
	p.mu.Lock()
	p.closed = true
	for _, t := range p.dlTimers {
		if t != nil {
			t.Stop()
		}
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// setDeadline sets the read or write deadline and wakes the waiters when it
// passes.
func (p *pipe) setDeadline(t time.Time, read bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := 0
	if read {
		p.readDL = t
	} else {
		p.writeDL, i = t, 1
	}
	p.cond.Broadcast()
	if old := p.dlTimers[i]; old != nil {
		old.Stop()
		p.dlTimers[i] = nil
	}
	if !t.IsZero() && !p.closed {
		p.dlTimers[i] = time.AfterFunc(time.Until(t), func() {
			p.mu.Lock()
			p.cond.Broadcast()
			p.mu.Unlock()
		})
	}
}

func expired(dl time.Time) bool { return !dl.IsZero() && !time.Now().Before(dl) }

// endpoint is one side of an in-memory connection. It implements net.Conn.
type endpoint struct {
	in, out     *pipe
	local, peer net.Addr
	once        sync.Once
}

// newConnPair returns the two ends of an in-memory connection whose
// directions each buffer up to size bytes.
func newConnPair(size int) (client, server *endpoint) {
	a, b := newPipe(size), newPipe(size)
	caddr, saddr := memAddr("client"), memAddr("server")
	return &endpoint{in: a, out: b, local: caddr, peer: saddr},
		&endpoint{in: b, out: a, local: saddr, peer: caddr}
}

func (e *endpoint) Read(b []byte) (int, error)  { return e.in.read(b) }
func (e *endpoint) Write(b []byte) (int, error) { return e.out.write(b) }

// Close closes both directions: the peer reads what is buffered, then EOF.
func (e *endpoint) Close() error {
	e.once.Do(func() {
		e.in.close()
		e.out.close()
	})
	return nil
}

func (e *endpoint) LocalAddr() net.Addr  { return e.local }
func (e *endpoint) RemoteAddr() net.Addr { return e.peer }

func (e *endpoint) SetDeadline(t time.Time) error {
	e.in.setDeadline(t, true)
	e.out.setDeadline(t, false)
	return nil
}

func (e *endpoint) SetReadDeadline(t time.Time) error {
	e.in.setDeadline(t, true)
	return nil
}

func (e *endpoint) SetWriteDeadline(t time.Time) error {
	e.out.setDeadline(t, false)
	return nil
}

// memAddr is the address of an in-memory endpoint.
type memAddr string

func (a memAddr) Network() string { return "memory" }
func (a memAddr) String() string  { return string(a) }
