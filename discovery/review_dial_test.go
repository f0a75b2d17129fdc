package discovery

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/internal/zktest"
)

// slowProxy forwards to target, holding the server's first bytes (the
// connect response) for delay: a healthy but slow server (a session
// creation waiting on a slow quorum fsync, a far TLS hop).
func slowProxy(t *testing.T, target string, delay time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				time.Sleep(delay)
				io.Copy(c, s)
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func TestSlowHandshakeStillConnects(t *testing.T) {
	zkc := zktest.Shared(t)
	addr := slowProxy(t, zkc.ConnectString(), 1300*time.Millisecond)

	// Control: plain go-zookeeper through the same proxy.
	conn, ev, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	ok := false
	deadline := time.After(8 * time.Second)
wait:
	for {
		select {
		case e := <-ev:
			if e.State == zk.StateHasSession {
				ok = true
				break wait
			}
		case <-deadline:
			break wait
		}
	}
	conn.Close()
	t.Logf("plain go-zookeeper through a 1.3s-slow server: session=%v", ok)

	cs, _ := ParseConnectString(addr)
	sess, err := dialSession(cs, sessionConfig{timeout: 10 * time.Second, log: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	end := time.Now().Add(8 * time.Second)
	for time.Now().Before(end) && sess.State() != zk.StateHasSession {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("dialSession through the same server after 8s: state=%v", sess.State())
	if sess.State() != zk.StateHasSession {
		t.Errorf("a server answering the handshake in 1.3s is never usable")
	}
}
