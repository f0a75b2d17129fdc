package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	res, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m
}

func state(t *testing.T, url string) string {
	t.Helper()
	res, err := client.Get(url + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	s, _ := m["state"].(string)
	return s
}

// failover waits until the livy-conf resolver names a leader other than
// old whose REST server answers 200, and returns it with the time since
// from.
func failover(t *testing.T, res *discovery.Resolver, old string, from time.Time, limit time.Duration) (string, time.Duration) {
	t.Helper()
	for time.Since(from) < limit {
		if l, ok := res.Snapshot().Leader(); ok && l.URL != old {
			if r, err := client.Get(l.URL + "/version"); err == nil {
				r.Body.Close()
				if r.StatusCode == http.StatusOK {
					return l.URL, time.Since(from)
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no new active within %s", limit)
	return "", 0
}

// Three PR #212 livy-sim processes; the first writes the livy.conf, the
// others read it; discovery's PR #212 source follows the active through
// it across a kill -9 and a SIGTERM, each of which takes the ZooKeeper
// session timeout (PR #212 keeps its latch on SIGTERM) plus the restart.
func TestPR212Processes(t *testing.T) {
	zkc := zktest.Shared(t)
	hosts := []string{"127.0.0.31", "127.0.0.32", "127.0.0.33"}
	port := testutil.FreePortOn(t, hosts...)
	conf := filepath.Join(t.TempDir(), "livy.conf")
	sessionTimeout := 2 * time.Second
	if v := os.Getenv("LIVYSIM_PR212_SESSION_TIMEOUT"); v != "" { // to measure PR #212's real 40-60s
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		sessionTimeout = d
	}
	common := []string{"--profile", "pr212", "--zk", zkc.ConnectString(), "--root", testRoot(t), "--livy-conf", conf,
		"--ha-server-ids", "a,b,c", "--ha-server-hostnames", strings.Join(hosts, ","), "--ha-key-prefix", "sim_" + strconv.Itoa(port),
		"--session-timeout", sessionTimeout.String(), "--step", "40ms", "--restart-window", "200ms"}
	listen := func(i int) []string {
		return append([]string{"--listen", net.JoinHostPort(hosts[i], strconv.Itoa(port))}, common...)
	}
	a := start(t, listen(0)...)
	waitActive(t, a, 10*time.Second)
	// The others read the file a wrote (no cluster flags needed).
	b := start(t, "--profile", "pr212", "--livy-conf", conf, "--ha-id", "b", "--step", "40ms",
		"--session-timeout", sessionTimeout.String(), "--restart-window", "200ms")
	c := start(t, listen(2)...)
	if code, loc := version(t, b.url); code != http.StatusTemporaryRedirect || loc != a.url+"/version" {
		t.Fatalf("passive b: %d %q", code, loc)
	}
	lc, err := layout.ReadLivyConf(conf)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := layout.PR212ConfigFrom(lc)
	if err != nil || pc.Port != port || pc.Hosts["c"] != hosts[2] || lc["livy.server.recovery.mode"] != "recovery" {
		t.Fatalf("livy.conf written: %v (%v)", lc, err)
	}

	res, err := discovery.NewResolver("livy-conf://" + conf)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if act, err := res.Active(ctx); err != nil || act.URL != a.url {
		t.Fatalf("livy-conf resolver: %+v, %v; want %s", act, err, a.url)
	}
	if code, _ := post(t, a.url+"/sessions", `{"kind":"spark","name":"repl"}`); code != http.StatusCreated {
		t.Fatalf("create session: %d", code)
	}
	for st := ""; st != "idle"; st = state(t, a.url+"/sessions/0") {
		time.Sleep(10 * time.Millisecond)
	}

	// kill -9 of the active.
	killed := time.Now()
	a.Kill()
	next, took := failover(t, res, a.url, killed, sessionTimeout+15*time.Second)
	t.Logf("PR #212 failover after kill -9: %s (ZooKeeper session timeout %s, restart window 200ms)", took, sessionTimeout)
	// The killed server's last ping came up to a third of the session
	// timeout before the kill, so its session expires that much earlier.
	if took < sessionTimeout/2 {
		t.Fatalf("failover after %s, before the killed server's %s session could expire", took, sessionTimeout)
	}
	if st := state(t, next+"/sessions/0"); st != "recovering" && st != "idle" {
		t.Fatalf("recovered session %s", st)
	}
	if code, _ := post(t, next+"/sessions/0/statements", `{"code":"1+1"}`); code != http.StatusCreated && code != http.StatusInternalServerError {
		t.Fatalf("statement on the recovered session: %d", code)
	}

	// SIGTERM of the new active: it exits at once, its latch stays.
	p := b
	if next == c.url {
		p = c
	}
	termed := time.Now()
	p.Send(syscall.SIGTERM)
	if code := p.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr %q", code, p.Text(testutil.Stderr))
	}
	last, took2 := failover(t, res, next, termed, sessionTimeout+15*time.Second)
	t.Logf("PR #212 failover after SIGTERM: %s (ZooKeeper session timeout %s)", took2, sessionTimeout)
	if took2 < sessionTimeout/2 {
		t.Fatalf("failover after SIGTERM took %s: the latch was released", took2)
	}
	recovered := time.Now()
	for st := ""; st != "idle"; st = state(t, last+"/sessions/repl") {
		if time.Since(recovered) > 30*time.Second {
			t.Fatalf("session on the last server: %s", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	survivor := c
	if last == b.url {
		survivor = b
	}
	if !strings.Contains(survivor.Text(testutil.Stderr), "holds the latch") {
		t.Fatalf("no latch line on stderr: %q", survivor.Text(testutil.Stderr))
	}
}

func TestPR212Usage(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.conf")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--profile", "livy-0.6", "--zk", "127.0.0.1:1"}, exitUsage},
		// No --livy-conf.
		{[]string{"--profile", "pr212", "--zk", "127.0.0.1:1"}, exitUsage},
		// --livy-conf needs pr212.
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--livy-conf", missing}, exitUsage},
		// A missing file and no cluster flags to write it.
		{[]string{"--profile", "pr212", "--zk", "127.0.0.1:1", "--livy-conf", missing}, exitUsage},
		// Writing it needs a fixed port.
		{[]string{"--profile", "pr212", "--zk", "127.0.0.1:1", "--livy-conf", missing,
			"--ha-server-ids", "a", "--ha-server-hostnames", "127.0.0.1", "--listen", "127.0.0.1:0"}, exitUsage},
		// Modes are the livyha profile's.
		{[]string{"--profile", "livy-0.8", "--zk", "127.0.0.1:1", "--mode", "multi-active"}, exitUsage},
		// No --id needed outside the livyha profile.
		{[]string{"--profile", "stock", "--zk", "127.0.0.1:1", "--register-timeout", "300ms"}, exitUnavailable},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errb); code != tc.code {
			t.Errorf("%q: exit %d, want %d; stderr %q", tc.args, code, tc.code, errb.String())
		}
	}
}
