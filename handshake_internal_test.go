package wsgate

import (
	"net/http"
	"testing"
)

func TestCheckUpgradeRequestKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"dGhlIHNhbXBsZSBub25jZQ==":     true, // RFC 6455's sample
		" dGhlIHNhbXBsZSBub25jZQ== ":   true,
		"":                             false,
		"dGhlIHNhbXBsZSBub25jZQ":       false, // unpadded
		"dGhlIHNhbXBsZSBub25jZQ=!":     false,
		"dGhlIHNhbXBsZSBub25jZSE=":     false, // 17 bytes
		"dGhlIHNhbXBsZSBub25j":         false, // 15 bytes
		"dGhlIHNhbXBsZSBub25jZSEhISE=": false, // 20 bytes
		"dGhlIHNhbXBsZSBub25jZQ==dGhl": false,
	} {
		r, err := http.NewRequest(http.MethodGet, "http://example.com/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", key)
		if got := checkUpgradeRequest(r) == nil; got != ok {
			t.Errorf("key %q: accepted %v, want %v", key, got, ok)
		}
	}
}
