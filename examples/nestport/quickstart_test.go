package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// What the quick start prints, as a user reads it.
var (
	qsTokenRe  = regexp.MustCompile(`valid for one hour:\n\n  (\S+)\n`)
	qsPageRe   = regexp.MustCompile(`Open (\S+) in a browser`)
	qsCookieRe = regexp.MustCompile(`document\.cookie = "([^"]*)";`)
	qsSocketRe = regexp.MustCompile(`new WebSocket\("([^"]*)"\)`)
	qsSendRe   = regexp.MustCompile(`ws\.send\(JSON\.stringify\((\{.*\})\)\);`)
	qsJSKeyRe  = regexp.MustCompile(`([{,]\s*)([A-Za-z_][A-Za-z0-9_]*):`)
)

// addrListener is a pipeListener that reports addr as its address, as a
// TCP listener on addr would, and signals its first Accept: serve has
// printed everything by then.
type addrListener struct {
	*pipeListener
	addr      qsAddr
	accepting chan struct{}
	once      sync.Once
}

func (l *addrListener) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.accepting) })
	return l.pipeListener.Accept()
}

func (l *addrListener) Addr() net.Addr { return l.addr }

type qsAddr string

func (qsAddr) Network() string  { return "tcp" }
func (a qsAddr) String() string { return string(a) }

// qsServe runs serve, the program's real serving path, over a listener
// that reports listenAddr, and returns what it printed once it is
// accepting connections. The returned stop cancels it (as SIGTERM does)
// and checks that it returns nil.
func qsServe(t *testing.T, getenv func(string) string, listenAddr string) (cfg config, gw *wsgate.Gateway, out string, stop func()) {
	t.Helper()
	cfg, err := loadConfig(getenv)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	gw, err = newGateway(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("newGateway: %v", err)
	}
	ln := &addrListener{pipeListener: newPipeListener(), addr: qsAddr(listenAddr), accepting: make(chan struct{})}
	buf := &syncWriter{w: new(bytes.Buffer)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, cfg, gw, buf) }()
	select {
	case <-ln.accepting:
	case err := <-done:
		cancel()
		t.Fatalf("serve returned before serving: %v\n%s", err, buf.String())
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve = %v, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return cfg, gw, buf.String(), stop
}

// qsFind returns the first submatch of re in out, failing the test if
// there is none.
func qsFind(t *testing.T, re *regexp.Regexp, out string) string {
	t.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the quick start has no match for %s; it printed:\n%s", re, out)
	}
	return m[1]
}

// TestQuickStart follows the printed instructions as a user would: it
// opens the printed page's origin, sets the printed cookie, opens the
// printed WebSocket URL and sends the printed message, and checks that
// the token verifies and the xyz event answers for sub "demo-user".
func TestQuickStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        map[string]string
		listenAddr string // what net.Listen would report for ADDR
		host       string // where a browser opens the page
	}{
		{"defaults", nil, "127.0.0.1:8080", "127.0.0.1:8080"},
		{"ADDR", map[string]string{"ADDR": "127.0.0.1:9090"}, "127.0.0.1:9090", "127.0.0.1:9090"},
		{"ADDR by name", map[string]string{"ADDR": "localhost:9091"}, "127.0.0.1:9091", "localhost:9091"},
		{"ADDR on every interface", map[string]string{"ADDR": ":9092"}, "[::]:9092", "127.0.0.1:9092"},
		{"JWT_LEEWAY", map[string]string{"JWT_LEEWAY": "5s"}, "127.0.0.1:8080", "127.0.0.1:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, gw, out, stop := qsServe(t, env(tt.env), tt.listenAddr)
			if !cfg.generatedSecret {
				t.Fatal("no JWT_SECRET, yet the key was not generated")
			}

			token := qsFind(t, qsTokenRe, out)
			if strings.Contains(out, string(cfg.secret)) {
				t.Error("the quick start printed the generated key")
			}

			// The page to open, and the origin its console runs in.
			page, err := url.Parse(qsFind(t, qsPageRe, out))
			if err != nil {
				t.Fatalf("page URL: %v", err)
			}
			if page.Scheme != "http" || page.Host != tt.host || (page.Path != "/" && page.Path != "") {
				t.Errorf("page %q, want http://%s/", page, tt.host)
			}
			origin := page.Scheme + "://" + page.Host

			// The cookie the snippet sets: the printed token, under the
			// name the gateway reads.
			cookie, err := http.ParseSetCookie(qsFind(t, qsCookieRe, out))
			if err != nil {
				t.Fatalf("the snippet's cookie: %v", err)
			}
			if cookie.Name != wsgate.DefaultTokenCookie || cookie.Value != token || cookie.Path != "/" {
				t.Errorf("the snippet sets cookie %s=%s (path %q); want %s=<the printed token>, path /",
					cookie.Name, cookie.Value, cookie.Path, wsgate.DefaultTokenCookie)
			}

			// The WebSocket URL: same host as the page (so the cookie
			// goes with it), on the gateway's path.
			socket, err := url.Parse(qsFind(t, qsSocketRe, out))
			if err != nil {
				t.Fatalf("the snippet's WebSocket URL: %v", err)
			}
			if want := "ws://" + tt.host + "/ws"; socket.String() != want {
				t.Errorf("the snippet opens %q, want %q", socket, want)
			}
			if !strings.Contains(out, "WebSocket at "+socket.String()) {
				t.Errorf("the listening line does not name %s:\n%s", socket, out)
			}

			// The message the snippet sends, from its JavaScript literal.
			frame := qsJSKeyRe.ReplaceAllString(qsFind(t, qsSendRe, out), `$1"$2":`)
			var msg struct {
				Event string          `json:"event"`
				Data  json.RawMessage `json:"data"`
				ID    int64           `json:"id"`
			}
			if err := json.Unmarshal([]byte(frame), &msg); err != nil {
				t.Fatalf("the snippet sends %s: %v", frame, err)
			}
			if msg.Event != "xyz" || msg.ID <= 0 {
				t.Errorf("the snippet sends %s, want an xyz request with an id", frame)
			}

			// Now as the browser would: from the page's origin, with the
			// cookie, to the snippet's URL.
			srv := wsgatetest.NewServer(t, testMux(t, gw))
			c := srv.Dial(wsgatetest.DialOptions{
				Path:    socket.Path,
				Origin:  origin,
				Cookies: []*http.Cookie{{Name: cookie.Name, Value: cookie.Value}},
			})
			c.SendText(frame)
			ack := c.WaitAck(msg.ID)
			if !ack.OK() {
				t.Fatalf("the snippet's request failed: %+v", ack.Error)
			}
			var got xyzResponse
			if err := ack.Decode(&got); err != nil {
				t.Fatalf("ack %s: %v", ack.Data, err)
			}
			sent, _ := json.Marshal(msg.Data)
			received, _ := json.Marshal(got.Received)
			if got.Sub != "demo-user" || string(received) != string(sent) {
				t.Errorf("ack = %s, want sub demo-user and the data %s", ack.Data, sent)
			}
			if ev := c.WaitEvent("xyz"); string(ev.Data) != string(ack.Data) {
				t.Errorf("xyz emit = %s, want %s", ev.Data, ack.Data)
			}
			// The text says the token carries role "admin".
			if ack := c.Request("admin", nil); !ack.OK() {
				t.Errorf("admin with the printed token: %+v", ack.Error)
			}
			stop()
		})
	}
}

// With JWT_SECRET set nothing secret is minted or printed.
func TestQuickStartOnlyForGeneratedKey(t *testing.T) {
	t.Parallel()
	_, _, out, _ := qsServe(t, env(map[string]string{"JWT_SECRET": strings.Repeat("s", 40)}), "127.0.0.1:8080")
	if !strings.Contains(out, "nestport listening on http://127.0.0.1:8080") {
		t.Fatalf("no listening line:\n%s", out)
	}
	for _, re := range []*regexp.Regexp{qsTokenRe, qsCookieRe, qsSocketRe} {
		if re.MatchString(out) {
			t.Errorf("JWT_SECRET is set, yet the output matches %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "eyJ") {
		t.Errorf("JWT_SECRET is set, yet a token was printed:\n%s", out)
	}
}
