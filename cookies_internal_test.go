package wsgate

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCookieValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		lines   []string
		cookie  string
		want    string
		wantErr error
	}{
		{name: "no header", lines: nil, cookie: "t", wantErr: ErrNoToken},
		{name: "absent", lines: []string{"a=1; b=2"}, cookie: "t", wantErr: ErrNoToken},
		{name: "found", lines: []string{"a=1; t=tok; b=2"}, cookie: "t", want: "tok"},
		{name: "quoted", lines: []string{`t="tok"`}, cookie: "t", want: "tok"},
		{name: "empty", lines: []string{"t="}, cookie: "t", want: ""},
		{name: "host prefix", lines: []string{"__Host-t=tok"}, cookie: "__Host-t", want: "tok"},
		{name: "secure prefix not the same name", lines: []string{"t=tok"}, cookie: "__Secure-t", wantErr: ErrNoToken},
		{name: "case-sensitive", lines: []string{"T=tok"}, cookie: "t", wantErr: ErrNoToken},
		{name: "malformed around", lines: []string{`junk; =x; a b=1; c="; t=tok; d=\; e`}, cookie: "t", want: "tok"},
		{name: "malformed value only", lines: []string{`t=to"k`}, cookie: "t", wantErr: errMalformedCookie},
		{name: "bare name is not the cookie", lines: []string{"t; a=1"}, cookie: "t", wantErr: ErrNoToken},
		{name: "second line", lines: []string{"a=1", "t=tok"}, cookie: "t", want: "tok"},
		{name: "duplicate in one line", lines: []string{"t=one; a=1; t=two"}, cookie: "t", wantErr: ErrDuplicateCookie},
		{name: "duplicate across lines", lines: []string{"t=one", "a=1; t=two"}, cookie: "t", wantErr: ErrDuplicateCookie},
		{name: "duplicate same value", lines: []string{"t=one; t=one"}, cookie: "t", wantErr: ErrDuplicateCookie},
		{name: "duplicate with malformed twin", lines: []string{`t=one; t=t"wo`}, cookie: "t", wantErr: ErrDuplicateCookie},
		{name: "other duplicates ignored", lines: []string{"a=1; a=2; t=tok"}, cookie: "t", want: "tok"},
		{name: "too many in one line", lines: []string{"t=tok" + strings.Repeat("; a=1", 3000)}, cookie: "t", wantErr: ErrTooManyCookies},
		{name: "too many across lines", lines: []string{"t=tok" + strings.Repeat("; a=1", 1500), "b=1" + strings.Repeat("; a=1", 1499)}, cookie: "t", wantErr: ErrTooManyCookies},
		{name: "at the limit", lines: []string{"t=tok" + strings.Repeat("; a=1", 1499), "b=1" + strings.Repeat("; a=1", 1499)}, cookie: "t", want: "tok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("Cookie", l)
			}
			got, err := cookieValue(h, tt.cookie)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("cookieValue = %q, %v; want error %v", got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("cookieValue = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCookieValueDoesNotAllocateMap(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; b=2; c=3; access_token=tok; d=4", "e=5; f=6"}}
	allocs := testing.AllocsPerRun(100, func() {
		if v, err := cookieValue(h, "access_token"); v != "tok" || err != nil {
			t.Fatalf("cookieValue = %q, %v", v, err)
		}
	})
	if allocs != 0 {
		t.Errorf("cookieValue allocates %v times per call, want 0", allocs)
	}
}
