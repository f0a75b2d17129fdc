// Package testutil holds small helpers the tests of several packages share.
package testutil

import (
	"runtime"
	"testing"
	"time"
)

// NoLeaks fails the test if goroutines started during it are still alive
// after its cleanups ran. Call it first in a test, so that its cleanup runs
// last; it waits up to 5s for goroutines that are ending.
func NoLeaks(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // goroutines give no event when they end
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}
