// Package wsgatetest tests wsgate gateways without opening a port, the way
// net/http/httptest tests an http.Handler.
//
// NewServer serves a configured *wsgate.Gateway over in-memory connections:
// the real handshake (origin policy, token extraction, JWT verification,
// connect guards) and the real session (framing, guards, filters, limits)
// run unchanged. A Client dials with cookies, headers, an origin,
// subprotocols and query parameters; a refused handshake comes back as a
// *HandshakeError holding the HTTP status and the decoded JSON body. The
// client sends events and requests and waits, always with a deadline, for
// acks, errors, emitted events and the close. A Signer mints tokens for the
// gateway's key from the application's own claims type (Mint), valid,
// expired or not yet valid. A gateway mounted on a mux is reached by
// setting Server.Path once.
//
// Everything is cleaned up through the test's Cleanup, works under
// t.Parallel and -race, and leaves no goroutine behind.
package wsgatetest
