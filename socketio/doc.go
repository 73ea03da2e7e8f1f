// Package socketio serves a wsgate.Gateway to socket.io clients: it speaks
// Engine.IO v4 and Socket.IO v5, the protocols of socket.io-client 3 and 4,
// so that front ends written against a NestJS (or any socket.io) server
// connect to a Go gateway unchanged.
//
// Mount it beside the native endpoint, at the path socket.io clients use:
//
//	gw, _ := wsgate.New(opts)
//	sio, _ := socketio.New(gw, socketio.Options{})
//	mux.Handle("/ws", gw)
//	mux.Handle("/socket.io/", sio)
//
// Everything the gateway does applies: its origin policy (checked on every
// HTTP request, and answering CORS), its token sources, authenticator and
// connect guards (run when the client's CONNECT packet arrives), handlers,
// guards, filters, acks, rooms, targets and the Broker, its limits, token
// expiry and Shutdown. A socket.io connection is a *wsgate.Conn like a
// native one; a room or a subject holds both kinds, and an emit reaches each
// in its own framing.
//
// What a socket.io client sees:
//
//   - socket.emit("xyz", data) runs the xyz handler with data;
//     emitWithAck("xyz", data), or a callback, receives the handler's result
//     as its one argument, or the error object
//     {"status":"error","message":…,"code":…} when the event failed. A
//     failure is also sent as the "exception" event, as NestJS does, so a
//     client that only listens for exception keeps working.
//   - A refused connection is a connect_error whose message is the
//     refusal's and whose data is {"status": <HTTP status>, "code": …}: a
//     missing, bad or expired token, a connect guard's denial, a connection
//     limit, a gateway shutting down. A refused origin is refused before any
//     session exists, with the gateway's HTTP 403, which socket.io-client
//     reports as a connect_error of its transport ("xhr poll error",
//     "websocket error").
//   - When the gateway closes a connection (Conn.Close, a limit, token
//     expiry, a revocation, Shutdown) it first emits the "$close" event
//     with {"code": <close code>, "reason": …}, since socket.io's own
//     disconnect carries no reason. Shutdown (code 1001) then ends the
//     transport without a DISCONNECT packet, so that the client reconnects
//     by itself, to another process or to this one restarted; any other
//     close sends DISCONNECT first, and socket.io-client then reports "io
//     server disconnect" and does not reconnect.
//
// Limits of the protocol as served here, each answered, never dropped in
// silence:
//
//   - One namespace, "/". A CONNECT to another is answered with
//     CONNECT_ERROR "Invalid namespace".
//   - An event carries at most one argument (the data), plus the ack
//     callback: an event with more is answered with BAD_REQUEST.
//   - Binary attachments (an ArrayBuffer or Buffer in an emit) are refused
//     with BAD_REQUEST "binary attachments are not supported"; the
//     attachments are read and discarded and the connection stays open.
//     Wire protocol v1 is JSON.
//   - The gateway never asks a client for an ack, so a client's ACK packet
//     is answered with BAD_REQUEST.
//
// See Options for the auth payload's token, and the README for the
// polling transport in deployments of several processes (it needs sticky
// sessions) and for what the front end costs.
package socketio
