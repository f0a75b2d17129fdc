package zktest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

// Start starts a cluster of the given number of nodes (0 means 1) for a
// test and closes it in t.Cleanup. If ZooKeeper is unavailable it skips the
// test, or fails it when the environment has CI=true.
func Start(t testing.TB, nodes int) *Cluster {
	t.Helper()
	c, err := StartCluster(context.Background(), Config{Nodes: nodes, Logf: t.Logf})
	if err != nil {
		SkipOrFatal(t, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var shared struct {
	mu  sync.Mutex
	c   *Cluster
	err error
}

// Shared returns a single-node cluster shared by all tests of the test
// binary, started on first use. Tests must not stop or kill its node and
// should each use their own root path. Call StopShared from TestMain after
// m.Run. Unavailability is handled as in Start.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.c == nil && shared.err == nil {
		shared.c, shared.err = StartCluster(context.Background(), Config{Nodes: 1})
	}
	if shared.err != nil {
		SkipOrFatal(t, shared.err)
	}
	return shared.c
}

// StopShared kills the cluster started by Shared, if any. Call it from
// TestMain after m.Run().
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.c != nil {
		_ = shared.c.Close()
	}
	shared.c, shared.err = nil, nil
}

// SkipOrFatal ends the test because of err: with t.Skip if err wraps
// ErrUnavailable (unless the environment has CI=true), otherwise with
// t.Fatal.
func SkipOrFatal(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") != "true" {
		t.Skipf("%v (install Debian packages zookeeper and a JDK, or set ZK_JARS_DIR/JAVA_HOME; with CI=true this fails)", err)
	}
	t.Fatal(err)
}

// StartConfig starts a cluster as StartCluster does with cfg (Logf
// defaults to t.Logf) for a test, and closes it in t.Cleanup.
// Unavailability is handled as in Start.
func StartConfig(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	c, err := StartCluster(context.Background(), cfg)
	if err != nil {
		SkipOrFatal(t, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
