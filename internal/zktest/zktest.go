// Package zktest starts real Apache ZooKeeper servers (single nodes or
// ensembles) as child JVM processes, for tests and demo programs.
//
// It needs java and the ZooKeeper jars (Debian package "zookeeper", jars in
// /usr/share/java or $ZK_JARS_DIR). When they are missing StartCluster
// returns an error wrapping ErrUnavailable, and the test helpers Start and
// Shared skip the test — unless the environment has CI=true, in which case
// they fail it.
//
// Every server runs in its own process group with SIGKILL as parent-death
// signal, listens on free loopback ports only and keeps its data in a
// temporary directory removed by Cluster.Close.
package zktest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults.
const (
	DefaultTickTime     = 250 * time.Millisecond
	DefaultStartTimeout = 60 * time.Second
	stopTimeout         = 10 * time.Second
	pollInterval        = 50 * time.Millisecond
	startAttempts       = 3
)

// Config for StartCluster. Zero values pick defaults.
type Config struct {
	// Nodes is the number of servers: 1 (default, standalone) or more
	// (an ensemble; use an odd number such as 3).
	Nodes int
	// TickTime is ZooKeeper's tick (default 250ms). The server accepts
	// session timeouts from 2*TickTime up to max(20*TickTime, 60s).
	TickTime time.Duration
	// Logf, if set, receives progress messages (node starts, stops, ...).
	// It is only called synchronously from the methods of this package.
	Logf func(format string, args ...any)
	// TLS, if set, makes every server listen on a secure client port
	// (ZooKeeper's secureClientPort, Netty connection factory) and, unless
	// TLS.Plain is set, on no plain client port at all. See TLS.
	TLS *TLS
}

// Cluster is a running set of ZooKeeper servers.
type Cluster struct {
	cfg   Config
	dir   string
	java  string
	cp    string
	nodes []*Node

	probeTLS *tls.Config // verifies the servers in TLS-only probes

	closeOnce sync.Once
	closeErr  error
}

// Node is one ZooKeeper server of a Cluster.
type Node struct {
	c            *Cluster
	id           int
	clientPort   int // 0 in a TLS-only cluster
	securePort   int // 0 without TLS
	peerPort     int
	electionPort int
	dir          string // holds zoo.cfg, server.log and data/

	mu   sync.Mutex
	proc *process // nil before the first start
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	err  error         // cmd.Wait result, valid after done is closed
}

// errExited marks a server that exited before it served; StartCluster
// retries with fresh ports in that case (it is usually a port collision).
var errExited = errors.New("zookeeper server exited")

// StartCluster starts cfg.Nodes ZooKeeper servers on free loopback ports and
// waits until they serve. If ctx has no deadline, DefaultStartTimeout
// applies. It returns an error wrapping ErrUnavailable when java or the jars
// are missing. The caller must Close the cluster.
func StartCluster(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 1
	}
	if cfg.TickTime <= 0 {
		cfg.TickTime = DefaultTickTime
	}
	java, err := Java()
	if err != nil {
		return nil, err
	}
	cp, err := Classpath()
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		c := &Cluster{cfg: cfg, java: java, cp: cp}
		err := c.start(ctx)
		if err == nil {
			return c, nil
		}
		_ = c.Close()
		lastErr = err
		if ctx.Err() != nil || !errors.Is(err, errExited) {
			break
		}
		c.logf("zktest: start attempt %d failed, retrying with new ports: %v", attempt, err)
	}
	return nil, lastErr
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultStartTimeout)
}

func (c *Cluster) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}

func (c *Cluster) start(ctx context.Context) error {
	begin := time.Now()
	dir, err := os.MkdirTemp("", "zktest-")
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	c.dir = dir
	if err := c.checkTLS(); err != nil {
		return err
	}
	ports, err := freePorts(4 * c.cfg.Nodes)
	if err != nil {
		return fmt.Errorf("zktest: picking free ports: %w", err)
	}
	for i := 0; i < c.cfg.Nodes; i++ {
		n := &Node{
			c:            c,
			id:           i + 1,
			clientPort:   ports[4*i],
			peerPort:     ports[4*i+1],
			electionPort: ports[4*i+2],
			dir:          filepath.Join(dir, "node"+strconv.Itoa(i+1)),
		}
		if c.cfg.TLS != nil {
			n.securePort = ports[4*i+3]
			if !c.cfg.TLS.Plain {
				n.clientPort = 0
			}
		}
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		if err := n.writeConfig(); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if err := n.spawn(); err != nil {
			return err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		return err
	}
	c.logf("zktest: %d-node cluster %s ready in %v", len(c.nodes), c.ConnectString(), time.Since(begin).Round(time.Millisecond))
	return nil
}

// freePorts returns n distinct free loopback TCP ports.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (n *Node) writeConfig() error {
	c := n.c
	dataDir := filepath.Join(n.dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	tick := c.cfg.TickTime.Milliseconds()
	if tick < 1 {
		tick = 1
	}
	maxSession := 20 * tick
	if maxSession < 60000 {
		maxSession = 60000
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tickTime=%d\n", tick)
	b.WriteString("initLimit=10\nsyncLimit=5\n")
	fmt.Fprintf(&b, "dataDir=%s\n", dataDir)
	if n.clientPort != 0 {
		fmt.Fprintf(&b, "clientPort=%d\n", n.clientPort)
		b.WriteString("clientPortAddress=127.0.0.1\n")
	}
	if err := n.writeTLSConfig(&b); err != nil {
		return err
	}
	b.WriteString("admin.enableServer=false\n")
	b.WriteString("4lw.commands.whitelist=*\n")
	fmt.Fprintf(&b, "minSessionTimeout=%d\n", 2*tick)
	fmt.Fprintf(&b, "maxSessionTimeout=%d\n", maxSession)
	b.WriteString("maxClientCnxns=0\n")
	// Test data is throw-away: skip fsync and keep preallocation small.
	b.WriteString("forceSync=no\npreAllocSize=1024\n")
	if len(c.nodes) > 1 {
		for _, m := range c.nodes {
			fmt.Fprintf(&b, "server.%d=127.0.0.1:%d:%d\n", m.id, m.peerPort, m.electionPort)
		}
		if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte(strconv.Itoa(n.id)+"\n"), 0o644); err != nil {
			return fmt.Errorf("zktest: %w", err)
		}
	}
	if err := os.WriteFile(n.configPath(), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	return nil
}

func (n *Node) configPath() string { return filepath.Join(n.dir, "zoo.cfg") }

// LogPath returns the file receiving the server's stdout and stderr.
func (n *Node) LogPath() string { return filepath.Join(n.dir, "server.log") }

// spawn starts the JVM without waiting for it to serve.
func (n *Node) spawn() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.proc.exited() {
		return fmt.Errorf("zktest: node %d is already running", n.id)
	}
	logFile, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	defer logFile.Close() // the child has its own copy after Start
	fmt.Fprintf(logFile, "=== zktest: starting node %d at %s\n", n.id, time.Now().Format(time.RFC3339Nano))
	level := os.Getenv("ZKTEST_LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	cmd := exec.Command(n.c.java,
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
		"-XX:-UsePerfData", "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel="+level,
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", n.c.cp,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", n.configPath())
	cmd.Dir = n.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = ProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("zktest: starting node %d: %w", n.id, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.proc = p
	n.c.logf("zktest: node %d started (pid %d, client %s)", n.id, cmd.Process.Pid, n.Addr())
	return nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process group and waits for the process to be
// reaped, at most timeout (<= 0: forever).
func (p *process) signal(sig syscall.Signal, timeout time.Duration) bool {
	if p.exited() {
		return true
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		_ = p.cmd.Process.Signal(sig)
	}
	if timeout <= 0 {
		<-p.done
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// ConnectString returns the client addresses of all nodes,
// "127.0.0.1:p1,127.0.0.1:p2,..." (see Node.Addr: in a TLS-only cluster,
// the secure ones).
func (c *Cluster) ConnectString() string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return strings.Join(addrs, ",")
}

// Servers returns the client addresses of all nodes (see Node.Addr).
func (c *Cluster) Servers() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the servers, ordered by ID (1..n).
func (c *Cluster) Nodes() []*Node {
	return append([]*Node(nil), c.nodes...)
}

// Node returns the server with the given ID (1-based), or nil.
func (c *Cluster) Node(id int) *Node {
	if id < 1 || id > len(c.nodes) {
		return nil
	}
	return c.nodes[id-1]
}

// WaitReady waits until every running node serves (answers "srvr" with
// "Mode:"), i.e. the ensemble has a quorum and all running members have
// joined it. It fails early if a node exits.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		if err := n.waitServing(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Leader returns the node that currently reports "Mode: leader" (or
// "standalone"), or an error if none does.
func (c *Cluster) Leader(ctx context.Context) (*Node, error) {
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		mode, err := n.Mode(ctx)
		if err == nil && (mode == "leader" || mode == "standalone") {
			return n, nil
		}
	}
	return nil, errors.New("zktest: no node reports being leader")
}

// Close kills all nodes and removes the temporary directories. It is
// idempotent.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		for _, n := range c.nodes {
			_ = n.Kill()
		}
		if c.dir != "" {
			c.closeErr = os.RemoveAll(c.dir)
		}
		if len(c.nodes) > 0 {
			c.logf("zktest: cluster %s closed", c.ConnectString())
		}
	})
	return c.closeErr
}

// ID returns the server ID (1-based; the myid of ensemble members).
func (n *Node) ID() int { return n.id }

// Addr returns the client address "127.0.0.1:port": the plain client
// port's, or in a TLS-only cluster (Config.TLS without Plain) the secure
// port's, the only one the server has.
func (n *Node) Addr() string {
	if n.clientPort == 0 {
		return n.SecureAddr()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.clientPort))
}

// ClientPort returns the plain client port (0 in a TLS-only cluster).
func (n *Node) ClientPort() int { return n.clientPort }

// Running reports whether the server process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

func (n *Node) current() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Stop stops the server gracefully: SIGTERM, then SIGKILL if it has not
// exited after 10s. It waits for the process to exit. Stopping a node that
// is not running is a no-op.
func (n *Node) Stop() error {
	p := n.current()
	if p == nil || p.exited() {
		return nil
	}
	if !p.signal(syscall.SIGTERM, stopTimeout) {
		n.c.logf("zktest: node %d ignored SIGTERM for %v, killing it", n.id, stopTimeout)
		p.signal(syscall.SIGKILL, 0)
	}
	n.c.logf("zktest: node %d stopped", n.id)
	return nil
}

// Kill kills the server with SIGKILL and waits for the process to exit.
// Killing a node that is not running is a no-op.
func (n *Node) Kill() error {
	p := n.current()
	if p == nil || p.exited() {
		return nil
	}
	p.signal(syscall.SIGKILL, 0)
	n.c.logf("zktest: node %d killed", n.id)
	return nil
}

// Restart starts a stopped or killed node again, on the same ports and with
// the same data directory, and waits until it serves (answers "srvr" with
// "Mode:"; for an ensemble member that means it has rejoined the quorum).
// If ctx has no deadline, DefaultStartTimeout applies.
func (n *Node) Restart(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	begin := time.Now()
	if err := n.spawn(); err != nil {
		return err
	}
	if err := n.waitServing(ctx); err != nil {
		return err
	}
	n.c.logf("zktest: node %d serving again after %v", n.id, time.Since(begin).Round(time.Millisecond))
	return nil
}

// Mode returns the server's mode as reported by "srvr": "standalone",
// "leader" or "follower". It fails if the server does not serve.
func (n *Node) Mode(ctx context.Context) (string, error) {
	out, err := n.fourLetterWord(ctx, "srvr")
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if mode, ok := strings.CutPrefix(sc.Text(), "Mode:"); ok {
			return strings.TrimSpace(mode), nil
		}
	}
	return "", fmt.Errorf("zktest: node %d not serving: %q", n.id, strings.TrimSpace(out))
}

// waitServing polls "srvr" until the node reports a Mode, the process exits
// or ctx ends.
func (n *Node) waitServing(ctx context.Context) error {
	p := n.current()
	if p == nil {
		return fmt.Errorf("zktest: node %d was never started", n.id)
	}
	var lastErr error
	for {
		if p.exited() {
			return fmt.Errorf("zktest: node %d: %w before serving (%v); log tail:\n%s", n.id, errExited, p.err, n.logTail())
		}
		_, err := n.Mode(ctx)
		if err == nil {
			return nil
		}
		lastErr = err
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("zktest: node %d not serving: %w (last probe: %v); log tail:\n%s", n.id, ctx.Err(), lastErr, n.logTail())
		case <-p.done:
			t.Stop()
		case <-t.C:
		}
	}
}

func (n *Node) logTail() string {
	const max = 4096
	f, err := os.Open(n.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// FourLetterWord sends a ZooKeeper four-letter command (e.g. "srvr", "ruok")
// to addr and returns the whole answer.
func FourLetterWord(ctx context.Context, addr, cmd string) (string, error) {
	return fourLetterWord(ctx, addr, cmd, nil)
}

// fourLetterWord is FourLetterWord, over TLS when tc is not nil.
func fourLetterWord(ctx context.Context, addr, cmd string, tc *tls.Config) (string, error) {
	deadline := time.Now().Add(2 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var conn net.Conn
	var err error
	if tc != nil {
		d := tls.Dialer{Config: tc}
		conn, err = d.DialContext(dctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, cmd); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return string(b), err
	}
	return string(b), nil
}
