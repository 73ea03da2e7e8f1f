package main

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// static holds the page: plain HTML, CSS and JavaScript, served as they
// are. No build step, nothing loaded from another site.
//
//go:embed static
var static embed.FS

// pageHandler serves the page at / and its two files, with a Content
// Security Policy that lets the page run only its own script and talk only
// to its own origin (the WebSocket included), and never be framed.
func pageHandler(origin string) http.Handler {
	files := http.FileServerFS(mustSub(static, "static"))
	ws := "ws" + strings.TrimPrefix(origin, "http") // http→ws, https→wss
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' " + ws +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/", "/app.js", "/app.css":
		default:
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func mustSub(fsys embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded: it is there
	}
	return sub
}
