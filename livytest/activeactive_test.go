package livytest_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/livytest"
)

// TestActiveActive: every server serves every session from the shared
// store — what one created, changed or deleted, the others see at once —
// ids come from one shared counter, names are unique cluster-wide, and
// nobody redirects.
func TestActiveActive(t *testing.T) {
	zkc, root, servers := haCluster(t, 3, discovery.ActiveActive)
	s1, s2, s3 := servers[0], servers[1], servers[2]
	c := noRedirect(t)

	r := do(t, c, "POST", s1.URL()+"/batches", `{"file":"a.py","name":"one"}`)
	expect(t, r, 201)
	if loc := r.header.Get("Location"); loc != "/batches/0" {
		t.Fatalf("Location %q", loc)
	}
	r = do(t, c, "POST", s2.URL()+"/batches", `{"file":"b.py"}`)
	if loc := r.header.Get("Location"); loc != "/batches/1" {
		t.Fatalf("Location from the second server %q, want /batches/1 (one shared counter)", loc)
	}
	for _, s := range servers {
		r := do(t, c, "GET", s.URL()+"/batches/0", "")
		expect(t, r, 200)
		wantKeys(t, "batch", r.obj(t), batchKeys...)
		if r.obj(t)["name"] != "one" {
			t.Fatalf("batch 0 via server %d: %v", s.ID(), r.obj(t))
		}
		expect(t, do(t, c, "GET", s.URL()+"/batches/one/state", ""), 200)
		if l := do(t, c, "GET", s.URL()+"/batches", "").obj(t); l["total"] != 2.0 {
			t.Fatalf("server %d lists %v", s.ID(), l)
		}
	}
	// Names are cluster-wide: another server refuses "one" (id consumed).
	expectMsg(t, do(t, c, "POST", s3.URL()+"/batches", `{"file":"x.py","name":"one"}`), 400,
		"Rejected, Reason: Duplicate session name: Some(one) for session 2")
	// A batch without file is rejected and, with no memory to keep it,
	// unknown afterwards.
	expectMsg(t, do(t, c, "POST", s3.URL()+"/batches", `{"name":"nofile"}`), 400,
		"Rejected, Reason: requirement failed: File is required.")
	expectMsg(t, do(t, c, "GET", s1.URL()+"/batches/3", ""), 404, "Session '3' not found.")

	// An interactive session created on one server, a statement posted
	// to another, its result read from the third.
	expect(t, do(t, c, "POST", s1.URL()+"/sessions", `{"kind":"spark","name":"nb"}`), 201)
	waitState(t, c, s2.URL()+"/sessions/0", "idle", 5*time.Second)
	r = do(t, c, "POST", s2.URL()+"/sessions/nb/statements", `{"code":"20+22"}`)
	expect(t, r, 201)
	if loc := r.header.Get("Location"); loc != "/sessions/0/statements/0" {
		t.Fatalf("statement Location %q", loc)
	}
	waitFor(t, 5*time.Second, "the statement, via a third server", func() bool {
		return do(t, c, "GET", s3.URL()+"/sessions/0/statements/0", "").obj(t)["state"] == "available"
	})
	out := do(t, c, "GET", s3.URL()+"/sessions/0/statements/0", "").obj(t)["output"].(map[string]any)
	if out["data"].(map[string]any)["text/plain"] != "res0: Int = 42" {
		t.Fatalf("output %v", out)
	}

	// A delete on one server is seen by all, and frees the name.
	expect(t, do(t, c, "DELETE", s2.URL()+"/batches/one", ""), 200)
	expectMsg(t, do(t, c, "GET", s1.URL()+"/batches/0", ""), 404, "Session '0' not found.")
	expectMsg(t, do(t, c, "GET", s3.URL()+"/batches/one", ""), 404, "Session 'one' not found.")
	expectMsg(t, do(t, c, "DELETE", s3.URL()+"/batches/0", ""), 404, "Session '0' not found.")
	r = do(t, c, "POST", s3.URL()+"/batches", `{"file":"c.py","name":"one"}`)
	expect(t, r, 201)
	if r.obj(t)["id"] != 4.0 {
		t.Fatalf("re-created %v", r.obj(t))
	}

	// Livy's state-store layout: one shared counter per type.
	conn := zkConn(t, zkc)
	if data, _, err := conn.Get(root + "/v1/batch/state"); err != nil || string(data) != `{"nextSessionId":5}` {
		t.Fatalf("batch counter %q, %v", data, err)
	}
	for _, s := range servers {
		for _, req := range s.Requests() {
			if req.Status == http.StatusTemporaryRedirect {
				t.Fatalf("server %d redirected %s %s", s.ID(), req.Method, req.Path)
			}
		}
	}
}

// raw is a request for goroutines (no t.Fatal).
func raw(c *http.Client, method, url, body string) (resp, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return resp{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}, err
}

// TestActiveActiveConcurrentMutations: servers changing one record at the
// same time lose nothing (version-checked writes), and of concurrent
// creates with one name on different servers exactly one wins.
func TestActiveActiveConcurrentMutations(t *testing.T) {
	_, _, servers := haCluster(t, 3, discovery.ActiveActive)
	c := noRedirect(t)
	expect(t, do(t, c, "POST", servers[0].URL()+"/sessions", `{"kind":"spark"}`), 201)
	waitState(t, c, servers[0].URL()+"/sessions/0", "idle", 5*time.Second)

	const n = 30
	type result struct {
		r   resp
		err error
	}
	run := func(f func(i int) (resp, error)) []result {
		out := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := f(i)
				out[i] = result{r, err}
			}()
		}
		wg.Wait()
		return out
	}
	on := func(i int) *livytest.Server { return servers[i%len(servers)] }

	var ids []int
	for _, res := range run(func(i int) (resp, error) {
		return raw(c, "POST", on(i).URL()+"/sessions/0/statements", fmt.Sprintf(`{"code":"%d+0"}`, i))
	}) {
		if res.err != nil || res.r.status != 201 {
			t.Fatalf("concurrent statement: %v %v", res.r, res.err)
		}
		ids = append(ids, num(t, res.r.obj(t)["id"]))
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id != i {
			t.Fatalf("statement ids %v, want 0..%d once each", ids, n-1)
		}
	}
	for _, s := range servers {
		if l := do(t, c, "GET", s.URL()+"/sessions/0/statements", "").obj(t); l["total_statements"] != float64(n) {
			t.Fatalf("server %d: %v statements, want %d", s.ID(), l["total_statements"], n)
		}
	}

	won := 0
	seen := map[int]bool{}
	for _, res := range run(func(i int) (resp, error) {
		return raw(c, "POST", on(i).URL()+"/batches", `{"file":"a.py","name":"same"}`)
	}) {
		switch {
		case res.err != nil:
			t.Fatal(res.err)
		case res.r.status == 201:
			won++
			seen[num(t, res.r.obj(t)["id"])] = true
		case res.r.status == 400 && strings.Contains(string(res.r.body), "Duplicate session name: Some(same) for session "):
		default:
			t.Fatalf("concurrent create: %v", res.r)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent creates named \"same\" succeeded, want 1", won)
	}
	for _, s := range servers {
		if l := do(t, c, "GET", s.URL()+"/batches", "").obj(t); l["total"] != 1.0 {
			t.Fatalf("server %d lists %v", s.ID(), l)
		}
	}
	// Concurrent deletes of one batch: one deletes it, the others lost
	// the race or find nothing.
	deleted := 0
	for _, res := range run(func(i int) (resp, error) {
		return raw(c, "DELETE", on(i).URL()+"/batches/same", "")
	}) {
		switch {
		case res.err != nil:
			t.Fatal(res.err)
		case res.r.status == 200:
			deleted++
		case res.r.status != 404:
			t.Fatalf("concurrent delete: %v", res.r)
		}
	}
	if deleted != 1 {
		t.Fatalf("%d concurrent deletes succeeded, want 1", deleted)
	}
}
