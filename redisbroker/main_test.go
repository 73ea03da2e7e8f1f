package redisbroker_test

import (
	"testing"

	"github.com/wsgate/wsgate/internal/leakcheck"
)

// TestMain fails the run when a test leaves a goroutine of this repository
// behind (the Broker's sender and reader, the test's redis-server
// watchers). go-redis starts none of its own for the calls the Broker
// makes: an idle client, even one never closed, runs no goroutine.
func TestMain(m *testing.M) { leakcheck.Main(m) }
