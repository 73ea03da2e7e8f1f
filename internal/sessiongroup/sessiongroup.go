// Package sessiongroup lets a host that serves a Gateway in-process learn
// when the sessions it started have ended.
//
// Gateway.ServeHTTP, and the socket.io front end's WebSocket handler,
// return once a connection is upgraded, and the session goes on on a
// goroutine of its own (so that the net/http goroutine, its stack and its
// buffers, are not kept for the connection's life). A test harness that
// must wait for every session it caused, as wsgatetest does, puts a
// WaitGroup in the request's context; the gateway and the front end count
// the session in it.
package sessiongroup

import (
	"context"
	"sync"
)

type key struct{}

// With returns ctx carrying wg.
func With(ctx context.Context, wg *sync.WaitGroup) context.Context {
	return context.WithValue(ctx, key{}, wg)
}

// From returns the WaitGroup ctx carries, or nil.
func From(ctx context.Context) *sync.WaitGroup {
	wg, _ := ctx.Value(key{}).(*sync.WaitGroup)
	return wg
}
