package wsgate

import (
	"strconv"

	"github.com/coder/websocket"
)

// Compression selects whether the gateway negotiates the permessage-deflate
// extension (RFC 7692) with clients that offer it. It is wsgate's own type,
// as StatusCode is, so that a change of WebSocket library is not a change of
// wsgate's API.
//
// The default, CompressionOff, never negotiates it, for two reasons:
//
//   - Memory. With context takeover a connection keeps a deflate writer
//     and the 32 KiB window of what it read for its whole life, once it has
//     sent or read one compressed message: about 116 KiB more per idle
//     connection, where an uncompressed one costs about 33 KiB, measured
//     with cmd/wsgate-load (see the README). Without context takeover the
//     writer is borrowed per message: about 4 KiB more.
//   - Secrets. Compression makes a frame's size depend on its content. When
//     one message (or, with context takeover, one connection's stream)
//     mixes a secret with data an attacker chooses — a token or a private
//     field beside a chat message they sent — the attacker can learn the
//     secret byte by byte from the sizes on the wire (CRIME, BREACH).
//
// Turn it on for large, repetitive messages that carry no secret next to
// attacker-chosen data, over links where bandwidth costs more than memory.
// Browsers other than Safari offer it; a client that does not offer it is
// served uncompressed either way.
type Compression int

const (
	// CompressionOff never negotiates permessage-deflate. The default.
	CompressionOff Compression = iota
	// CompressionNoContextTakeover compresses each message on its own
	// (messages from 512 bytes, or Options.CompressionThreshold). A deflate
	// writer is borrowed from a pool for each message and returned, so an
	// idle connection holds no compression state; the ratio is lower than
	// with context takeover.
	CompressionNoContextTakeover
	// CompressionContextTakeover compresses each message (from 128 bytes,
	// or Options.CompressionThreshold) with the window of those before it,
	// for the best ratio, at the price of a deflate writer and a 32 KiB
	// window kept per connection once it has sent or received a compressed
	// message. A client that offers only no-context-takeover gets that.
	CompressionContextTakeover
)

// String returns the mode's name, as in Go.
func (c Compression) String() string {
	switch c {
	case CompressionOff:
		return "CompressionOff"
	case CompressionNoContextTakeover:
		return "CompressionNoContextTakeover"
	case CompressionContextTakeover:
		return "CompressionContextTakeover"
	}
	return "Compression(" + strconv.Itoa(int(c)) + ")"
}

// mode is the WebSocket library's setting for c.
func (c Compression) mode() websocket.CompressionMode {
	switch c {
	case CompressionNoContextTakeover:
		return websocket.CompressionNoContextTakeover
	case CompressionContextTakeover:
		return websocket.CompressionContextTakeover
	}
	return websocket.CompressionDisabled
}
