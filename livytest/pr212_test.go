package livytest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livytest"
)

// commonPort returns a TCP port free on every host (PR #212 servers all
// listen on livy.server.port, each on its own host).
func commonPort(t *testing.T, hosts ...string) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(hosts[0], "0"))
		if err != nil {
			t.Skipf("cannot listen on %s: %v", hosts[0], err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ok := true
		var lns []net.Listener
		for _, h := range hosts[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, l)
		}
		for _, l := range lns {
			_ = l.Close()
		}
		_ = ln.Close()
		if ok {
			return port
		}
	}
	t.Fatal("no port free on all hosts")
	return 0
}

var pr212Seq int

// pr212Cluster is a PR #212 cluster's livy.conf (also written to a file).
type pr212Cluster struct {
	conf     layout.LivyConf
	path     string // the livy.conf file
	ids      []string
	hosts    []string
	port     int
	prefix   string // latch key prefix
	zkc      *zktest.Cluster
	stateDir string
}

func newPR212Cluster(t *testing.T, n int) *pr212Cluster {
	t.Helper()
	zkc := zktest.Shared(t)
	pr212Seq++
	c := &pr212Cluster{zkc: zkc, prefix: fmt.Sprintf("pr212-%d-%s", pr212Seq, strings.ReplaceAll(t.Name(), "/", "-")),
		stateDir: strings.TrimPrefix(testRoot(t), "/")}
	for i := range n {
		c.ids = append(c.ids, "livy-"+string(rune('a'+i)))
		c.hosts = append(c.hosts, fmt.Sprintf("127.0.0.%d", 21+i))
	}
	c.port = commonPort(t, c.hosts...)
	c.conf = livytest.PR212LivyConf(livytest.PR212Cluster{ZK: zkc.ConnectString(), IDs: c.ids, Hosts: c.hosts,
		Port: c.port, KeyPrefix: c.prefix, StatePrefix: c.stateDir})
	data, err := c.conf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c.path = filepath.Join(t.TempDir(), "livy.conf")
	if err := os.WriteFile(c.path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *pr212Cluster) url(i int) string { return fmt.Sprintf("http://%s:%d", c.hosts[i], c.port) }

func (c *pr212Cluster) start(t *testing.T, i int, cfg livytest.Config) *livytest.Server {
	t.Helper()
	cfg.Profile, cfg.LivyConf, cfg.HAID = livytest.ProfilePR212, c.conf, c.ids[i]
	s := livytest.NewServer(t, cfg)
	if s.URL() != c.url(i) || s.HAID() != c.ids[i] {
		t.Fatalf("server %d: URL %s, id %s", i, s.URL(), s.HAID())
	}
	return s
}

// PR #212's ZooKeeper layout, filter order, 307 shape and the livy-conf
// discovery source.
func TestPR212Passive(t *testing.T) {
	cl := newPR212Cluster(t, 3)
	cfg := livytest.Config{SessionTimeout: time.Second, Step: 20 * time.Millisecond, CSRF: true,
		BasicAuth: &livytest.BasicAuth{User: "u", Password: "p"}}
	a := cl.start(t, 0, cfg)
	if !a.IsActive() || a.Restarts() != 1 {
		t.Fatalf("first server: active %v after %d restarts, want active after 1 (PR #212 restarts on winning)", a.IsActive(), a.Restarts())
	}
	b := cl.start(t, 1, cfg)
	cl.start(t, 2, cfg)
	if b.IsActive() {
		t.Fatal("second server is active")
	}

	// ZooKeeper: a Curator latch at /<key prefix>/leader holding the
	// string ids; no server records anywhere.
	conn := zkConn(t, cl.zkc)
	kids, _, err := conn.Children("/" + cl.prefix + "/leader")
	if err != nil || len(kids) != 3 {
		t.Fatalf("latch children %v, %v", kids, err)
	}
	ids := map[string]bool{}
	for _, k := range kids {
		if !strings.HasPrefix(k, "_c_") || !strings.Contains(k, "-latch-") {
			t.Fatalf("latch node %q is not Curator's", k)
		}
		d, _, err := conn.Get("/" + cl.prefix + "/leader/" + k)
		if err != nil {
			t.Fatal(err)
		}
		ids[string(d)] = true
	}
	if !ids["livy-a"] || !ids["livy-b"] || !ids["livy-c"] {
		t.Fatalf("latch data %v", ids)
	}
	if top, _, _ := conn.Children("/" + cl.stateDir); strings.Join(top, ",") != "" && strings.Join(top, ",") != "v1" {
		t.Fatalf("under the state prefix: %v", top)
	}
	if _, _, err := conn.Children("/livy/servers"); err == nil {
		// Shared ZooKeeper: other tests' canonical records may exist; ours must not.
		recs, _, _ := conn.Children("/livy/servers")
		for _, r := range recs {
			if strings.Contains(r, strconv.Itoa(cl.port)) {
				t.Fatalf("a server record %s", r)
			}
		}
	}

	// The filter comes after authentication and CSRF.
	c := noRedirect(t)
	const auth = "Basic dTpw"
	expect(t, do(t, c, "GET", b.URL()+"/batches", ""), 401)
	expect(t, do(t, c, "POST", b.URL()+"/batches", `{"file":"a.py"}`, "Authorization", auth), 400)
	for _, path := range []string{"/batches?from=0&size=5", "/sessions/na%20me/state", "/x//y", "/version", "/sessions?"} {
		r := do(t, c, "GET", b.URL()+path, "", "Authorization", auth)
		expect(t, r, http.StatusTemporaryRedirect)
		want := a.URL() + strings.ReplaceAll(strings.ReplaceAll(path, "%", "%25"), "//", "/")
		if loc := r.header.Get("Location"); loc != want {
			t.Fatalf("%s: Location %q, want %q (host swapped, port kept, path re-encoded, query appended)", path, loc, want)
		}
		if string(r.body) != "This is a standby Livy Instance. The redirect url is: "+want+"\n" {
			t.Fatalf("307 body %q", r.body)
		}
		if ct, ok := r.header["Content-Type"]; ok {
			t.Fatalf("307 with Content-Type %q; PR #212 sets none", ct)
		}
	}
	r := do(t, c, "POST", b.URL()+"/batches", `{"file":"a.py"}`, "Authorization", auth, "X-Requested-By", "t")
	expect(t, r, 307)
	// The Location keeps the passive's port and uses the leader's
	// configured hostname even when the request named the passive by
	// another name.
	req, _ := http.NewRequest("GET", b.URL()+"/batches", nil)
	req.Host = "localhost:" + strconv.Itoa(cl.port)
	req.Header.Set("Authorization", auth)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); loc != a.URL()+"/batches" {
		t.Fatalf("Location %q for Host localhost", loc)
	}

	// The active answers; the PR #212 REST surface is 0.7's.
	r = do(t, c, "GET", a.URL()+"/version", "", "Authorization", auth)
	if v := r.obj(t)["version"]; v != "0.8.0-incubating-SNAPSHOT" {
		t.Fatalf("version %v", v)
	}
	r = do(t, c, "POST", a.URL()+"/sessions", `{"kind":"spark","ttl":"1h"}`, "Authorization", auth, "X-Requested-By", "t")
	expect(t, r, 400)

	// discovery's PR #212 source finds the active through the livy.conf.
	res2, err := discovery.NewResolver("livy-conf://" + cl.path)
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	act, err := res2.Active(ctx)
	if err != nil || act.URL != a.URL() || act.Name != "livy-a" {
		t.Fatalf("livy-conf resolver: active %+v, %v; want %s", act, err, a.URL())
	}
}

// With no usable latch leader the filter throws: 500, Jetty's error page,
// never 503.
func TestPR212NoLeader(t *testing.T) {
	cl := newPR212Cluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A participant whose id is not in livy.server.ha.server-ids leads.
	rogue, err := discovery.JoinPR212Latch(ctx, cl.zkc.ConnectString(), cl.prefix, "rogue", discovery.WithSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b := cl.start(t, 1, livytest.Config{SessionTimeout: time.Second, Step: 20 * time.Millisecond})
	c := noRedirect(t)
	r := do(t, c, "POST", b.URL()+"/batches", `{"file":"a.py"}`)
	expect(t, r, 500)
	if ct := r.header.Get("Content-Type"); ct != "text/html;charset=iso-8859-1" {
		t.Fatalf("500 Content-Type %q", ct)
	}
	if body := string(r.body); !strings.Contains(body, "<h2>HTTP ERROR 500</h2>") ||
		!strings.Contains(body, "java.lang.ArrayIndexOutOfBoundsException: -1") {
		t.Fatalf("500 body %q", body)
	}
	// The rogue leaves (cleanly): b takes over, after its restart.
	if err := rogue.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "b to become active", b.IsActive)
	expect(t, do(t, c, "POST", b.URL()+"/batches", `{"file":"a.py"}`), 201)
}

// A takeover: SIGTERM keeps the latch until the session expires; the new
// leader refuses connections while it restarts and redirects to itself
// around that; recovered sessions are recovering until their driver
// reconnects.
func TestPR212Failover(t *testing.T) {
	cl := newPR212Cluster(t, 3)
	const session = 3 * time.Second // the checks right after the SIGTERM need the latch to outlive them, also on a loaded machine
	cfg := livytest.Config{SessionTimeout: session, Step: 40 * time.Millisecond,
		RestartWindow: 300 * time.Millisecond, SelfRedirectWindow: 60 * time.Millisecond}
	a := cl.start(t, 0, cfg)
	b := cl.start(t, 1, cfg)
	d := cl.start(t, 2, cfg)
	c := noRedirect(t)
	expect(t, do(t, c, "POST", a.URL()+"/sessions", `{"kind":"spark","name":"repl"}`), 201)
	expect(t, do(t, c, "POST", a.URL()+"/batches", `{"file":"long.py"}`), 201)
	waitState(t, c, a.URL()+"/sessions/0", "idle", 5*time.Second)

	stopped := time.Now()
	if err := a.Close(); err != nil { // SIGTERM
		t.Fatal(err)
	}
	if _, err := http.Get(a.URL() + "/batches"); !isRefused(err) {
		t.Fatalf("the stopped server: %v, want connection refused", err)
	}
	// The latch node is still there: the passives keep sending clients
	// to the stopped server.
	r := do(t, c, "GET", b.URL()+"/batches", "")
	if r.status != 307 || r.header.Get("Location") != a.URL()+"/batches" {
		t.Fatalf("passive right after the SIGTERM: %s Location %q", r, r.header.Get("Location"))
	}

	// Watch both candidates until one is active.
	type seen struct{ selfRedirect, refused bool }
	obs := map[string]*seen{b.URL(): {}, d.URL(): {}}
	var newActive *livytest.Server
	deadline := time.Now().Add(20 * time.Second)
	for newActive == nil {
		if time.Now().After(deadline) {
			t.Fatal("no takeover within 20s")
		}
		for _, s := range []*livytest.Server{b, d} {
			res, err := c.Get(s.URL() + "/batches")
			switch {
			case isRefused(err):
				obs[s.URL()].refused = true
			case err != nil:
				// A request in flight cut by the restart.
			default:
				res.Body.Close()
				if res.StatusCode == 307 && res.Header.Get("Location") == s.URL()+"/batches" {
					obs[s.URL()].selfRedirect = true
				}
				if res.StatusCode == 200 {
					newActive = s
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(stopped)
	t.Logf("PR #212 failover after SIGTERM with a %s session timeout: %s (restart window %s)", session, took, cfg.RestartWindow)
	// The stopped server's last ping came up to a third of the session
	// timeout before the stop, so its session expires that much earlier.
	if took < session/2 {
		t.Fatalf("took over after %s, before the %s session of the stopped server could expire", took, session)
	}
	if o := obs[newActive.URL()]; !o.selfRedirect || !o.refused {
		t.Fatalf("new active %s: saw a 307 to itself %v, refused connections %v; want both", newActive.URL(), o.selfRedirect, o.refused)
	}
	if newActive.Restarts() != 1 {
		t.Fatalf("new active restarted %d times", newActive.Restarts())
	}
	other := b
	if newActive == b {
		other = d
	}
	r = do(t, c, "GET", other.URL()+"/sessions/0", "")
	if r.status != 307 || !strings.HasPrefix(r.header.Get("Location"), newActive.URL()) {
		t.Fatalf("the other passive: %s %q", r, r.header.Get("Location"))
	}

	u := newActive.URL()
	if st := do(t, c, "GET", u+"/sessions/repl/state", "").obj(t)["state"]; st != "recovering" {
		t.Fatalf("session right after the takeover: %v, want recovering", st)
	}
	r = do(t, c, "POST", u+"/sessions/0/statements", `{"code":"1+1"}`)
	expect(t, r, 500)
	if got := r.str(t); got != "java.lang.IllegalStateException: Session is in state recovering" {
		t.Fatalf("statement while recovering: %q", got)
	}
	waitState(t, c, u+"/sessions/0", "idle", 5*time.Second)
	expect(t, do(t, c, "POST", u+"/sessions/0/statements", `{"code":"1+1"}`), 201)
	waitState(t, c, u+"/batches/0", "success", 5*time.Second)
}

func isRefused(err error) bool { return err != nil && errors.Is(err, syscall.ECONNREFUSED) }

// No fence: a deposed active still commits what it is serving, with ids
// from its stale counter, overwriting the new active's records.
func TestPR212Unfenced(t *testing.T) {
	cl := newPR212Cluster(t, 2)
	var (
		mu      sync.Mutex
		release = make(chan struct{})
		stalled = make(chan struct{}, 1)
	)
	cfg := livytest.Config{SessionTimeout: time.Second, Step: 20 * time.Millisecond,
		RestartWindow: 50 * time.Millisecond, SelfRedirectWindow: 20 * time.Millisecond,
		AbortBeforeCommit: func(r *http.Request) bool {
			if r.Header.Get("X-Stall") != "" {
				stalled <- struct{}{}
				mu.Lock()
				ch := release
				mu.Unlock()
				<-ch
			}
			return false
		}}
	a := cl.start(t, 0, cfg)
	b := cl.start(t, 1, cfg)
	c := noRedirect(t)
	expect(t, do(t, c, "POST", a.URL()+"/batches", `{"file":"zero.py"}`), 201)

	// A create stalls on the active...
	done := make(chan resp, 1)
	go func() {
		req, _ := http.NewRequest("POST", a.URL()+"/batches", strings.NewReader(`{"file":"stale.py","name":"from-a"}`))
		req.Header.Set("X-Stall", "1")
		res, err := c.Do(req)
		if err != nil {
			done <- resp{status: -1, body: []byte(err.Error())}
			return
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		done <- resp{status: res.StatusCode, header: res.Header, body: []byte(b.String())}
	}()
	<-stalled
	// ...while it loses the latch (its node is deleted: a session
	// expiry seen late), and b takes over.
	conn := zkConn(t, cl.zkc)
	kids, _, err := conn.Children("/" + cl.prefix + "/leader")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if d, _, _ := conn.Get("/" + cl.prefix + "/leader/" + k); string(d) == "livy-a" {
			if err := conn.Delete("/"+cl.prefix+"/leader/"+k, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 10*time.Second, "b to take over", b.IsActive)
	if a.IsActive() {
		t.Fatal("a still active")
	}
	r := do(t, c, "POST", b.URL()+"/batches", `{"file":"new.py","name":"from-b"}`)
	expect(t, r, 201)
	if id := num(t, r.obj(t)["id"]); id != 1 {
		t.Fatalf("b's first batch id %d", id)
	}
	// The deposed a commits, with id 1 from its own counter.
	mu.Lock()
	close(release)
	mu.Unlock()
	r = <-done
	if r.status != 201 || num(t, r.obj(t)["id"]) != 1 {
		t.Fatalf("deposed active's create: %s", r)
	}
	data, _, err := conn.Get("/" + cl.stateDir + "/v1/batch/1")
	if err != nil || !strings.Contains(string(data), `"name":"from-a"`) {
		t.Fatalf("store record 1 after the split brain: %s, %v; want a's, which overwrote b's", data, err)
	}
	// b still serves its own in memory: the two disagree.
	if n := do(t, c, "GET", b.URL()+"/batches/1", "").obj(t)["name"]; n != "from-b" {
		t.Fatalf("b's batch 1 is %v", n)
	}
}

// Closing servers of the Livy profiles (timers, PR #212 restarts and
// abandoned latches) leaves no goroutine behind.
func TestLivyProfilesNoGoroutineLeak(t *testing.T) {
	cl := newPR212Cluster(t, 2)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := livytest.Config{Profile: livytest.ProfilePR212, LivyConf: cl.conf, SessionTimeout: time.Second,
		Step: 10 * time.Millisecond, RestartWindow: 30 * time.Millisecond}
	var servers []*livytest.Server
	for i := range 2 {
		cfg.HAID = cl.ids[i]
		s, err := livytest.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
	}
	for _, p := range []livytest.Profile{livytest.ProfileStock, livytest.ProfileLivy08} {
		c := livytest.Config{Profile: p, Step: 10 * time.Millisecond}
		if p == livytest.ProfileStock {
			c.ZK, c.Root = cl.zkc.ConnectString(), testRoot(t)
		}
		s, err := livytest.Start(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
	}
	tr := &http.Transport{}
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, s := range servers {
		for _, path := range []string{"/sessions", "/batches"} {
			res, err := c.Post(s.URL()+path, "application/json", strings.NewReader(`{"file":"a.py","kind":"spark"}`))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}
	}
	// A takeover, then everything closed.
	if err := servers[0].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the takeover", servers[1].IsActive)
	for _, s := range servers {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
