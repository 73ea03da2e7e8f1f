package browsertest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build builds the Go program pkg (an import path, or a directory such as
// ".") into the test's temporary directory and returns the binary's path.
// It skips the test under -short, and when there is no go command (which
// fails it under CI=true).
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("browsertest: -short: does not build %s", pkg)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("browsertest: no go command to build %s with, and CI=true: %v", pkg, err)
		}
		tb.Skipf("browsertest: no go command to build %s with: %v", pkg, err)
	}
	name := filepath.Base(strings.TrimSuffix(pkg, "/"))
	if name == "." || name == ".." {
		name = "program"
	}
	bin := filepath.Join(tb.TempDir(), name)
	if out, err := exec.Command(goTool, "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		tb.Fatalf("browsertest: go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Process is a server program running as a child process, such as
// examples/chat, which logs (log/slog, text) a line with msg=listening and
// addr=http://host:port once it serves.
type Process struct {
	// URL is the base URL the program reported, "http://host:port".
	URL string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, set before exited is closed
	mu     sync.Mutex
	out    strings.Builder
}

// listeningRe finds the address in the program's listening line.
var listeningRe = regexp.MustCompile(`\bmsg=listening\b.*\baddr=(http://\S+)`)

// Start runs bin with the environment of the test plus env ("NAME=value"
// entries), and waits up to 30 s for its listening line. The process is
// killed, and waited for, when the test ends, unless Stop has ended it.
func Start(tb testing.TB, bin string, env ...string) *Process {
	tb.Helper()
	p := &Process{cmd: exec.Command(bin), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p.cmd.Stderr = outWriter{p} // the same record as stdout
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("browsertest: starting %s: %v", bin, err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listeningRe.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
		// Wait only once stdout is drained, as exec requires.
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if tb.Failed() {
			tb.Logf("output of %s:\n%s", filepath.Base(bin), p.Output())
		}
	})
	select {
	case p.URL = <-found:
	case <-p.exited:
		tb.Fatalf("browsertest: %s exited before serving: %v\n%s", bin, p.err, p.Output())
	case <-time.After(30 * time.Second):
		tb.Fatalf("browsertest: no listening line from %s within 30 s:\n%s", bin, p.Output())
	}
	return p
}

// outWriter appends to the process's output record.
type outWriter struct{ p *Process }

func (w outWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// Output returns what the process has printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Stop sends sig and waits up to timeout for the process to exit. It
// returns nil for an exit with status 0, and otherwise an error saying how
// it ended (or that it had not within timeout).
func (p *Process) Stop(sig syscall.Signal, timeout time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		return fmt.Errorf("still running %v after %v", timeout, sig)
	}
	if ee, ok := errors.AsType[*exec.ExitError](p.err); ok {
		return fmt.Errorf("exit status %d after %v", ee.ExitCode(), sig)
	}
	return p.err
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}
