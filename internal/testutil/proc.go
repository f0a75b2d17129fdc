package testutil

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

// Stream names one of a Proc's outputs.
type Stream int

const (
	Stdout Stream = iota
	Stderr
)

func (s Stream) String() string { return [...]string{"stdout", "stderr"}[s] }

// A Proc keeps at most this many of a stream's lines (and bytes), the
// newest; Dropped counts the others.
const (
	maxLines = 10000
	maxBytes = 16 << 20
)

// ProcOptions are StartProcWith's.
type ProcOptions struct {
	// Env is added to HermeticEnv (a later variable wins).
	Env []string
	// StdinPipe connects Proc.Stdin to the process's standard input;
	// without it, the input is empty.
	StdinPipe bool
}

// Proc is a child process of a test: its stdout and stderr are kept line
// by line (bounded), a test waits for a line by event (each new line and
// the exit wake the waiters), and it is killed, if still alive, and
// reaped at the test's cleanup. Its methods that fail do so on the test
// it was started for, and must be called from that test's goroutine;
// Signal (which ends it) never fails.
type Proc struct {
	*zktest.Proc
	// Stdin is the process's standard input with ProcOptions.StdinPipe
	// (Close it for EOF), otherwise nil.
	Stdin io.WriteCloser

	t    testing.TB
	name string
	done chan struct{} // closed once the process is reaped and its output is in

	mu      sync.Mutex
	out     [2]output
	changed chan struct{} // closed (and replaced) on each new line; closed at exit
	exited  bool
}

type output struct {
	lines   []string // the newest lines
	n       int      // lines received in all
	bytes   int      // in lines
	partial []byte   // an unterminated line
}

// StartProc starts bin with args, the environment HermeticEnv and no
// input.
func StartProc(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartProcWith(t, ProcOptions{}, bin, args...)
}

// StartProcWith is StartProc with options.
func StartProcWith(t testing.TB, o ProcOptions, bin string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(HermeticEnv(), o.Env...)
	cmd.WaitDelay = 10 * time.Second // bounds the wait for output held open by a grandchild
	p := &Proc{t: t, name: fmt.Sprintf("%s %q", filepath.Base(bin), args), done: make(chan struct{}), changed: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = lineWriter{p, Stdout}, lineWriter{p, Stderr}
	if o.StdinPipe {
		w, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.Stdin = w
	}
	zp, err := zktest.StartProc(cmd) // no orphan if the test binary dies
	if err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	p.Proc = zp
	go func() {
		<-zp.Exited() // reaped once the output is copied
		p.mu.Lock()
		for s := range p.out {
			if o := &p.out[s]; len(o.partial) > 0 {
				o.add(string(o.partial))
			}
		}
		p.exited = true
		close(p.changed)
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() { p.Signal(syscall.SIGKILL, 10*time.Second) }) // a stopped process dies too
	return p
}

func (p *Proc) String() string { return p.name }

type lineWriter struct {
	p *Proc
	s Stream
}

func (w lineWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	o, n := &p.out[w.s], len(b)
	added := false
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if room := maxBytes - len(o.partial); room > 0 { // an overlong line is cut
				o.partial = append(o.partial, b[:min(len(b), room)]...)
			}
			break
		}
		o.add(string(append(o.partial, b[:i]...)))
		o.partial, b, added = o.partial[:0], b[i+1:], true
	}
	if added {
		close(p.changed)
		p.changed = make(chan struct{})
	}
	return n, nil
}

// add appends a line, without its \r as bufio.ScanLines drops it, and
// forgets the oldest beyond the bounds. Lines kept are never written
// again, so a reader may use a slice of them without the lock.
func (o *output) add(l string) {
	l = strings.TrimSuffix(l, "\r")
	o.lines = append(o.lines, l)
	o.n++
	o.bytes += len(l)
	for len(o.lines) > 1 && (len(o.lines) > maxLines || o.bytes > maxBytes) {
		o.bytes -= len(o.lines[0])
		o.lines = o.lines[1:]
	}
}

// Lines returns the lines of s kept so far (all of them unless Dropped).
func (p *Proc) Lines(s Stream) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.out[s].lines...)
}

// Text returns Lines joined by newlines.
func (p *Proc) Text(s Stream) string { return strings.Join(p.Lines(s), "\n") }

// Dropped is how many of the first lines of s are no longer kept.
func (p *Proc) Dropped(s Stream) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out[s].n - len(p.out[s].lines)
}

// Find waits up to d for a line of s that match accepts — among the
// lines kept so far, oldest first, then each new one as it arrives — and
// returns its number (0 for the process's first line) and text. A nil
// match accepts any line. ok is false if the process exits without one
// or d passes. match runs on the caller's goroutine.
func (p *Proc) Find(s Stream, d time.Duration, match func(n int, line string) bool) (n int, line string, ok bool) {
	_, n, line, ok = FindAny(d, s, []*Proc{p}, func(_, n int, line string) bool { return match == nil || match(n, line) })
	return n, line, ok
}

// FindAny is Find over several processes: it returns the index in procs
// of the first one found with a line that match accepts (called with
// that index), the line's number and the line. ok is false once every
// process has exited without one, or after d.
func FindAny(d time.Duration, s Stream, procs []*Proc, match func(i, n int, line string) bool) (i, n int, line string, ok bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	next := make([]int, len(procs)) // the number of the next line to look at, per process
	for {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)}}
		for i, p := range procs {
			p.mu.Lock()
			o := &p.out[s]
			first := o.n - len(o.lines)
			lines, exited, changed := o.lines[max(next[i]-first, 0):], p.exited, p.changed
			next[i] = o.n
			p.mu.Unlock()
			for j, l := range lines {
				if n := next[i] - len(lines) + j; match(i, n, l) {
					return i, n, l, true
				}
			}
			if !exited {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)})
			}
		}
		if len(cases) == 1 {
			return -1, -1, "", false
		}
		if c, _, _ := reflect.Select(cases); c == 0 {
			return -1, -1, "", false
		}
	}
}

// WaitLine waits up to d for a line of s containing sub and returns it;
// the test fails if there is none by then or the process exits without.
func (p *Proc) WaitLine(s Stream, d time.Duration, sub string) string {
	p.t.Helper()
	_, l, ok := p.Find(s, d, func(_ int, l string) bool { return strings.Contains(l, sub) })
	if !ok {
		p.fail("no %s line containing %q", s, sub, d)
	}
	return l
}

// WaitMatch waits up to d for a line of s matching re and returns its
// submatches; the test fails if there is none by then or the process
// exits without.
func (p *Proc) WaitMatch(s Stream, d time.Duration, re *regexp.Regexp) []string {
	p.t.Helper()
	var m []string
	if _, _, ok := p.Find(s, d, func(_ int, l string) bool { m = re.FindStringSubmatch(l); return m != nil }); !ok {
		p.fail("no %s line matching %s", s, re, d)
	}
	return m
}

func (p *Proc) fail(format string, s Stream, what any, d time.Duration) {
	p.t.Helper()
	why := fmt.Sprintf("within %v", d)
	p.mu.Lock()
	if p.exited {
		why = fmt.Sprintf("before it exited (%v)", p.Cmd.ProcessState)
	}
	p.mu.Unlock()
	p.t.Fatalf("%s: "+format+" %s; %s", p, s, what, why, p.Output())
}

// Output describes what the process printed (at most the last 100 lines
// of each stream), for failure messages.
func (p *Proc) Output() string {
	tail := func(s Stream) string {
		l := p.Lines(s)
		if k := len(l) + p.Dropped(s) - 100; k > 0 {
			return fmt.Sprintf("(%d lines before) %q", k, l[max(len(l)-100, 0):])
		}
		return fmt.Sprintf("%q", l)
	}
	return "stdout " + tail(Stdout) + ", stderr " + tail(Stderr)
}

// Exited is closed once the process has exited, been reaped and all its
// output is kept.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Wait waits up to d for the process to exit and returns its exit code
// (-1 if a signal ended it); the test fails if it does not exit by then.
func (p *Proc) Wait(d time.Duration) int {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		select {
		case <-p.done:
		default:
			p.t.Fatalf("%s did not exit within %v; %s", p, d, p.Output())
		}
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Send sends sig; the test fails if it cannot be sent (the process was
// reaped).
func (p *Proc) Send(sig os.Signal) {
	p.t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: sending %v: %v", p, sig, err)
	}
}

// Kill sends SIGKILL (kill -9), Stop SIGSTOP (the process freezes) and
// Cont SIGCONT (it resumes); none waits.
func (p *Proc) Kill() { p.t.Helper(); p.Send(syscall.SIGKILL) }
func (p *Proc) Stop() { p.t.Helper(); p.Send(syscall.SIGSTOP) }
func (p *Proc) Cont() { p.t.Helper(); p.Send(syscall.SIGCONT) }

// Signal ends the process as zktest.Proc.Signal does — it sends sig
// unless the process has exited, waits for the exit, and after timeout
// sends SIGKILL and waits again — and returns once its output is kept.
// It never fails the test.
func (p *Proc) Signal(sig syscall.Signal, timeout time.Duration) {
	p.Proc.Signal(sig, timeout)
	<-p.done
}
