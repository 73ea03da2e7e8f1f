// Package browsertest checks wsgate against a real browser: a headless
// Chromium, driven over the Chrome DevTools Protocol, opens the gateway from
// an allowed page and from a page of another origin of the same site.
//
// The rest of the module tests the gateway with clients that send whatever
// headers the test chooses. What those tests cannot show is what a browser
// actually does: that it attaches the victim's cookie to a WebSocket opened
// by another origin (cookies are not port-scoped), that it sends the Origin
// header the gateway's policy relies on, and that it enforces the CORS
// answers the gateway gives. These tests run the real thing.
//
// It also runs examples/chat the way its users do: two processes of the
// built program on one real Redis, a browser of its own for each of two
// users, who log in through the page's form, talk in a room across the
// processes and log out (the page sees its socket closed with 1008).
//
// Without a Chromium binary the tests are skipped, and so are those that
// need a redis-server without one, except when the environment variable CI
// is "true": CI installs both, so there a missing one is a failure.
//
// The package holds a small CDP client (no dependency beyond
// github.com/coder/websocket), a redis-server starter (a bare PING, no
// Redis client) and a runner for a program under test, which the chat's
// own tests use too; nothing else: it is not an API.
package browsertest
