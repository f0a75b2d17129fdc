package livyclient_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// waitServers waits, snapshot by snapshot, until the resolver sees n
// servers.
func waitServers(t *testing.T, r *discovery.Resolver, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s := r.Snapshot()
		if s.Ready() && len(s.Servers) == n {
			return
		}
		select {
		case <-s.Changed():
		case <-deadline.C:
			t.Fatalf("resolver sees %d servers after %s, want %d", len(s.Servers), timeout, n)
		}
	}
}

// created counts the batches a server created (POST /batches answered
// 201) and the GETs of a batch it answered with 200.
func created(s *livytest.Server) (posts, gets int) {
	for _, r := range s.Requests() {
		switch {
		case r.Method == http.MethodPost && r.Path == "/batches" && r.Status == http.StatusCreated:
			posts++
		case r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/batches/") && r.Status == http.StatusOK:
			gets++
		}
	}
	return posts, gets
}

// failures is a RoundTripper that counts the requests that failed without
// an answer, per host:port (requests the HA transport then retried).
type failures struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (f *failures) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := f.base.RoundTrip(r)
	if err != nil {
		f.mu.Lock()
		f.n[r.URL.Host]++
		f.mu.Unlock()
	}
	return res, err
}

func (f *failures) of(hostport string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[hostport]
}

// TestActiveActiveSpreadAndFailover: 1 000 batch creates through one client
// over three active-active servers, 16 at a time. Every create succeeds
// once (ids and names unique, in the client's answers and in the store),
// the power-of-two-choices spread gives every server a fair share, and
// when one server goes away GETs keep succeeding on the others — also
// those in flight while it closes.
func TestActiveActiveSpreadAndFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("1 000 creates")
	}
	// A longer ZooKeeper session than cluster's 1s: nothing here waits for
	// an expiry, and under -race with 16 workers a 1s session (go-zookeeper
	// drops a connection silent for 2/3 of it) sometimes lost its
	// connection mid-create, failing that create with a 500 (livytest's
	// store does not retry on a lost connection).
	connect, root, servers := cluster(t, 3, discovery.ActiveActive, func(c *livytest.Config) { c.SessionTimeout = 10 * time.Second })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	fails := &failures{base: tr, n: make(map[string]int)}
	c, r := client(t, connect, root, discovery.ActiveActive, livyclient.WithHTTPClient(&http.Client{Transport: fails}))
	waitServers(t, r, 3, 10*time.Second)
	ctx := ctxT(t, 2*time.Minute)

	const total, workers = 1000, 16
	batches := make([]*livyclient.Batch, total)
	errs := make([]error, total)
	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				batches[i], errs[i] = c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/job.py"})
			}
		}()
	}
	for i := range total {
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(start)

	ids := make(map[int]bool, total)
	names := make(map[string]bool, total)
	for i, b := range batches {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if ids[b.ID] {
			t.Fatalf("batch id %d handed out twice", b.ID)
		}
		ids[b.ID] = true
		if b.Name == nil || names[*b.Name] {
			t.Fatalf("batch %d: name %v missing or repeated", b.ID, b.Name)
		}
		names[*b.Name] = true
	}
	counts := make(map[int]int)
	for _, s := range servers {
		n, _ := created(s)
		counts[s.ID()] = n
	}
	t.Logf("%d creates, %d workers, in %s (%.0f/s); created per server: %v",
		total, workers, took.Round(time.Millisecond), float64(total)/took.Seconds(), counts)
	sum := 0
	for id, n := range counts {
		sum += n
		if n < total/5 {
			t.Errorf("server %d created %d of %d batches, want at least 20%%", id, n, total)
		}
	}
	if sum != total {
		t.Fatalf("servers created %d batches in all, want %d (a create ran twice?)", sum, total)
	}
	// The store agrees, whichever server answers.
	list, err := c.Batches.List(ctx, &livyclient.ListOptions{Size: 2 * total})
	if err != nil || list.Total != total || len(list.Sessions) != total {
		t.Fatalf("list: %v batches (total %v), %v", len(list.Sessions), list.Total, err)
	}
	listed := make(map[string]bool, total)
	for _, b := range list.Sessions {
		if b.Name == nil || listed[*b.Name] || !names[*b.Name] {
			t.Fatalf("listed batch %d: name %v missing, repeated or unknown", b.ID, b.Name)
		}
		listed[*b.Name] = true
	}

	// GETs of every batch, 16 at a time, while server 1 closes a third of
	// the way in, then again once it is gone: all succeed.
	getAll := func(during func()) time.Duration {
		var next, done atomic.Int64
		var once sync.Once
		third := make(chan struct{})
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= total {
						return
					}
					b := batches[i]
					got, err := c.Batches.Get(ctx, b.ID)
					if err != nil || got.ID != b.ID || *got.Name != *b.Name {
						t.Errorf("GET batch %d: %+v, %v", b.ID, got, err)
						return
					}
					if done.Add(1) == total/3 {
						once.Do(func() { close(third) })
					}
				}
			}()
		}
		if during != nil {
			<-third
			during()
		}
		wg.Wait()
		return time.Since(start)
	}
	_, before := created(servers[0])
	tookGets := getAll(func() {
		if err := servers[0].Close(); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	_, during := created(servers[0])
	waitServers(t, r, 2, 5*time.Second)
	tookAfter := getAll(nil)
	_, after := created(servers[0])
	per := make(map[int]int)
	for _, s := range servers[1:] {
		_, n := created(s)
		per[s.ID()] = n
	}
	t.Logf("GETs of %d batches across the close of server 1: %s (server 1 answered %d of them; %d attempts on it failed and went to another server); "+
		"again after: %s; GETs answered per remaining server over both rounds: %v",
		total, tookGets.Round(time.Millisecond), during-before, fails.of(strings.TrimPrefix(servers[0].URL(), "http://")),
		tookAfter.Round(time.Millisecond), per)
	if after != during {
		t.Fatalf("the closed server answered %d GETs after it closed", after-during)
	}
}
