package zktest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func connect(t *testing.T, servers []string) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect(servers, 5*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// eventually retries f until it succeeds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSingleNode(t *testing.T) {
	c := Start(t, 1)
	if got := len(c.Nodes()); got != 1 {
		t.Fatalf("Nodes() = %d nodes, want 1", got)
	}
	n := c.Nodes()[0]
	if n.ID() != 1 || n.Addr() != c.ConnectString() || !n.Running() {
		t.Fatalf("node: id=%d addr=%s connect=%s running=%v", n.ID(), n.Addr(), c.ConnectString(), n.Running())
	}
	ctx := context.Background()
	if mode, err := n.Mode(ctx); err != nil || mode != "standalone" {
		t.Fatalf("Mode() = %q, %v; want standalone", mode, err)
	}

	conn := connect(t, c.Servers())
	if _, err := conn.Create("/zktest", []byte("hello"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	data, _, err := conn.Get("/zktest")
	if err != nil || string(data) != "hello" {
		t.Fatalf("Get = %q, %v", data, err)
	}

	// Graceful stop, restart on the same port with the same data.
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if n.Running() {
		t.Fatal("node still running after Stop")
	}
	if _, err := n.Mode(ctx); err == nil {
		t.Fatal("stopped node still answers srvr")
	}
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "get after restart", func() error {
		data, _, err := conn.Get("/zktest")
		if err == nil && string(data) != "hello" {
			t.Fatalf("data after restart = %q", data)
		}
		return err
	})

	// Close is idempotent and kills the node.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n.Running() {
		t.Fatal("node running after Close")
	}
}

func TestEnsemble(t *testing.T) {
	c := Start(t, 3)
	ctx := context.Background()
	nodes := c.Nodes()
	if len(nodes) != 3 {
		t.Fatalf("Nodes() = %d nodes, want 3", len(nodes))
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader is node %d", leader.ID())

	conn := connect(t, c.Servers())
	acl := zk.WorldACL(zk.PermAll)
	if _, err := conn.Create("/e", []byte("1"), 0, acl); err != nil {
		t.Fatal(err)
	}

	// Kill the leader: the remaining two elect a new one and stay writable.
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	if leader.Running() {
		t.Fatal("killed node still running")
	}
	eventually(t, 30*time.Second, "write with one node killed", func() error {
		_, err := conn.Set("/e", []byte("2"), -1)
		return err
	})
	if err := leader.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The restarted node serves and has caught up.
	single := connect(t, []string{leader.Addr()})
	eventually(t, 20*time.Second, "read from restarted node", func() error {
		if _, err := single.Sync("/e"); err != nil {
			return err
		}
		data, _, err := single.Get("/e")
		if err == nil && string(data) != "2" {
			return errors.New("stale data " + string(data))
		}
		return err
	})

	// Graceful stop of another node, write, restart.
	other := nodes[0]
	if other == leader {
		other = nodes[1]
	}
	if err := other.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "write with one node stopped", func() error {
		_, err := conn.Set("/e", []byte("3"), -1)
		return err
	})
	if err := other.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if mode, err := n.Mode(ctx); err != nil || (mode != "leader" && mode != "follower") {
			t.Fatalf("node %d: Mode() = %q, %v", n.ID(), mode, err)
		}
	}
}

func TestShared(t *testing.T) {
	a := Shared(t)
	b := Shared(t)
	if a != b {
		t.Fatal("Shared returned different clusters")
	}
	conn := connect(t, a.Servers())
	if _, err := conn.Create("/shared-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
}

func TestMissingJars(t *testing.T) {
	t.Setenv("ZK_JARS_DIR", t.TempDir())
	if err := Available(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Available() = %v, want ErrUnavailable", err)
	}
	if _, err := StartCluster(context.Background(), Config{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("StartCluster() = %v, want ErrUnavailable", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}
