package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// staticLivy is a real HTTP server standing in for one Livy server's
// GET /version: it answers as an active (200), a passive (307 with Livy's
// standby body), or a failing server (500), and counts its probes.
type staticLivy struct {
	*httptest.Server
	hits atomic.Int64
	// answer writes the response; swapped atomically by tests.
	answer atomic.Pointer[func(w http.ResponseWriter, r *http.Request)]
	probed chan struct{} // receives one value per request (buffered; never blocks)
}

func newStaticLivy(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *staticLivy {
	t.Helper()
	s := &staticLivy{probed: make(chan struct{}, 1024)}
	s.set(answer)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		select {
		case s.probed <- struct{}{}:
		default:
		}
		(*s.answer.Load())(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *staticLivy) set(answer func(w http.ResponseWriter, r *http.Request)) {
	s.answer.Store(&answer)
}

// hp is the server's host:port.
func (s *staticLivy) hp() string { return strings.TrimPrefix(s.URL, "http://") }

func answerActive(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/version" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = fmt.Fprint(w, `{"version":"0.8.0-incubating"}`)
}

func answerStatus(code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// answerPassive answers as a PR #212 passive: 307 to the same path and
// query on the active, with the standby body.
func answerPassive(activeURL string) func(http.ResponseWriter, *http.Request) {
	return answerLocation(activeURL + "%s")
}

// answerLocation answers 307 with Location format (given the request URI).
func answerLocation(format string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		loc := format
		if strings.Contains(format, "%s") {
			loc = fmt.Sprintf(format, r.URL.RequestURI())
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		_, _ = fmt.Fprintf(w, "This is a standby Livy Instance. The redirect url is: %s\n", loc)
	}
}

// closedPort returns a loopback host:port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hp := ln.Addr().String()
	_ = ln.Close()
	return hp
}

func staticResolver(t testing.TB, hostports ...string) *discovery.Resolver {
	t.Helper()
	r, err := discovery.NewResolver("static://" + strings.Join(hostports, ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func staticCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// staticAwait waits, following snapshot changes, until cond holds.
func staticAwait(t *testing.T, r *discovery.Resolver, d time.Duration, what string, cond func(*discovery.Snapshot) bool) *discovery.Snapshot {
	t.Helper()
	ctx := staticCtx(t, d)
	for s := range r.Subscribe(ctx) {
		if cond(s) {
			return s
		}
	}
	s := r.Snapshot()
	t.Fatalf("timed out after %s waiting for %s; last snapshot: servers %v, problems %v", d, what, s.Servers, s.Problems)
	return nil
}

func awaitProbe(t *testing.T, s *staticLivy, what string) {
	t.Helper()
	select {
	case <-s.probed:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// A passive listed first: its 307 names a listed server, and the first
// listed server that serves is the leader. Once it is known, lookups cost
// no probes; Refresh calls made while a round is in flight coalesce into
// one more round.
func TestStaticPassiveListedFirst(t *testing.T) {
	testutil.NoLeaks(t)
	active := newStaticLivy(t, answerActive)
	passive := newStaticLivy(t, answerPassive(active.URL))
	r := staticResolver(t, passive.hp(), active.hp())
	ctx := staticCtx(t, 10*time.Second)

	srv, err := r.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if srv.URL != active.URL || srv.Name != active.hp() || srv.HostPort != active.hp() || srv.ID != -1 || srv.Sequence != 1 || !srv.Leader {
		t.Fatalf("active %+v, want %s (sequence 1, id -1)", srv, active.URL)
	}
	snap := r.Snapshot()
	if len(snap.Servers) != 2 || snap.Servers[1].Name != passive.hp() || snap.Servers[1].Sequence != 0 {
		t.Fatalf("servers %+v", snap.Servers)
	}
	if !snap.IsMember(passive.hp()) || !snap.IsMember(active.hp()) || !snap.HasLatch() || snap.Mode != discovery.ActivePassive {
		t.Fatalf("membership/latch/mode wrong: %+v", snap)
	}
	if want := "static list " + passive.hp() + "," + active.hp(); snap.Source != want {
		t.Fatalf("source %q, want %q", snap.Source, want)
	}
	if len(snap.Problems) != 0 {
		t.Fatalf("problems %v", snap.Problems)
	}
	awaitProbe(t, active, "first probe")

	// Steady state: lookups send nothing.
	hits := active.hits.Load() + passive.hits.Load()
	for range 1000 {
		if _, err := r.Active(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := active.hits.Load() + passive.hits.Load(); n != hits {
		t.Fatalf("lookups cost %d probes", n-hits)
	}

	// Hold a round in flight, then ask for many more: one more round runs.
	gate := make(chan struct{})
	active.set(func(w http.ResponseWriter, r *http.Request) { <-gate; answerActive(w, r) })
	r.Refresh()
	awaitProbe(t, active, "the held round")
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				r.Refresh()
			}
		}()
	}
	wg.Wait()
	if n := active.hits.Load(); n != 2 {
		t.Fatalf("%d probes of the active while a round was in flight, want 2 (a second round started)", n)
	}
	active.set(answerActive)
	close(gate)
	awaitProbe(t, active, "the coalesced round")
	// Proving that nothing else follows needs a quiet interval: no event
	// marks the absence of a round.
	time.Sleep(300 * time.Millisecond)
	if n := active.hits.Load(); n != 3 {
		t.Fatalf("%d probes of the active after 201 Refresh calls, want 3 (one coalesced round)", n)
	}
	if n := passive.hits.Load(); n != 3 {
		t.Fatalf("%d probes of the passive, want 3", n)
	}
}

// The list misses the active: the listed passive's 307 names it, and it
// becomes a member (the passives will redirect clients there) and the
// leader, since it answers its own probe.
func TestStaticLearnsActiveOutsideList(t *testing.T) {
	testutil.NoLeaks(t)
	active := newStaticLivy(t, answerActive)
	passive := newStaticLivy(t, answerPassive(active.URL))
	failing := newStaticLivy(t, answerStatus(http.StatusInternalServerError))
	r := staticResolver(t, passive.hp(), failing.hp())

	srv, err := r.Active(staticCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if srv.URL != active.URL || srv.Name != active.hp() || srv.HostPort != active.hp() || srv.ID != -1 || srv.Sequence != -1 {
		t.Fatalf("active %+v, want the learned %s", srv, active.URL)
	}
	snap := r.Snapshot()
	if !snap.IsMember(active.hp()) || len(snap.Servers) != 3 {
		t.Fatalf("learned server not a member: %+v", snap.Servers)
	}
	if got, ok := snap.ServerByName(active.hp()); !ok || !got.Leader {
		t.Fatalf("ServerByName(%s) = %+v, %v", active.hp(), got, ok)
	}
	if want := "static list " + passive.hp() + "," + failing.hp(); snap.Source != want {
		t.Fatalf("source %q, want %q", snap.Source, want)
	}

	// A base path before /version in the Location is kept. (The active
	// answers 404 there: up and not redirecting, and named by a passive,
	// so it leads.)
	based := newStaticLivy(t, answerLocation(active.URL+"/gateway/livy/version"))
	r2 := staticResolver(t, based.hp())
	if srv, err = r2.Active(staticCtx(t, 10*time.Second)); err != nil || srv.URL != active.URL+"/gateway/livy" {
		t.Fatalf("learned %+v, %v; want %s/gateway/livy", srv, err, active.URL)
	}
}

// Locations that are not plain http(s) URLs (another scheme, userinfo, a
// downgrade) are Problems, their servers never become members, and the
// credentials in them are not repeated.
func TestStaticUntrustedLocation(t *testing.T) {
	testutil.NoLeaks(t)
	active := newStaticLivy(t, answerActive)
	ftp := newStaticLivy(t, answerLocation("ftp://evil.example:21/version"))
	userinfo := newStaticLivy(t, answerLocation("http://admin:s3cret@evil.example:8998/version"))
	r := staticResolver(t, ftp.hp(), userinfo.hp())
	ctx := staticCtx(t, 10*time.Second)

	snap, err := r.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Active(); !errors.Is(err, discovery.ErrNoLeader) {
		t.Fatalf("Active err %v, want ErrNoLeader", err)
	}
	if len(snap.Servers) != 2 || snap.IsMember("evil.example:8998") || snap.IsMember("evil.example:21") {
		t.Fatalf("an untrusted Location made a member: %+v", snap.Servers)
	}
	if len(snap.Problems) != 2 {
		t.Fatalf("problems %v, want one per hostile Location", snap.Problems)
	}
	for _, p := range snap.Problems {
		if !strings.Contains(p.Reason, "not trusted") {
			t.Errorf("problem %v does not say the Location is not trusted", p)
		}
	}
	if !strings.Contains(snap.Problems[0].Reason, "ftp://") || !strings.Contains(snap.Problems[1].Reason, "userinfo") {
		t.Errorf("problems %v", snap.Problems)
	}
	_, err = snap.Active()
	text := fmt.Sprint(snap.Problems, err)
	if strings.Contains(text, "s3cret") {
		t.Fatalf("a password from a Location leaked into %q", text)
	}
	want := fmt.Sprintf("discovery: no leader among static list %s (307 standby to an untrusted Location), %s (307 standby to an untrusted Location)", ftp.hp(), userinfo.hp())
	if err.Error() != want {
		t.Fatalf("error %q\nwant  %q", err, want)
	}

	// With a serving server listed too, it leads; the hostile one still is
	// no member.
	r2 := staticResolver(t, userinfo.hp(), active.hp())
	srv, err := r2.Active(ctx)
	if err != nil || srv.URL != active.URL {
		t.Fatalf("active %+v, %v", srv, err)
	}
	if s := r2.Snapshot(); s.IsMember("evil.example:8998") || len(s.Problems) != 1 {
		t.Fatalf("servers %+v problems %v", s.Servers, s.Problems)
	}

	// An https server that redirects to http is not followed either.
	tls := httptest.NewTLSServer(http.HandlerFunc(answerLocation(active.URL + "%s")))
	t.Cleanup(tls.Close)
	t.Cleanup(tls.Client().CloseIdleConnections)
	r3, err := discovery.NewResolver("static://"+strings.TrimPrefix(tls.URL, "https://")+"?scheme=https", discovery.WithHTTPClient(tls.Client()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r3.Close() })
	s3, err := r3.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s3.IsMember(active.hp()) || len(s3.Problems) != 1 || !strings.Contains(s3.Problems[0].Reason, "from https") {
		t.Fatalf("downgrade: servers %+v problems %v", s3.Servers, s3.Problems)
	}
}

// No leader: the error names every server and what its probe said, and
// the source keeps probing on its backoff timer (no Refresh needed) until
// a leader appears.
func TestStaticNoLeader(t *testing.T) {
	testutil.NoLeaks(t)
	closed := closedPort(t)
	failing := newStaticLivy(t, answerStatus(http.StatusInternalServerError))
	r := staticResolver(t, closed, failing.hp())
	ctx := staticCtx(t, 10*time.Second)

	_, err := r.Active(ctx)
	if !errors.Is(err, discovery.ErrNoLeader) {
		t.Fatalf("Active err %v, want ErrNoLeader", err)
	}
	want := fmt.Sprintf("discovery: no leader among static list %s (connection refused), %s (500)", closed, failing.hp())
	if err.Error() != want {
		t.Fatalf("error %q\nwant  %q", err, want)
	}
	if eps, err := r.Endpoints(ctx); err != nil || len(eps) != 2 {
		t.Fatalf("Endpoints %v, %v: every listed server is a member", eps, err)
	}
	awaitProbe(t, failing, "the first round")
	awaitProbe(t, failing, "a timer round")

	failing.set(answerActive)
	s := staticAwait(t, r, 10*time.Second, "a leader after the server recovered", func(s *discovery.Snapshot) bool {
		l, ok := s.Leader()
		return ok && l.URL == failing.URL
	})
	// A settled leader stops the timer.
	n := failing.hits.Load()
	time.Sleep(300 * time.Millisecond) // quiet interval: no event marks a round that does not happen
	if m := failing.hits.Load(); m != n {
		t.Fatalf("%d probes after the leader settled (snapshot %d)", m-n, s.Version)
	}
}

// A 401 (or 403, 404) says a server is up and does not redirect, not that
// it is the active one (PR #212 passives authenticate first): a passive's
// vote outranks it, and it leads only as a last resort.
func TestStaticAuthAnswerRule(t *testing.T) {
	testutil.NoLeaks(t)
	active := newStaticLivy(t, answerActive)
	auth := newStaticLivy(t, answerStatus(http.StatusUnauthorized))
	passive := newStaticLivy(t, answerPassive(active.URL))
	ctx := staticCtx(t, 10*time.Second)

	r := staticResolver(t, auth.hp(), passive.hp())
	if srv, err := r.Active(ctx); err != nil || srv.URL != active.URL {
		t.Fatalf("active %+v, %v; want the server the passive names, %s", srv, err, active.URL)
	}
	r2 := staticResolver(t, closedPort(t), auth.hp())
	if srv, err := r2.Active(ctx); err != nil || srv.URL != auth.URL {
		t.Fatalf("active %+v, %v; want the answering %s as a last resort", srv, err, auth.URL)
	}
	odd := newStaticLivy(t, answerStatus(http.StatusFound))
	r3 := staticResolver(t, odd.hp())
	s, err := r3.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Active(); !errors.Is(err, discovery.ErrNoLeader) || len(s.Problems) != 1 {
		t.Fatalf("a 302 made %v, problems %v", err, s.Problems)
	}
}

// When the leader's probe fails, the source picks another server and then
// probes again by itself, on its timer, to confirm the new view.
func TestStaticLeaderProbeFails(t *testing.T) {
	testutil.NoLeaks(t)
	first := newStaticLivy(t, answerActive)
	second := newStaticLivy(t, answerActive)
	r := staticResolver(t, first.hp(), second.hp())
	if srv, err := r.Active(staticCtx(t, 10*time.Second)); err != nil || srv.URL != first.URL {
		t.Fatalf("active %+v, %v", srv, err)
	}
	awaitProbe(t, second, "the first round")
	first.set(answerStatus(http.StatusServiceUnavailable))
	r.Refresh()
	staticAwait(t, r, 10*time.Second, "the second server to lead", func(s *discovery.Snapshot) bool {
		l, ok := s.Leader()
		return ok && l.URL == second.URL
	})
	awaitProbe(t, second, "the refreshed round")
	awaitProbe(t, second, "the confirming round, on the timer")
}

// Wait names the list when no round has finished; Close ends probes in
// flight at once rather than at their timeout. The caller's client is not
// modified.
func TestStaticWaitAndClose(t *testing.T) {
	testutil.NoLeaks(t)
	release := make(chan struct{})
	hung := newStaticLivy(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	r, err := discovery.NewResolver("static://"+hung.hp(), discovery.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = r.Wait(ctx)
	if !errors.Is(err, discovery.ErrUnavailable) || !strings.Contains(err.Error(), "no snapshot yet from static list "+hung.hp()) {
		t.Fatalf("Wait err %v", err)
	}
	start := time.Now()
	_ = r.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %s with a probe in flight", d)
	}
	if hc.CheckRedirect != nil {
		t.Fatal("the caller's CheckRedirect was replaced")
	}
	if _, err := r.Active(context.Background()); !errors.Is(err, discovery.ErrClosed) {
		t.Fatalf("Active after Close: %v", err)
	}
}

// Warm Active lookups of a static source do not allocate.
func TestStaticActiveNoAlloc(t *testing.T) {
	active := newStaticLivy(t, answerActive)
	r := staticResolver(t, active.hp())
	ctx := staticCtx(t, 10*time.Second)
	if _, err := r.Active(ctx); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = r.Active(ctx) }); n != 0 {
		t.Fatalf("warm Active allocates %.1f times", n)
	}
}

// BenchmarkStaticActive measures a warm Active lookup of a static source
// (0 allocs).
func BenchmarkStaticActive(b *testing.B) {
	active := httptest.NewServer(http.HandlerFunc(answerActive))
	b.Cleanup(active.Close)
	r := staticResolver(b, strings.TrimPrefix(active.URL, "http://"))
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.Active(wctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Active(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

var staticRootSeq atomic.Int64

// Three livytest servers in active-passive over ZooKeeper; the static
// list names only the two passives, passive first. The resolver learns the
// active from their 307s, the client creates a batch through it, and after
// the active is closed the client's next requests (whose refused
// connection makes the resolver probe again) land on the new active.
func TestStaticLivytestFailover(t *testing.T) {
	zkc := zktest.Shared(t)
	root := fmt.Sprintf("/static%d-%s", staticRootSeq.Add(1), t.Name())
	var servers []*livytest.Server
	for id := 1; id <= 3; id++ {
		servers = append(servers, livytest.NewServer(t, livytest.Config{ZK: zkc.ConnectString(), Root: root, ID: id,
			Step: 20 * time.Millisecond, SessionTimeout: 2 * time.Second}))
	}
	var active *livytest.Server
	var passives []*livytest.Server
	for _, s := range servers {
		if s.IsActive() {
			if active != nil {
				t.Fatalf("servers %d and %d are both active", active.ID(), s.ID())
			}
			active = s
		} else {
			passives = append(passives, s)
		}
	}
	if active == nil || len(passives) != 2 {
		t.Fatalf("want one active and two passives, got active %v", active)
	}
	hp := func(s *livytest.Server) string { return strings.TrimPrefix(s.URL(), "http://") }
	probes := func(s *livytest.Server) int {
		n := 0
		for _, q := range s.Requests() {
			if q.Method == http.MethodGet && q.Path == "/version" {
				n++
			}
		}
		return n
	}

	r := staticResolver(t, hp(passives[0]), hp(passives[1]))
	ctx := staticCtx(t, 60*time.Second)
	srv, err := r.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if srv.URL != active.URL() || srv.Name != hp(active) {
		t.Fatalf("leader %+v, want the unlisted active %s", srv, active.URL())
	}
	if s := r.Snapshot(); !s.IsMember(hp(active)) || len(s.Servers) != 3 {
		t.Fatalf("servers %+v", s.Servers)
	}

	c, err := livyclient.New(livyclient.WithResolver(r))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.HTTPClient().CloseIdleConnections)
	b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "before.py"})
	if err != nil {
		t.Fatal(err)
	}
	if got := lastStatus(active, http.MethodPost, "/batches"); got != http.StatusCreated {
		t.Fatalf("the create did not land on the active (status %d)", got)
	}
	before := probes(passives[0]) + probes(passives[1])
	if _, err := c.Batches.Get(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if n := probes(passives[0]) + probes(passives[1]); n != before {
		t.Fatalf("client requests cost %d probes in steady state", n-before)
	}
	v0 := r.Snapshot().Version

	if err := active.Close(); err != nil {
		t.Fatal(err)
	}
	// The client's next request finds the old active gone, hints, and
	// waits for the re-probed view: no other nudge is given.
	start := time.Now()
	got, err := c.Batches.Get(ctx, b.ID)
	if err != nil {
		t.Fatalf("after the failover: %v", err)
	}
	t.Logf("first request after closing the active took %s", time.Since(start).Round(time.Millisecond))
	if got.ID != b.ID {
		t.Fatalf("batch %d, want %d", got.ID, b.ID)
	}
	b2, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "after.py"})
	if err != nil {
		t.Fatalf("create after the failover: %v", err)
	}
	var next *livytest.Server
	for _, p := range passives {
		if p.IsActive() {
			next = p
		}
	}
	if next == nil {
		t.Fatal("no new active")
	}
	if lastStatus(next, http.MethodGet, fmt.Sprintf("/batches/%d", b.ID)) != http.StatusOK ||
		lastStatus(next, http.MethodPost, "/batches") != http.StatusCreated {
		t.Fatalf("the requests after the failover were not served by the new active %d: %+v", next.ID(), next.Requests())
	}
	if b2.ID == b.ID {
		t.Fatalf("batch id %d repeated", b2.ID)
	}
	s := r.Snapshot()
	if l, ok := s.Leader(); !ok || l.URL != next.URL() || s.Version <= v0 {
		t.Fatalf("resolver leader %+v (version %d, was %d), want %s", l, s.Version, v0, next.URL())
	}
	if n := probes(passives[0]) + probes(passives[1]); n <= before {
		t.Fatal("the resolver did not probe again after the failover")
	}
}

// lastStatus returns the status of the last request with method and path
// that s received, 0 if none.
func lastStatus(s *livytest.Server, method, path string) int {
	reqs := s.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && reqs[i].Path == path {
			return reqs[i].Status
		}
	}
	return 0
}
