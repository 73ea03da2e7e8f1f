package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// minSecretLen is the shortest JWT_SECRET accepted, as wsgate's JWT
// verifier requires of an HMAC key.
const minSecretLen = 32

// config is the chat's configuration, read from the environment.
type config struct {
	addr            string
	frontendHost    string // normalised; "" until the listener is known when FRONTEND_HOST is unset
	secret          []byte
	generatedSecret bool
	redisURL        string
	shutdownTimeout time.Duration
	metrics         bool // METRICS: serve /metrics
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		addr:            getenv("ADDR"),
		secret:          []byte(getenv("JWT_SECRET")),
		redisURL:        getenv("REDIS_URL"),
		shutdownTimeout: 10 * time.Second,
	}
	if cfg.addr == "" {
		cfg.addr = "127.0.0.1:8090"
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return cfg, fmt.Errorf("ADDR %q: %w", cfg.addr, err)
	}
	if fh := getenv("FRONTEND_HOST"); fh != "" {
		origin, err := normalizeOrigin(fh)
		if err != nil {
			return cfg, fmt.Errorf("FRONTEND_HOST %q: %w", fh, err)
		}
		cfg.frontendHost = origin
	}
	switch {
	case len(cfg.secret) == 0:
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return cfg, err
		}
		cfg.secret = []byte(hex.EncodeToString(key))
		cfg.generatedSecret = true
	case len(cfg.secret) < minSecretLen:
		// Never quote the secret itself.
		return cfg, fmt.Errorf("JWT_SECRET is %d bytes; it must be at least %d", len(cfg.secret), minSecretLen)
	}
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("SHUTDOWN_TIMEOUT=%q: want a duration above zero, such as 10s", v)
		}
		cfg.shutdownTimeout = d
	}
	if v := getenv("METRICS"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("METRICS=%q: want 1 or 0 (or true or false)", v)
		}
		cfg.metrics = on
	}
	return cfg, nil
}

// ownOrigin is the origin of the page this server serves on addr, as a
// browser on this machine opens it: an address on every interface
// ("0.0.0.0", "::") is opened as 127.0.0.1, and the port is the one bound
// (so ADDR with port 0 works).
func ownOrigin(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// normalizeOrigin returns origin as a browser serialises it in an Origin
// header: scheme and host lower-cased, the scheme's default port left
// out. It refuses anything but http or https scheme://host[:port] (no
// path, not even "/", no query, fragment or user info), and "null".
func normalizeOrigin(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return "", errors.New("not an origin (scheme://host[:port])")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", errors.New("the scheme must be http or https")
	case u.Opaque != "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(origin, "#"):
		return "", errors.New("an origin is scheme://host[:port], with no path, query, fragment or user info")
	case u.Hostname() == "":
		return "", errors.New("no host")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" {
		return scheme + "://" + host, nil
	}
	return scheme + "://" + host + ":" + port, nil
}
