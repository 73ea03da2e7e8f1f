// Package wsio holds the small reading and header helpers that the
// gateway's native WebSocket transport and its socket.io front end share.
package wsio

import (
	"io"
	"net/http"
	"strings"
)

// ReadAtMost reads r into b until EOF, but no more than max bytes in all
// (b's length included), and returns b. A caller that must refuse a
// message over a limit asks for one byte past it.
func ReadAtMost(b []byte, r io.Reader, max int64) ([]byte, error) {
	for int64(len(b)) < max {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):cap(b)]
		if rest := max - int64(len(b)); int64(len(room)) > rest {
			room = room[:rest]
		}
		n, err := r.Read(room)
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// HeaderHasToken reports whether any of h's name lines holds token in its
// comma-separated list, ignoring case and spaces, as Connection: keep-alive,
// Upgrade holds "upgrade". It does not allocate.
func HeaderHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
