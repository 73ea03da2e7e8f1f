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
// Without a Chromium binary the tests are skipped, except when the
// environment variable CI is "true": CI installs Chromium, so there a
// missing browser is a failure.
//
// The package holds a small CDP client (no dependency beyond
// github.com/coder/websocket) and nothing else: it is not an API.
package browsertest
