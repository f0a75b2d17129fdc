package krbtest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

// Start starts a KDC for a test, in t.TempDir(), and stops it in
// t.Cleanup. If MIT Kerberos is unavailable it skips the test, or fails it
// when the environment has CI=true.
func Start(t testing.TB) *KDC {
	t.Helper()
	k, err := StartKDC(context.Background(), Config{Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		SkipOrFatal(t, err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

var shared struct {
	mu  sync.Mutex
	k   *KDC
	err error
}

// Shared returns a KDC shared by all tests of the test binary, started on
// first use (realm DefaultRealm, in a temporary directory). Tests should
// use principal names of their own. Call StopShared from TestMain after
// m.Run, which also removes its directory. Unavailability is handled as in
// Start.
func Shared(t testing.TB) *KDC {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.k == nil && shared.err == nil {
		shared.k, shared.err = StartKDC(context.Background(), Config{})
	}
	if shared.err != nil {
		SkipOrFatal(t, shared.err)
	}
	return shared.k
}

// StopShared stops the KDC started by Shared, if any. Call it from
// TestMain after m.Run().
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.k != nil {
		_ = shared.k.Close()
	}
	shared.k, shared.err = nil, nil
}

// SkipOrFatal ends the test because of err: with t.Skip if err wraps
// ErrUnavailable (unless the environment has CI=true), otherwise with
// t.Fatal. It mirrors zktest.SkipOrFatal.
func SkipOrFatal(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") != "true" {
		t.Skipf("%v (install Debian packages krb5-kdc krb5-admin-server krb5-user; with CI=true this fails)", err)
	}
	t.Fatal(err)
}
