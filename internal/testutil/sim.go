package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

var binDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "livyha-testbin") })

var built sync.Map // package path → func() (string, error)

// Binary builds the command at pkg (an import path such as
// "github.com/livyha/livyha/cmd/livy-sim") once per test binary and
// returns its path. RemoveBinaries, from TestMain, deletes them.
func Binary(pkg string) (string, error) {
	f, _ := built.LoadOrStore(pkg, sync.OnceValues(func() (string, error) {
		dir, err := binDir()
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, filepath.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
		return bin, nil
	}))
	return f.(func() (string, error))()
}

// RemoveBinaries deletes what Binary built.
func RemoveBinaries() {
	if dir, err := binDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
}

// Main is the body of a TestMain for the tests of built commands: it
// builds the package named by each entry of bins (Binary) into the
// variable the entry points to, runs the tests, stops the shared
// ZooKeeper and deletes the binaries. It returns m.Run's code, or 1 if a
// build failed.
func Main(m *testing.M, bins map[*string]string) int {
	defer RemoveBinaries()
	for v, pkg := range bins {
		bin, err := Binary(pkg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*v = bin
	}
	code := m.Run()
	zktest.StopShared()
	return code
}

// HermeticEnv is the environment without the LIVY_* variables livyha's
// commands read, for child processes of tests.
func HermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIVY_") {
			env = append(env, kv)
		}
	}
	return env
}

// Sim is a livy-sim process.
type Sim struct {
	*Proc
	URL string
	// Line is its listening line ("livy-sim: id=… listening on URL[ thrift=…]").
	Line string
}

// StartSim runs livy-sim with args and waits (up to 30s) for its listening
// line, which must be its first line on stdout; it is killed at the
// test's cleanup.
func StartSim(t testing.TB, args ...string) *Sim {
	t.Helper()
	bin, err := Binary("github.com/livyha/livyha/cmd/livy-sim")
	if err != nil {
		t.Fatal(err)
	}
	p := StartProc(t, bin, args...)
	_, l, ok := p.Find(Stdout, 30*time.Second, nil)
	_, u, _ := strings.Cut(l, "listening on ")
	f := strings.Fields(u)
	if !ok || len(f) == 0 {
		t.Fatalf("%s did not start: first stdout line %q; %s", p, l, p.Output())
	}
	return &Sim{Proc: p, URL: f[0], Line: l}
}
