package main

import (
	"testing"

	"github.com/wsgate/wsgate/internal/leakcheck"
)

// TestMain fails the run when a test leaves a goroutine of wsgate's code
// (this program's, the gateway's, redisbroker's) behind.
func TestMain(m *testing.M) { leakcheck.Main(m) }
