package main

import (
	"net"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:8090" || cfg.frontendHost != "" || cfg.redisURL != "" {
		t.Errorf("defaults: %+v", cfg)
	}
	if !cfg.generatedSecret || len(cfg.secret) < minSecretLen {
		t.Errorf("no JWT_SECRET: generated %t, %d bytes; want a generated key of at least %d", cfg.generatedSecret, len(cfg.secret), minSecretLen)
	}
	other, _ := loadConfig(env(nil))
	if string(other.secret) == string(cfg.secret) {
		t.Error("two runs generated the same key")
	}
	// The default origin is the address actually bound.
	for addr, want := range map[string]string{
		"127.0.0.1:8090": "http://127.0.0.1:8090",
		"0.0.0.0:8090":   "http://127.0.0.1:8090",
		"[::]:8090":      "http://127.0.0.1:8090",
		"[::1]:8090":     "http://[::1]:8090",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := ownOrigin(tcp); got != want {
			t.Errorf("ownOrigin(%s) = %s, want %s", addr, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(env(map[string]string{
		"ADDR": "127.0.0.1:0", "FRONTEND_HOST": "HTTPS://Chat.Example.com:443", "JWT_SECRET": strings.Repeat("k", 32),
		"REDIS_URL": "redis://127.0.0.1:6379/0", "SHUTDOWN_TIMEOUT": "3s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.frontendHost != "https://chat.example.com" || cfg.generatedSecret || cfg.redisURL != "redis://127.0.0.1:6379/0" || cfg.shutdownTimeout.String() != "3s" {
		t.Errorf("config: %+v", cfg)
	}
	for _, tt := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"JWT_SECRET": "short-secret"}, "JWT_SECRET is 12 bytes; it must be at least 32"},
		{map[string]string{"ADDR": "8090"}, "ADDR"},
		{map[string]string{"FRONTEND_HOST": "chat.example.com"}, "FRONTEND_HOST"},
		{map[string]string{"FRONTEND_HOST": "https://chat.example.com/"}, "no path"},
		{map[string]string{"FRONTEND_HOST": "ftp://chat.example.com"}, "http or https"},
		{map[string]string{"FRONTEND_HOST": "null"}, "FRONTEND_HOST"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"METRICS": "perhaps"}, "METRICS"},
	} {
		_, err := loadConfig(env(tt.vars))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one saying %q", tt.vars, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "short-secret") {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://a.example":         "http://a.example",
		"HTTP://A.Example:80":      "http://a.example",
		"https://a.example:8443":   "https://a.example:8443",
		"http://127.0.0.1:8090":    "http://127.0.0.1:8090",
		"http://[::1]:8090":        "http://[::1]:8090",
		"https://a.example:443":    "https://a.example",
		"http://a.example:443":     "http://a.example:443",
		"null":                     "",
		"":                         "",
		"http://":                  "",
		"http://a.example/":        "",
		"http://a.example?x":       "",
		"http://a.example#":        "",
		"http://user@a.example":    "",
		"javascript:alert(1)":      "",
		"http://a.example:port":    "",
		"ws://a.example":           "",
		"http://a.example/path":    "",
		"http://a.example:8090/ws": "",
	} {
		got, err := normalizeOrigin(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("normalizeOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
