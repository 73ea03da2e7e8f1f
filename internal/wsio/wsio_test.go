package wsio

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

func TestHeaderHasToken(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   bool
	}{
		{[]string{"Upgrade"}, true},
		{[]string{"keep-alive, Upgrade"}, true}, // Firefox
		{[]string{"keep-alive,upgrade"}, true},
		{[]string{"keep-alive", " UPGRADE "}, true},
		{[]string{"upgrade,"}, true},
		{[]string{",,upgrade"}, true},
		{[]string{"keep-alive"}, false},
		{[]string{"upgraded, keep-alive"}, false},
		{[]string{"up grade"}, false},
		{[]string{""}, false},
		{[]string{","}, false},
		{nil, false},
	} {
		h := http.Header{"Connection": tc.values}
		if got := HeaderHasToken(h, "Connection", "upgrade"); got != tc.want {
			t.Errorf("Connection %q: got %v, want %v", tc.values, got, tc.want)
		}
	}
}

func TestReadAtMost(t *testing.T) {
	msg := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		prefix string
		max    int64
		want   int
	}{
		{"", 2000, 1000}, // all of it
		{"", 1001, 1000}, // exactly up to the limit's extra byte
		{"", 1000, 1000}, // at the limit
		{"", 10, 10},     // cut
		{"abc", 13, 13},  // the prefix counts
		{"", 0, 0},       // nothing asked
	} {
		// One byte per Read, to exercise the loop.
		got, err := ReadAtMost([]byte(tc.prefix), iotest.OneByteReader(strings.NewReader(msg)), tc.max)
		if err != nil || len(got) != tc.want || !bytes.HasPrefix(got, []byte(tc.prefix)) {
			t.Errorf("prefix %q max %d: %d bytes, %v; want %d", tc.prefix, tc.max, len(got), err, tc.want)
		}
	}
	boom := errors.New("boom")
	if _, err := ReadAtMost(nil, io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(boom)), 10); !errors.Is(err, boom) {
		t.Errorf("a read error = %v, want it returned", err)
	}
}

// TestAppendString: every string comes back as a JSON string that decodes
// to it, written between quotes as it is when nothing needs escaping.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "chat", "a<b&c>", `say "hi"`, `back\slash`, "tab\there", "\x00\x1f", "é", "\u2028", "bad \xff utf-8"} {
		b := AppendString([]byte("x:"), s)
		if !bytes.HasPrefix(b, []byte("x:")) {
			t.Fatalf("%q: prefix lost: %s", s, b)
		}
		var got string
		if err := json.Unmarshal(b[2:], &got); err != nil {
			t.Fatalf("%q: %s is not a JSON string: %v", s, b[2:], err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want {
			t.Fatalf("%q: decodes to %q", s, got)
		}
	}
	if got := string(AppendString(nil, "a<b")); got != `"a<b"` {
		t.Fatalf("a name with nothing to escape written as %s", got)
	}
}
