// Package curatortest drives a real Apache Curator LeaderLatch (Java) from
// Go tests, to check interoperability with Curator-based participants.
//
// A small Java program (CuratorLatch.java, embedded) is compiled with javac
// on first use into a cache directory under os.TempDir and run as a child
// JVM per participant. The Go side sends line commands on its stdin and
// reads one "OK ..."/"ERR ..." line per command from its stdout.
//
// It needs java, javac, the ZooKeeper jars (see zktest) and the Curator
// jars (Debian package libcurator-recipes-java). When they are missing,
// Available and StartParticipant return an error wrapping
// zktest.ErrUnavailable and Start skips the test (fails it with CI=true).
package curatortest

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

//go:embed CuratorLatch.java
var latchSource []byte

const mainClass = "CuratorLatch"

// curatorJars are added to zktest's jar list (same syntax: "?" = optional).
var curatorJars = []string{
	"curator-client.jar",
	"curator-framework.jar",
	"curator-recipes.jar",
	"guava.jar",
	"failureaccess.jar?", // Debian's guava.jar already bundles it
}

const (
	startTimeout = 60 * time.Second
	quitTimeout  = 5 * time.Second
)

// Classpath returns the class path for Curator: the ZooKeeper jars plus the
// Curator and Guava jars.
func Classpath() (string, error) {
	return zktest.Classpath(curatorJars...)
}

// Available returns nil if java, javac and all jars exist, otherwise an
// error wrapping zktest.ErrUnavailable.
func Available() error {
	if _, err := zktest.Java(); err != nil {
		return err
	}
	if _, err := zktest.JavaTool("javac"); err != nil {
		return err
	}
	_, err := Classpath()
	return err
}

var compiled struct {
	once sync.Once
	dir  string
	err  error
}

// compile compiles CuratorLatch.java once per process into a directory
// under os.TempDir named after a hash of the source, javac and class path,
// so later test runs reuse it.
func compile() (string, error) {
	compiled.once.Do(func() {
		compiled.dir, compiled.err = doCompile()
	})
	return compiled.dir, compiled.err
}

func doCompile() (string, error) {
	javac, err := zktest.JavaTool("javac")
	if err != nil {
		return "", err
	}
	cp, err := Classpath()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(latchSource)
	fmt.Fprintf(h, "\x00%s\x00%s", javac, cp)
	final := filepath.Join(os.TempDir(), "curatortest-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(final, mainClass+".class")); err == nil {
		return final, nil
	}
	tmp, err := os.MkdirTemp("", "curatortest-build-")
	if err != nil {
		return "", fmt.Errorf("curatortest: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	src := filepath.Join(tmp, mainClass+".java")
	if err := os.WriteFile(src, latchSource, 0o644); err != nil {
		return "", fmt.Errorf("curatortest: %w", err)
	}
	out, err := exec.Command(javac, "-nowarn", "-encoding", "UTF-8", "-cp", cp, "-d", tmp, src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("curatortest: javac: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another process may have won the race; use its result.
		if _, serr := os.Stat(filepath.Join(final, mainClass+".class")); serr == nil {
			return final, nil
		}
		return "", fmt.Errorf("curatortest: %w", err)
	}
	return final, nil
}

// Participant is a running Java process holding a Curator client and
// (after Join) a LeaderLatch.
type Participant struct {
	id     string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string   // protocol lines from stdout
	quit   chan struct{} // closed by Close; the reader then discards lines
	done   chan struct{} // closed when the process has been reaped
	stderr *tailBuffer

	mu   sync.Mutex // serializes commands
	skip int        // answers still owed to commands abandoned on ctx end

	closeOnce sync.Once
}

// Start starts a participant for a test (see StartParticipant) and kills it
// in t.Cleanup. If Curator is unavailable it skips the test, or fails it
// when the environment has CI=true.
func Start(t testing.TB, connect, latchPath, id string) *Participant {
	t.Helper()
	p, err := StartParticipant(context.Background(), connect, latchPath, id)
	if err != nil {
		zktest.SkipOrFatal(t, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// StartParticipant starts the Java program with a Curator client connected
// to connect, for the latch at latchPath with participant id, and waits
// until the client is connected. If ctx has no deadline a 60s timeout
// applies. The caller must Close the participant.
func StartParticipant(ctx context.Context, connect, latchPath, id string) (*Participant, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	java, err := zktest.Java()
	if err != nil {
		return nil, err
	}
	cp, err := Classpath()
	if err != nil {
		return nil, err
	}
	classes, err := compile()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	cmd := exec.Command(java,
		"-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
		"-XX:-UsePerfData", "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", classes+string(os.PathListSeparator)+cp,
		mainClass, connect, latchPath, id)
	cmd.SysProcAttr = zktest.ProcAttr()
	p := &Participant{
		id:     id,
		cmd:    cmd,
		lines:  make(chan string),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		stderr: &tailBuffer{max: 8192},
	}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("curatortest: %w", err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("curatortest: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("curatortest: starting java: %w", err)
	}
	go p.readLoop(stdout)

	line, err := p.recv(ctx)
	if err == nil && line != "READY" {
		err = fmt.Errorf("curatortest: participant %q: unexpected first line %q; stderr:\n%s", id, line, p.stderr)
	}
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// readLoop forwards protocol lines until EOF, then reaps the process.
func (p *Participant) readLoop(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if line != "READY" && line != "OK" && !strings.HasPrefix(line, "OK ") && !strings.HasPrefix(line, "ERR") {
			_, _ = p.stderr.Write([]byte("stdout: " + line + "\n"))
			continue
		}
		select {
		case p.lines <- line:
		case <-p.quit:
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	_ = p.cmd.Wait()
	close(p.done)
}

// recv returns the next protocol line.
func (p *Participant) recv(ctx context.Context) (string, error) {
	select {
	case line := <-p.lines:
		return line, nil
	case <-p.done:
		return "", fmt.Errorf("curatortest: participant %q exited (%v); stderr:\n%s", p.id, p.cmd.ProcessState, p.stderr)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// command sends one command line and returns the text after "OK ".
func (p *Participant) command(ctx context.Context, cmd string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.quit:
		return "", fmt.Errorf("curatortest: participant %q is closed", p.id)
	default:
	}
	for p.skip > 0 {
		if _, err := p.recv(ctx); err != nil {
			return "", err
		}
		p.skip--
	}
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		return "", fmt.Errorf("curatortest: participant %q: writing %q: %w", p.id, cmd, err)
	}
	line, err := p.recv(ctx)
	if err != nil {
		if ctx.Err() != nil {
			p.skip++
		}
		return "", err
	}
	switch {
	case line == "OK":
		return "", nil
	case strings.HasPrefix(line, "OK "):
		return line[len("OK "):], nil
	default:
		return "", fmt.Errorf("curatortest: participant %q: %s: %s", p.id, cmd, line)
	}
}

// ID returns the participant id.
func (p *Participant) ID() string { return p.id }

// Join creates and starts the LeaderLatch.
func (p *Participant) Join(ctx context.Context) error {
	_, err := p.command(ctx, "join")
	return err
}

// Leader returns the id of the current leader of the latch ("" if there is
// none), as Curator's LeaderLatch.getLeader() sees it. It works without
// having joined.
func (p *Participant) Leader(ctx context.Context) (string, error) {
	return p.command(ctx, "leader")
}

// IsLeader reports LeaderLatch.hasLeadership() (false if not joined).
func (p *Participant) IsLeader(ctx context.Context) (bool, error) {
	s, err := p.command(ctx, "isleader")
	if err != nil {
		return false, err
	}
	return strconv.ParseBool(s)
}

// AwaitLeadership blocks until the participant holds leadership (true) or
// timeout passes (false). ctx bounds the whole call and should outlast
// timeout.
func (p *Participant) AwaitLeadership(ctx context.Context, timeout time.Duration) (bool, error) {
	s, err := p.command(ctx, "await "+strconv.FormatInt(timeout.Milliseconds(), 10))
	if err != nil {
		return false, err
	}
	return strconv.ParseBool(s)
}

// Leave closes the LeaderLatch (giving up leadership); the Curator client
// stays connected.
func (p *Participant) Leave(ctx context.Context) error {
	_, err := p.command(ctx, "leave")
	return err
}

// Close asks the program to quit, killing it if it has not exited after 5s,
// and waits for it. It is idempotent.
func (p *Participant) Close() error {
	p.closeOnce.Do(func() {
		close(p.quit)
		_, _ = io.WriteString(p.stdin, "quit\n")
		_ = p.stdin.Close()
		t := time.NewTimer(quitTimeout)
		defer t.Stop()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
	})
	return nil
}

// Kill kills the JVM immediately (SIGKILL), without closing the latch or the
// ZooKeeper session cleanly; the session then expires on the server. It is
// idempotent and makes Close a no-op.
func (p *Participant) Kill() error {
	p.closeOnce.Do(func() {
		close(p.quit)
		if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
			_ = p.cmd.Process.Kill()
		}
		_ = p.stdin.Close()
		<-p.done
	})
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
