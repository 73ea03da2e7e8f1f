package socketio_test

import (
	"testing"

	"github.com/wsgate/wsgate/internal/leakcheck"
)

// TestMain fails the run when a test leaves a goroutine of this module
// behind.
func TestMain(m *testing.M) { leakcheck.Main(m) }
