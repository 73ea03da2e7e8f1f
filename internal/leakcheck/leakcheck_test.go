package leakcheck

import (
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestRunningSeesAndForgets(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-stop
	}()
	if got := Running(); len(got) != 1 {
		t.Fatalf("Running() = %d stacks, want the one goroutine started here:\n%q", len(got), got)
	}
	close(stop)
	<-done
	if got := Wait(5 * time.Second); len(got) != 0 {
		t.Fatalf("Wait() = %q after the goroutine returned, want none", got)
	}
}
