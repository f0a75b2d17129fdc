package testutil

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
	*zktest.Proc
	URL string
	// Line is its listening line ("livy-sim: id=… listening on URL[ thrift=…]").
	Line string
}

// StartSim runs livy-sim with args and waits (up to 30s) for its listening
// line; it is killed at the test's cleanup.
func StartSim(t testing.TB, args ...string) *Sim {
	t.Helper()
	bin, err := Binary("github.com/livyha/livyha/cmd/livy-sim")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = HermeticEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := zktest.StartProc(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Signal(syscall.SIGKILL, 5*time.Second) })
	linec := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on ") {
				select {
				case linec <- sc.Text():
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-linec:
		_, u, _ := strings.Cut(l, "listening on ")
		return &Sim{Proc: p, URL: strings.Fields(u)[0], Line: l}
	case <-p.Exited():
		t.Fatalf("livy-sim %q exited before listening", args)
	case <-time.After(30 * time.Second):
		t.Fatalf("livy-sim %q did not start", args)
	}
	return nil
}
