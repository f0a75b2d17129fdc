package testutil

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func sh(t testing.TB, script string) *Proc {
	t.Helper()
	return StartProcWith(t, ProcOptions{Env: []string{"GREETING=hello"}, StdinPipe: true}, "/bin/sh", "-c", script)
}

// Lines of both streams by event, the environment, stdin, the exit code.
func TestProcLines(t *testing.T) {
	NoLeaks(t)
	p := sh(t, `echo "out $GREETING"; echo err1 >&2; read x; echo "got $x"; printf 'cr\r\nlast'; printf 'e-last' >&2; exit 3`)
	if l := p.WaitLine(Stdout, 10*time.Second, "out"); l != "out hello" {
		t.Fatalf("first line %q", l)
	}
	if m := p.WaitMatch(Stderr, 10*time.Second, regexp.MustCompile(`^err(\d)$`)); m[1] != "1" {
		t.Fatalf("submatches %q", m)
	}
	if _, _, ok := p.Find(Stdout, 0, func(n int, _ string) bool { return n > 0 }); ok {
		t.Fatal("a second line before any input")
	}
	if _, err := p.Stdin.Write([]byte("in\n")); err != nil {
		t.Fatal(err)
	}
	if n, l, ok := p.Find(Stdout, 10*time.Second, func(n int, _ string) bool { return n == 1 }); !ok || n != 1 || l != "got in" {
		t.Fatalf("line 1: %d %q %v", n, l, ok)
	}
	if code := p.Wait(10 * time.Second); code != 3 {
		t.Fatalf("exit %d", code)
	}
	if got, want := p.Lines(Stdout), []string{"out hello", "got in", "cr", "last"}; !slices.Equal(got, want) {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	if got := p.Text(Stderr); got != "err1\ne-last" || p.Dropped(Stderr) != 0 {
		t.Fatalf("stderr %q, %d dropped", got, p.Dropped(Stderr))
	}
	if _, _, ok := p.Find(Stdout, time.Minute, func(n int, _ string) bool { return n > 3 }); ok {
		t.Fatal("a line after the last")
	}
}

// Only the newest lines are kept; lines keep their numbers.
func TestProcBounded(t *testing.T) {
	p := sh(t, fmt.Sprintf("seq 0 %d", maxLines+4))
	if p.Wait(30*time.Second) != 0 {
		t.Fatal(p.Output())
	}
	l := p.Lines(Stdout)
	if len(l) != maxLines || l[0] != "5" || p.Dropped(Stdout) != 5 {
		t.Fatalf("%d lines from %q, %d dropped", len(l), l[0], p.Dropped(Stdout))
	}
	if n, s, ok := p.Find(Stdout, 0, nil); !ok || n != 5 || s != "5" {
		t.Fatalf("first kept: %d %q %v", n, s, ok)
	}
}

// Kill, Stop and Cont; a process still alive at the cleanup is killed
// and reaped, and nothing is left running.
func TestProcSignals(t *testing.T) {
	var kept *Proc
	t.Run("cleanup", func(t *testing.T) {
		NoLeaks(t)
		kept = sh(t, `echo up; exec sleep 1000`)
		kept.WaitLine(Stdout, 10*time.Second, "up")
	})
	select {
	case <-kept.Exited():
	default:
		t.Fatal("alive after its test's cleanup")
	}

	NoLeaks(t)
	p := sh(t, `echo ready; while read x; do echo "got $x"; done`)
	p.WaitLine(Stdout, 10*time.Second, "ready")
	p.Stop()
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		// A stopped child tells its parent only through wait(WUNTRACED),
		// which the reaper does not use: its state is polled.
		deadline := time.Now().Add(10 * time.Second)
		for procState(t, p.Cmd.Process.Pid) != "T" {
			if time.Now().After(deadline) {
				t.Fatal("not stopped after SIGSTOP")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	p.Cont()
	if _, err := p.Stdin.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	p.WaitLine(Stdout, 10*time.Second, "got x")
	p.Kill()
	if code := p.Wait(10 * time.Second); code != -1 {
		t.Fatalf("exit %d after SIGKILL", code)
	}

	// Signal: a process that ignores SIGTERM is killed after the timeout.
	q := sh(t, `trap "" TERM; echo ready; while :; do read x || exit 7; done`)
	q.WaitLine(Stdout, 10*time.Second, "ready")
	q.Signal(syscall.SIGTERM, 100*time.Millisecond)
	if code := q.Wait(0); code != -1 {
		t.Fatalf("exit %d", code)
	}
	q.Signal(syscall.SIGTERM, time.Second) // reaped: nothing to do
}

func procState(t *testing.T, pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return f[0]
}

func TestFindAny(t *testing.T) {
	a := sh(t, `read x; echo "a $x"`)
	b := sh(t, `read x; echo "b $x"`)
	if _, err := b.Stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	i, n, l, ok := FindAny(10*time.Second, Stdout, []*Proc{a, b}, func(i, _ int, l string) bool { return strings.HasSuffix(l, " go") })
	if !ok || i != 1 || n != 0 || l != "b go" {
		t.Fatalf("%d %d %q %v", i, n, l, ok)
	}
	// All exited without a match: not found, at once.
	a.Stdin.Close()
	a.Wait(10 * time.Second)
	b.Wait(10 * time.Second)
	if _, _, _, ok := FindAny(time.Hour, Stdout, []*Proc{a, b}, func(int, int, string) bool { return false }); ok {
		t.Fatal("found")
	}
}

// fakeT records a failure and ends the goroutine, as a test's Fatal does.
type fakeT struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, a ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, a...)
	f.mu.Unlock()
	runtime.Goexit()
}

// A wait fails the test with what the process printed: at its exit, or
// after the time allowed.
func TestProcFailures(t *testing.T) {
	for _, tc := range []struct {
		script, want string
	}{
		{`echo bye >&2`, `sh ["-c" "echo bye >&2"]: no stdout line containing "never" before it exited (exit status 0); stdout [], stderr ["bye"]`},
		{`echo bye >&2; exec sleep 1000`, `sh ["-c" "echo bye >&2; exec sleep 1000"]: no stdout line containing "never" within 200ms; stdout [], stderr ["bye"]`},
	} {
		f := &fakeT{TB: t}
		p := StartProc(f, "/bin/sh", "-c", tc.script)
		p.WaitLine(Stderr, 10*time.Second, "bye")
		done := make(chan struct{})
		go func() { defer close(done); p.WaitLine(Stdout, 200*time.Millisecond, "never") }()
		<-done
		if f.msg != tc.want {
			t.Errorf("failure %q, want %q", f.msg, tc.want)
		}
	}
}
