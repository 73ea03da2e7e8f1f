package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// startProgress prints a line to w every second while a run goes on: what
// runs, the time elapsed out of total (when known), the operations done
// and their rate since the last line, and the errors. It returns the
// function that stops it; a nil w prints nothing.
func startProgress(w io.Writer, label string, total time.Duration, ops, errs *atomic.Int64) (stop func()) {
	if w == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, lastAt := ops.Load(), start
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				n := ops.Load()
				line := fmt.Sprintf("%s: %.0fs", label, now.Sub(start).Seconds())
				if total > 0 {
					line += fmt.Sprintf("/%.0fs", total.Seconds())
				}
				line += fmt.Sprintf("  %s done  %s/s", count(float64(n)), count(float64(n-last)/now.Sub(lastAt).Seconds()))
				if errs != nil {
					line += fmt.Sprintf("  errors %d", errs.Load())
				}
				fmt.Fprintln(w, line)
				last, lastAt = n, now
			}
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
	}
}

// count is thousands, with zero written 0.
func count(v float64) string {
	if v == 0 {
		return "0"
	}
	return thousands(v)
}
