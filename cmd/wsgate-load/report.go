package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one measurement: a mode run against one server. Fields that
// were not measured are zero and left out of the JSON.
type Result struct {
	Mode   string `json:"mode"`             // rt, handshake, idle, fanout
	Server string `json:"server,omitempty"` // compare: bare, handwritten, wsgate
	Round  int    `json:"round,omitempty"`  // compare: 1, 2, …
	Conns  int    `json:"conns"`            // connections (handshake: concurrent dialers)

	Seconds float64          `json:"seconds,omitempty"` // measured window
	Ops     int64            `json:"ops,omitempty"`     // round trips, handshakes, or deliveries
	Rate    float64          `json:"rate,omitempty"`    // ops per second
	Errors  int64            `json:"errors,omitempty"`  // error acks and failed handshakes in the window
	Codes   map[string]int64 `json:"error_codes,omitempty"`
	P50     float64          `json:"p50_ms,omitempty"` // latency percentiles, milliseconds
	P99     float64          `json:"p99_ms,omitempty"`
	P999    float64          `json:"p999_ms,omitempty"`

	Emits int64 `json:"emits,omitempty"` // fanout: messages sent to rooms

	ServerCPU float64 `json:"server_cpu_us_per_op,omitempty"`  // server CPU µs per op, given its pid
	PerCore   float64 `json:"ops_per_server_core_s,omitempty"` // ops per second of server CPU: 1e6 ÷ ServerCPU
	RSSBefore int64   `json:"rss_before_kib,omitempty"`        // idle: server VmRSS before dialing
	RSSAfter  int64   `json:"rss_after_kib,omitempty"`         // idle: with every connection open
	KiBPer    float64 `json:"kib_per_conn,omitempty"`          // idle: (after − before) ÷ conns
}

// setLatency fills in the percentiles from h.
func (r *Result) setLatency(h *histogram) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.P50, r.P99, r.P999 = ms(h.quantile(0.50)), ms(h.quantile(0.99)), ms(h.quantile(0.999))
}

// writeJSON writes each result as one line of JSON.
func writeJSON(w io.Writer, results ...Result) error {
	for _, r := range results {
		if err := writeJSONValue(w, r); err != nil {
			return err
		}
	}
	return nil
}

// writeJSONValue writes v as one line of JSON.
func writeJSONValue(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// writeTable writes results as a table for people.
func writeTable(w io.Writer, results ...Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tserver\tconns\tops/s\tp50 ms\tp99 ms\tp99.9 ms\terrors\tcpu µs/op\tKiB/conn\t")
	for _, r := range results {
		server := r.Server
		if server == "" {
			server = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Mode, server, r.Conns, thousands(r.Rate), decimal(r.P50, 3), decimal(r.P99, 3), decimal(r.P999, 3),
			errorsCell(r), decimal(r.ServerCPU, 1), decimal(r.KiBPer, 1))
	}
	return tw.Flush()
}

// errorsCell is the error count with the most frequent codes.
func errorsCell(r Result) string {
	if r.Errors == 0 {
		return "0"
	}
	codes := slices.Sorted(maps.Keys(r.Codes))
	slices.SortStableFunc(codes, func(a, b string) int { return int(r.Codes[b] - r.Codes[a]) })
	var parts []string
	for i, c := range codes {
		if i == 2 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%s×%d", c, r.Codes[c]))
	}
	return fmt.Sprintf("%d (%s)", r.Errors, strings.Join(parts, ", "))
}

// decimal formats v with prec decimals, or "-" for an unmeasured zero.
func decimal(v float64, prec int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// thousands formats v rounded, with commas between groups of three digits.
func thousands(v float64) string {
	if v == 0 {
		return "-"
	}
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// brief is the result in one line, for progress.
func (r *Result) brief() string {
	if r.Mode == "idle" {
		if r.KiBPer == 0 {
			return fmt.Sprintf("%d connections held", r.Conns)
		}
		return fmt.Sprintf("%.1f KiB per connection (VmRSS %d → %d KiB)", r.KiBPer, r.RSSBefore, r.RSSAfter)
	}
	s := fmt.Sprintf("%s/s, p50 %.3f ms, p99 %.3f ms", count(r.Rate), r.P50, r.P99)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf(", server CPU %.1f µs/op", r.ServerCPU)
	}
	return s + ", errors " + errorsCell(*r)
}
