package livyclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
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
	"github.com/livyha/livyha/retry"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBinaries()
	zktest.StopShared()
	os.Exit(code)
}

var rootSeq atomic.Int64

func testRoot(t testing.TB) string {
	return fmt.Sprintf("/lc%d-%s", rootSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// cluster starts n livytest servers sharing one root; server 0 is active.
func cluster(t testing.TB, n int, mode discovery.Mode, tweak func(*livytest.Config)) (string, string, []*livytest.Server) {
	t.Helper()
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var servers []*livytest.Server
	for i := 0; i < n; i++ {
		cfg := livytest.Config{ZK: zkc.ConnectString(), Root: root, ID: i + 1, Mode: mode, Step: 20 * time.Millisecond, SessionTimeout: time.Second}
		if tweak != nil {
			tweak(&cfg)
		}
		servers = append(servers, livytest.NewServer(t, cfg))
	}
	return zkc.ConnectString(), root, servers
}

func client(t testing.TB, connect, root string, mode discovery.Mode, opts ...livyclient.Option) (*livyclient.Client, *discovery.Resolver) {
	t.Helper()
	r, err := discovery.NewResolver(connect, discovery.WithRoot(root), discovery.WithMode(mode))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c, err := livyclient.New(append([]livyclient.Option{livyclient.WithResolver(r), livyclient.WithPollInterval(10 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

// A graceful stop of the active server: the client goes on with the same
// session and batch on the new active, without an error.
func TestTransparentGracefulFailover(t *testing.T) {
	connect, root, servers := cluster(t, 2, discovery.ActivePassive, nil)
	c, _ := client(t, connect, root, discovery.ActivePassive)
	ctx := ctxT(t, 30*time.Second)

	sess, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sessions.Wait(ctx, sess.ID, livyclient.StateIdle); err != nil {
		t.Fatal(err)
	}
	batch, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/pi.py"})
	if err != nil {
		t.Fatal(err)
	}
	if batch.Name == nil || !strings.HasPrefix(*batch.Name, "livyha-") {
		t.Fatalf("batch name %v", batch.Name)
	}

	servers[0].Close() // graceful
	got, err := c.Batches.Wait(ctx, batch.ID)
	if err != nil || got.State != livyclient.StateSuccess || got.ID != batch.ID {
		t.Fatalf("batch after failover: %+v, %v", got, err)
	}
	st, err := c.Statements.Run(ctx, sess.ID, &livyclient.StatementRequest{Code: "20 + 22"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = c.Statements.Wait(ctx, sess.ID, st.ID); err != nil {
		t.Fatal(err)
	}
	if text, _ := st.Output.Text(); st.Output.Status != "ok" || !strings.Contains(text, "42") {
		t.Fatalf("statement output %+v", st.Output)
	}
	list, err := c.Batches.List(ctx, nil)
	if err != nil || list.Total != 1 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if n := len(servers[1].Requests()); n == 0 {
		t.Fatal("the new active served nothing")
	}
}

// Server 1 answers a POST passively (307 to the active), the client
// follows with the same body and credentials re-applied; the passive itself
// never needed them.
func TestPassiveRedirectFollowedWithAuth(t *testing.T) {
	auth := &livytest.BasicAuth{User: "alice", Password: "pw"}
	connect, root, servers := cluster(t, 2, discovery.ActivePassive, func(c *livytest.Config) { c.BasicAuth = auth; c.CSRF = true })
	// A client whose view is stale on purpose: a static list, passive first.
	c, err := livyclient.New(livyclient.WithEndpoints(servers[1].URL(), servers[0].URL()),
		livyclient.WithAuth(livyclient.BasicAuth{User: "alice", Password: "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Batches.Create(ctxT(t, 10*time.Second), &livyclient.CreateBatchRequest{File: "/x.jar", Name: "job-1"})
	if err != nil || *b.Name != "job-1" {
		t.Fatalf("Create via passive = %+v, %v", b, err)
	}
	var sawRedirect bool
	for _, r := range servers[1].Requests() {
		if r.Method == http.MethodPost && r.Status == http.StatusTemporaryRedirect {
			sawRedirect = true
		}
	}
	if !sawRedirect {
		t.Fatalf("passive requests: %+v", servers[1].Requests())
	}
	// Wrong credentials: a typed error.
	bad, _ := livyclient.New(livyclient.WithEndpoints(servers[0].URL()), livyclient.WithAuth(livyclient.BasicAuth{User: "alice", Password: "x"}))
	if _, err := bad.Batches.Get(ctxT(t, 10*time.Second), b.ID); !errors.Is(err, livyclient.ErrUnauthorized) {
		t.Fatalf("bad password = %v", err)
	}
	_, _ = connect, root
}

// A registered cluster member that turns hostile and redirects to a foreign
// host: that host receives nothing from the client — no Authorization, no
// cookie, no body.
func TestHostileMemberNeverLeaksCredentials(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var foreignHits atomic.Int32
	var leaked atomic.Value
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		leaked.Store(r.Header.Get("Authorization") + "|" + r.Header.Get("Cookie"))
	}))
	defer foreign.Close()
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loc := foreign.URL + r.URL.RequestURI()
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		_, _ = io.WriteString(w, retry.StandbyText+". The redirect url is: "+loc)
	}))
	defer hostile.Close()
	reg, err := discovery.Register(ctxT(t, 10*time.Second), zkc.ConnectString(), discovery.ServerRecord{ID: 1, URL: hostile.URL},
		discovery.WithRoot(root), discovery.WithElection(true))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(&url.URL{Scheme: "http", Host: "livy"}, []*http.Cookie{{Name: "JSESSIONID", Value: "s3cr3t"}})
	c, _ := client(t, zkc.ConnectString(), root, discovery.ActivePassive,
		livyclient.WithAuth(livyclient.BearerToken("t0ken")), livyclient.WithHTTPClient(&http.Client{Jar: jar}))
	for _, call := range []func() error{
		func() error { _, err := c.Version(ctxT(t, 10*time.Second)); return err },
		func() error {
			_, err := c.Batches.Create(ctxT(t, 10*time.Second), &livyclient.CreateBatchRequest{File: "/x"})
			return err
		},
		func() error { return c.Batches.Delete(ctxT(t, 10*time.Second), 3) },
	} {
		if err := call(); !errors.Is(err, livyclient.ErrUntrustedRedirect) {
			t.Fatalf("call = %v, want ErrUntrustedRedirect", err)
		}
	}
	if n := foreignHits.Load(); n != 0 {
		t.Fatalf("the foreign host received %d requests (headers %v)", n, leaked.Load())
	}
}

// Two members that redirect to each other: the hop limit ends it.
func TestRedirectLoopBetweenMembers(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var a, b *httptest.Server
	var hits atomic.Int32
	bounce := func(to **httptest.Server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Location", (*to).URL+r.URL.RequestURI())
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
	}
	a = httptest.NewServer(bounce(&b))
	b = httptest.NewServer(bounce(&a))
	defer a.Close()
	defer b.Close()
	for i, u := range []string{a.URL, b.URL} {
		reg, err := discovery.Register(ctxT(t, 10*time.Second), zkc.ConnectString(), discovery.ServerRecord{ID: i + 1, URL: u},
			discovery.WithRoot(root), discovery.WithElection(true))
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
	}
	c, _ := client(t, zkc.ConnectString(), root, discovery.ActivePassive, livyclient.WithMaxRedirects(5))
	if _, err := c.Version(ctxT(t, 10*time.Second)); !errors.Is(err, livyclient.ErrTooManyRedirects) {
		t.Fatalf("loop = %v", err)
	}
	if n := hits.Load(); n != 6 {
		t.Fatalf("loop made %d requests, want 1 + 5 hops", n)
	}
}

// The active commits a batch and crashes before answering: the client finds
// the batch by its name instead of creating a second one.
func TestNoDuplicateAfterCommitWithoutAnswer(t *testing.T) {
	var aborted atomic.Bool
	connect, root, servers := cluster(t, 1, discovery.ActivePassive, func(c *livytest.Config) {
		c.AbortAfterCommit = func(r *http.Request) bool {
			return r.URL.Path == "/batches" && aborted.CompareAndSwap(false, true)
		}
	})
	c, _ := client(t, connect, root, discovery.ActivePassive)
	ctx := ctxT(t, 10*time.Second)
	createdOnce(t, ctx, c, servers[0], &aborted)

	// Without a name the outcome cannot be checked: the caller is told.
	aborted.Store(false)
	c2, _ := client(t, connect, root, discovery.ActivePassive, livyclient.WithGeneratedNames(false))
	if _, err := c2.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/pi.py"}); !errors.Is(err, livyclient.ErrAmbiguous) {
		t.Fatalf("unnamed ambiguous create = %v", err)
	}
}

// createdOnce creates a batch through c while the seam of srv cuts the
// first create's answer after its commit (aborted is set then), and checks
// that exactly one POST reached srv and exactly one batch exists.
func createdOnce(t *testing.T, ctx context.Context, c *livyclient.Client, srv *livytest.Server, aborted *atomic.Bool) {
	t.Helper()
	b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/pi.py"})
	if err != nil {
		t.Fatal(err)
	}
	if !aborted.Load() {
		t.Fatal("the seam never fired")
	}
	list, err := c.Batches.List(ctx, nil)
	if err != nil || list.Total != 1 || list.Sessions[0].ID != b.ID {
		t.Fatalf("batches = %+v, %v", list, err)
	}
	posts := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && r.Path == "/batches" {
			posts++
		}
	}
	if posts != 1 {
		t.Fatalf("%d POST /batches reached the server", posts)
	}
}

// Multi-active (LIVY-698): session-scoped requests go straight to the
// owner, whichever server the session was created on.
func TestMultiActiveOwnerRouting(t *testing.T) {
	connect, root, servers := cluster(t, 2, discovery.MultiActive, nil)
	c, r := client(t, connect, root, discovery.MultiActive)
	ctx := ctxT(t, 20*time.Second)
	if _, err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/f"})
		if err != nil {
			t.Fatal(err)
		}
		owner := b.ID / discovery.SessionIDBlock
		if owner != 1 && owner != 2 {
			t.Fatalf("batch id %d has no server prefix", b.ID)
		}
		if _, err := c.Batches.Get(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		// The GET went to the owner only.
		for _, s := range servers {
			for _, req := range s.Requests() {
				if req.Method == http.MethodGet && req.Path == fmt.Sprintf("/batches/%d", b.ID) && s.ID() != owner {
					t.Fatalf("GET of batch %d reached server %d, owner is %d", b.ID, s.ID(), owner)
				}
			}
		}
	}
}

// 50 goroutines read while 10 create batches, and the active stops: every
// read succeeds and no batch exists twice.
func TestConcurrentLoadAcrossGracefulFailover(t *testing.T) {
	connect, root, servers := cluster(t, 3, discovery.ActivePassive, nil)
	c, _ := client(t, connect, root, discovery.ActivePassive)
	ctx := ctxT(t, 60*time.Second)
	seed, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/seed"})
	if err != nil {
		t.Fatal(err)
	}
	res := loadAcross(t, ctx, c, seed.ID, func() { servers[0].Close() })
	checkLoad(t, ctx, c, res)
}

type loadResult struct {
	reads, readErrs atomic.Int64
	created         sync.Map // name -> id
	createErrs      atomic.Int64
	firstErr        atomic.Value
}

// loadAcross runs 50 readers and 10 creators for a while, calling event
// half-way.
func loadAcross(t *testing.T, ctx context.Context, c *livyclient.Client, seedID int, event func()) *loadResult {
	res := &loadResult{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch (g + i) % 3 {
				case 0:
					_, err = c.Batches.Get(ctx, seedID)
				case 1:
					_, err = c.Batches.List(ctx, nil)
				default:
					_, err = c.Version(ctx)
				}
				res.reads.Add(1)
				if err != nil {
					res.readErrs.Add(1)
					res.firstErr.CompareAndSwap(nil, err)
				}
			}
		}(g)
	}
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/job.py"})
				if err != nil {
					res.createErrs.Add(1)
					res.firstErr.CompareAndSwap(nil, err)
					continue
				}
				res.created.Store(*b.Name, b.ID)
			}
		}()
	}
	time.Sleep(150 * time.Millisecond) // let the load build up before the event
	event()
	time.Sleep(400 * time.Millisecond) // and run on after it
	close(stop)
	wg.Wait()
	return res
}

func checkLoad(t *testing.T, ctx context.Context, c *livyclient.Client, res *loadResult) {
	t.Helper()
	if n := res.readErrs.Load(); n != 0 {
		t.Fatalf("%d of %d reads failed; first: %v", n, res.reads.Load(), res.firstErr.Load())
	}
	if n := res.createErrs.Load(); n != 0 {
		t.Fatalf("%d creates failed; first: %v", n, res.firstErr.Load())
	}
	list, err := c.Batches.List(ctx, &livyclient.ListOptions{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, b := range list.Sessions {
		if b.Name != nil {
			names[*b.Name]++
		}
	}
	created := 0
	res.created.Range(func(k, v any) bool {
		created++
		if names[k.(string)] != 1 {
			t.Errorf("batch %v exists %d times", k, names[k.(string)])
		}
		return true
	})
	for n, k := range names {
		if k > 1 {
			t.Errorf("duplicate batch name %s (%d)", n, k)
		}
	}
	if created != 40 || list.Total != 41 {
		t.Fatalf("created %d, cluster has %d batches (want 40 + seed)", created, list.Total)
	}
	t.Logf("%d reads, 0 failed; 40 batches created, 0 duplicates", res.reads.Load())
}

// Right after a kill -9 a passive may still redirect to the server that
// just left. The client sends nothing there, refreshes its view and starts
// over, and the request succeeds once the passive knows better.
func TestStaleRedirectToFormerMemberStartsOver(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var formerHits atomic.Int32
	former := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { formerHits.Add(1) }))
	defer former.Close()
	var calls atomic.Int32
	stale := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			loc := former.URL + r.URL.RequestURI()
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusTemporaryRedirect)
			_, _ = io.WriteString(w, retry.StandbyText+". The redirect url is: "+loc)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":5,"name":"n","state":"starting"}`)
	}))
	defer stale.Close()
	reg, err := discovery.Register(ctxT(t, 10*time.Second), zkc.ConnectString(), discovery.ServerRecord{ID: 2, URL: stale.URL},
		discovery.WithRoot(root), discovery.WithElection(true))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c, _ := client(t, zkc.ConnectString(), root, discovery.ActivePassive, livyclient.WithAuth(livyclient.BearerToken("tok")))
	b, err := c.Batches.Create(ctxT(t, 10*time.Second), &livyclient.CreateBatchRequest{File: "/f", Name: "n"})
	if err != nil || b.ID != 5 {
		t.Fatalf("Create = %+v, %v", b, err)
	}
	if formerHits.Load() != 0 || calls.Load() != 2 {
		t.Fatalf("former member got %d requests; stale passive %d", formerHits.Load(), calls.Load())
	}
}

// With the retry budget spent, a short outage (503s for 300ms) still ends
// in success: probes slow down, they do not stop.
func TestSpentBudgetStillRecovers(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var until atomic.Int64
	until.Store(time.Now().Add(300 * time.Millisecond).UnixNano())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Now().UnixNano() < until.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"version":"0.8"}`)
	}))
	defer srv.Close()
	reg, err := discovery.Register(ctxT(t, 10*time.Second), zkc.ConnectString(), discovery.ServerRecord{ID: 1, URL: srv.URL},
		discovery.WithRoot(root), discovery.WithElection(true))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	budget := retry.NewBudget(10, 0.1)
	for i := 0; i < 10; i++ {
		budget.OnFailure()
	}
	policy := retry.Policy{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, Multiplier: 2, MaxAttempts: 100, MaxElapsed: 3 * time.Second}
	c, _ := client(t, zkc.ConnectString(), root, discovery.ActivePassive, livyclient.WithRetryBudget(budget), livyclient.WithRetry(policy))
	until.Store(time.Now().Add(300 * time.Millisecond).UnixNano())
	if v, err := c.Version(ctxT(t, 10*time.Second)); err != nil || v.Version != "0.8" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
}

// ZooKeeper unreachable: the policy's MaxElapsed bounds the request even
// without a context deadline; a closed resolver fails at once.
func TestNoSnapshotBoundedByPolicy(t *testing.T) {
	r, err := discovery.NewResolver("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := livyclient.New(livyclient.WithResolver(r),
		livyclient.WithRetry(retry.Policy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2, MaxAttempts: 100, MaxElapsed: 500 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Version(context.Background()); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, discovery.ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("request with no snapshot and no context deadline hung")
	}
	r.Close()
	if _, err := c.Version(context.Background()); !errors.Is(err, discovery.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// Multi-active: each server has its own names, so after an ambiguous
// create the lookup goes to the server that got it, never elsewhere.
func TestMultiActiveDedupeStaysOnServer(t *testing.T) {
	var aborted atomic.Bool
	connect, root, servers := cluster(t, 2, discovery.MultiActive, func(c *livytest.Config) {
		c.AbortAfterCommit = func(r *http.Request) bool {
			return r.URL.Path == "/batches" && aborted.CompareAndSwap(false, true)
		}
	})
	c, r := client(t, connect, root, discovery.MultiActive)
	ctx := ctxT(t, 20*time.Second)
	if _, err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/f", Name: "only-once"})
	if err != nil {
		t.Fatal(err)
	}
	owner := b.ID / discovery.SessionIDBlock
	for _, s := range servers {
		for _, req := range s.Requests() {
			if strings.Contains(req.Path, "only-once") && s.ID() != owner {
				t.Fatalf("server %d saw %s %s; the batch lives on %d", s.ID(), req.Method, req.Path, owner)
			}
		}
	}
	total := 0
	for _, s := range servers {
		for _, req := range s.Requests() {
			if req.Method == http.MethodPost && req.Path == "/batches" {
				total++
			}
		}
	}
	if total != 1 {
		t.Fatalf("%d POST /batches in all", total)
	}
}
