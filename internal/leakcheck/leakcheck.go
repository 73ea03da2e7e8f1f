// Package leakcheck fails a test binary whose tests leave goroutines of
// this module running. Use it from TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// module is what a goroutine's stack mentions when this module's code runs
// on it, or started it.
const module = "github.com/wsgate/wsgate"

// Timeout is how long Main waits for goroutines to end after the tests.
const Timeout = 5 * time.Second

// Main runs the tests and exits. When they pass but goroutines of this
// module are still running Timeout later, it prints their stacks and exits
// with status 1.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := Wait(Timeout); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "leakcheck: %d goroutine(s) still running after the tests:\n\n%s\n",
				len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// Wait polls until no goroutine other than the caller's mentions this
// module, or until timeout, and returns the stacks of those that remain.
func Wait(timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		leaked := Running()
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(delay)
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// Running returns the stacks of the goroutines whose stack mentions this
// module, except the caller's and the one running Main (the test binary's
// main goroutine, waiting in testing.M.Run).
func Running() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	// The caller's goroutine comes first; the others follow, each
	// separated by a blank line.
	stacks := strings.Split(string(buf), "\n\n")
	var leaked []string
	for _, s := range stacks[1:] {
		if strings.Contains(s, module) && !strings.Contains(s, module+"/internal/leakcheck.Main(") {
			leaked = append(leaked, s)
		}
	}
	return leaked
}
