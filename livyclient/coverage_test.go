package livyclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// standalone starts a standalone livytest server of profile and a client.
func standalone(t *testing.T, cfg livytest.Config) (*livytest.Server, *livyclient.Client) {
	t.Helper()
	if cfg.Step == 0 {
		cfg.Step = 10 * time.Millisecond
	}
	srv := livytest.NewServer(t, cfg)
	c, err := livyclient.New(livyclient.WithEndpoints(srv.URL()), livyclient.WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func idleSession(t *testing.T, ctx context.Context, c *livyclient.Client, req *livyclient.CreateSessionRequest) *livyclient.Session {
	t.Helper()
	s, err := c.Sessions.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = c.Sessions.Wait(ctx, s.ID, livyclient.StateIdle); err != nil {
		t.Fatal(err)
	}
	return s
}

func run(t *testing.T, ctx context.Context, c *livyclient.Client, id int, code string) *livyclient.Statement {
	t.Helper()
	st, err := c.Statements.Run(ctx, id, &livyclient.StatementRequest{Code: code})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = c.Statements.Wait(ctx, id, st.ID); err != nil {
		t.Fatal(err)
	}
	return st
}

func stmtIDs(l *livyclient.StatementList) []int {
	var ids []int
	for _, s := range l.Statements {
		ids = append(ids, s.ID)
	}
	return ids
}

// Paging and order of GET /sessions/{id}/statements, per release: 0.7
// ignores order=desc (so does PR #212, on 0.7's servlets); List keeps
// answering everything, oldest first; the name works in place of the id.
func TestStatementListPagingAndOrder(t *testing.T) {
	testutil.NoLeaks(t)
	for _, tc := range []struct {
		profile  livytest.Profile
		descPage []int // Desc, From 1, Size 2
	}{
		{livytest.ProfileLivy07, []int{1, 2}},
		{livytest.ProfileLivy08, []int{2, 1}},
		{livytest.ProfileLivy09, []int{2, 1}},
	} {
		t.Run(string(tc.profile), func(t *testing.T) {
			ctx := ctxT(t, 30*time.Second)
			_, c := standalone(t, livytest.Config{Profile: tc.profile})
			s := idleSession(t, ctx, c, &livyclient.CreateSessionRequest{Kind: "spark", Name: "pager"})
			for i := range 4 {
				run(t, ctx, c, s.ID, strings.Repeat("1+", i)+"1")
			}
			all, err := c.Statements.List(ctx, s.ID)
			if err != nil || !slices.Equal(stmtIDs(all), []int{0, 1, 2, 3}) || all.TotalStatements != 4 {
				t.Fatalf("List: %v %v, want statements 0-3", all, err)
			}
			for _, q := range []struct {
				opts *livyclient.StatementListOptions
				want []int
			}{
				{nil, []int{0, 1, 2, 3}},
				{&livyclient.StatementListOptions{From: 1, Size: 2}, []int{1, 2}},
				{&livyclient.StatementListOptions{From: 3}, []int{3}},
				{&livyclient.StatementListOptions{From: 9}, nil},
				{&livyclient.StatementListOptions{Desc: true, From: 1, Size: 2}, tc.descPage},
			} {
				l, err := c.Statements.ListWithOptions(ctx, s.ID, q.opts)
				if err != nil || !slices.Equal(stmtIDs(l), q.want) || l.TotalStatements != 4 {
					t.Errorf("ListWithOptions(%+v) = %v (total %d), %v; want %v of 4", q.opts, stmtIDs(l), l.TotalStatements, err, q.want)
				}
				byName, err := c.Sessions.ByName("pager").Statements(ctx, q.opts)
				if err != nil || !slices.Equal(stmtIDs(byName), q.want) {
					t.Errorf("ByName.Statements(%+v) = %v, %v; want %v", q.opts, stmtIDs(byName), err, q.want)
				}
			}
			if st, err := c.Sessions.ByName("pager").Statement(ctx, 2); err != nil || st.ID != 2 || st.Code != "1+1+1" {
				t.Errorf("ByName.Statement(2) = %+v, %v", st, err)
			}
		})
	}
}

// POST /sessions/{id}/completion exists in every release; only the Scala
// interpreter completes; Livy's errors come back as *Error.
func TestComplete(t *testing.T) {
	testutil.NoLeaks(t)
	for _, p := range []livytest.Profile{livytest.ProfileLivy07, livytest.ProfileLivy09, livytest.ProfileLivyHA} {
		t.Run(string(p), func(t *testing.T) {
			ctx := ctxT(t, 30*time.Second)
			_, c := standalone(t, livytest.Config{Profile: p, Step: 100 * time.Millisecond})
			s, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark"})
			if err != nil {
				t.Fatal(err)
			}
			// Still starting (2 steps, 200ms): ensureRunning fails.
			_, err = c.Statements.Complete(ctx, s.ID, &livyclient.CompletionRequest{Code: "sc.", Kind: "spark", Cursor: 3})
			var le *livyclient.Error
			if !errors.As(err, &le) || le.StatusCode != 500 || !strings.Contains(le.Message, "Session is in state starting") {
				t.Errorf("completion while starting: %v, want 500 Session is in state starting", err)
			}
			if _, err := c.Sessions.Wait(ctx, s.ID, livyclient.StateIdle); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				req  livyclient.CompletionRequest
				want []string
			}{
				{livyclient.CompletionRequest{Code: "sc.par", Kind: "spark", Cursor: 6}, []string{"parallelize"}},
				{livyclient.CompletionRequest{Code: "val r = spark.s", Kind: "scala", Cursor: 15}, []string{"sparkContext", "sql", "stop"}},
				{livyclient.CompletionRequest{Code: "sc.par + 1", Kind: "spark", Cursor: 6}, []string{"parallelize"}},
				{livyclient.CompletionRequest{Code: "sc.par", Kind: "pyspark", Cursor: 6}, []string{}},
				{livyclient.CompletionRequest{Code: "x", Kind: "sql", Cursor: 1}, []string{}},
			} {
				got, err := c.Statements.Complete(ctx, s.ID, &tc.req)
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Complete(%+v) = %q, %v; want %q", tc.req, got, err, tc.want)
				}
			}
			for _, tc := range []struct {
				req  livyclient.CompletionRequest
				want string
			}{
				{livyclient.CompletionRequest{Code: "sc."}, "Invalid kind: null"},
				{livyclient.CompletionRequest{Code: "sc.", Kind: "cobol"}, "Invalid kind: cobol"},
				{livyclient.CompletionRequest{Code: "sc.", Kind: "spark", Cursor: 4}, "StringIndexOutOfBoundsException"},
			} {
				_, err := c.Statements.Complete(ctx, s.ID, &tc.req)
				if !errors.As(err, &le) || le.StatusCode != 500 || !strings.Contains(le.Message, tc.want) {
					t.Errorf("Complete(%+v): %v, want a 500 with %q", tc.req, err, tc.want)
				}
			}
			if _, err := c.Statements.Complete(ctx, 99, &livyclient.CompletionRequest{Code: "s", Kind: "spark", Cursor: 1}); !errors.Is(err, livyclient.ErrNotFound) {
				t.Errorf("completion of an unknown session: %v, want ErrNotFound", err)
			}
		})
	}
}

// The typed outputs, end to end: pyspark's %table, %json and %matplot
// magics, as Livy's fake_shell.py answers them.
func TestTypedOutputs(t *testing.T) {
	testutil.NoLeaks(t)
	ctx := ctxT(t, 30*time.Second)
	_, c := standalone(t, livytest.Config{Profile: livytest.ProfileLivy09})
	s := idleSession(t, ctx, c, &livyclient.CreateSessionRequest{Kind: "pyspark"})

	st := run(t, ctx, c, s.ID, "rows = [{'name': 'a', 'n': 1, 'w': 1.5}, {'name': 'b', 'n': 2, 'w': None}]\n%table rows")
	tab, err := st.Output.Table()
	if err != nil {
		t.Fatal(err)
	}
	wantHeaders := []livyclient.TableHeader{{Name: "n", Type: "INT_TYPE"}, {Name: "name", Type: "STRING_TYPE"}, {Name: "w", Type: "DOUBLE_TYPE"}}
	wantData := [][]any{{json.Number("1"), "a", json.Number("1.5")}, {json.Number("2"), "b", nil}}
	if !reflect.DeepEqual(tab.Headers, wantHeaders) || !reflect.DeepEqual(tab.Data, wantData) {
		t.Errorf("table %+v, want headers %v and rows %v", tab, wantHeaders, wantData)
	}
	if _, ok := st.Output.Text(); ok {
		t.Errorf("a %%table output also has text/plain: %v", st.Output.Data)
	}
	if err := st.Output.JSON(new(any)); !errors.Is(err, livyclient.ErrNoOutput) {
		t.Errorf("JSON of a table output: %v, want ErrNoOutput", err)
	}

	// A variable of an earlier statement.
	st = run(t, ctx, c, s.ID, "%json rows")
	var got []struct {
		Name string   `json:"name"`
		N    int      `json:"n"`
		W    *float64 `json:"w"`
	}
	if err := st.Output.JSON(&got); err != nil || len(got) != 2 || got[1].Name != "b" || got[0].W == nil || *got[0].W != 1.5 || got[1].W != nil {
		t.Errorf("JSON: %+v, %v", got, err)
	}

	st = run(t, ctx, c, s.ID, "import matplotlib.pyplot as plt\n%matplot plt")
	img, err := st.Output.PNG()
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != 4 || cfg.Height != 3 {
		t.Errorf("PNG: %v %v, want a 4×3 PNG", cfg, err)
	}

	// Livy's quirk: a magic on a missing variable is "ok", its data the
	// error reply fake_shell returned. No JSON there.
	st = run(t, ctx, c, s.ID, "%json nope")
	if st.Output.Status != "ok" {
		t.Errorf("%%json of a missing variable: status %q, want Livy's ok", st.Output.Status)
	}
	if err := st.Output.JSON(new(any)); !errors.Is(err, livyclient.ErrNoOutput) {
		t.Errorf("JSON of a missing variable: %v, want ErrNoOutput", err)
	}
	st = run(t, ctx, c, s.ID, "%nosuch x")
	if _, err := st.Output.PNG(); !errors.Is(err, livyclient.ErrNoOutput) || st.Output.EName != "UnknownMagic" {
		t.Errorf("unknown magic: %+v, %v; want an UnknownMagic error and ErrNoOutput", st.Output, err)
	}
	var nilOut *livyclient.StatementOutput
	if _, err := nilOut.Table(); !errors.Is(err, livyclient.ErrNoOutput) {
		t.Errorf("Table of no output: %v", err)
	}
}

// Decoding outputs as Livy's own tests expect them: SQLInterpreterSpec
// "execute sql queries" and PythonSessionSpec "do table magic"
// (repl/src/test/scala/org/apache/livy/repl/SQLInterpreterSpec.scala@0.9:
// 113-140, PythonSessionSpec.scala@0.9:89-107).
func TestOutputFixtures(t *testing.T) {
	var sql livyclient.StatementOutput
	if err := json.Unmarshal([]byte(`{"status":"ok","execution_count":0,"data":{"application/json":`+
		`{"schema":{"type":"struct","fields":[{"name":"name","type":"string","nullable":true,"metadata":[]},`+
		`{"name":"age","type":"integer","nullable":false,"metadata":[]}]},"data":[["Jerry",20],["Michael",21]]}}}`), &sql); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Schema struct {
			Fields []struct{ Name, Type string } `json:"fields"`
		} `json:"schema"`
		Data [][]any `json:"data"`
	}
	if err := sql.JSON(&res); err != nil || len(res.Schema.Fields) != 2 || res.Schema.Fields[1].Type != "integer" || res.Data[1][0] != "Michael" {
		t.Errorf("sql output: %+v %v", res, err)
	}
	var tab livyclient.StatementOutput
	if err := json.Unmarshal([]byte(`{"status":"ok","execution_count":0,"data":{"application/vnd.livy.table.v1+json":`+
		`{"headers":[{"type":"INT_TYPE","name":"0"},{"type":"STRING_TYPE","name":"1"}],"data":[[1,"a"],[3,"b"]]}}}`), &tab); err != nil {
		t.Fatal(err)
	}
	tt, err := tab.Table()
	want := &livyclient.Table{Headers: []livyclient.TableHeader{{Name: "0", Type: "INT_TYPE"}, {Name: "1", Type: "STRING_TYPE"}},
		Data: [][]any{{json.Number("1"), "a"}, {json.Number("3"), "b"}}}
	if err != nil || !reflect.DeepEqual(tt, want) {
		t.Errorf("table fixture: %+v %v, want %+v", tt, err, want)
	}
	bad := livyclient.StatementOutput{Status: "ok", Data: map[string]json.RawMessage{"image/png": json.RawMessage(`"not base64!"`)}}
	if _, err := bad.PNG(); err == nil || errors.Is(err, livyclient.ErrNoOutput) {
		t.Errorf("PNG of bad base64: %v, want a decoding error", err)
	}
}

// KeepAlive against Livy's heartbeat watchdog: a kept-alive session
// outlives several of its timeouts while abandoned ones are deleted; once
// stopped, it is deleted too.
func TestKeepAlive(t *testing.T) {
	testutil.NoLeaks(t)
	for _, p := range []livytest.Profile{livytest.ProfileLivy07, livytest.ProfileLivy09} {
		t.Run(string(p), func(t *testing.T) {
			ctx := ctxT(t, 60*time.Second)
			// One step is one Livy second: heartbeatTimeoutInSecond 30 is
			// 300ms, the watchdog runs every 2 Livy seconds (20ms).
			_, c := standalone(t, livytest.Config{Profile: p, Step: 10 * time.Millisecond,
				Timeouts: livytest.Timeouts{HeartbeatInterval: 2 * time.Second}})
			create := func() int {
				s, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark", HeartbeatTimeoutInSecond: 30})
				if err != nil {
					t.Fatal(err)
				}
				return s.ID
			}
			// listed polls the list, which names no session and so is no
			// heartbeat, until cond holds for the ids it lists.
			listed := func(what string, cond func(ids map[int]bool) bool) {
				t.Helper()
				for {
					l, err := c.Sessions.List(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					ids := map[int]bool{}
					for _, s := range l.Sessions {
						ids[s.ID] = true
					}
					if cond(ids) {
						return
					}
					select {
					case <-ctx.Done():
						t.Fatalf("timed out waiting for %s", what)
					case <-time.After(5 * time.Millisecond): // a poll interval
					}
				}
			}
			kept, abandoned := create(), create()
			kctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- c.Sessions.KeepAlive(kctx, kept, 25*time.Millisecond) }()

			gone := func(id int) func(map[int]bool) bool {
				return func(ids map[int]bool) bool {
					if !ids[kept] {
						t.Fatalf("the kept-alive session %d was deleted (waiting for %d to be)", kept, id)
					}
					return !ids[id]
				}
			}
			listed("the abandoned session to be deleted", gone(abandoned))
			// Two more timeouts of the kept session, each ended by the
			// watchdog deleting another abandoned session.
			for range 2 {
				listed("another abandoned session to be deleted", gone(create()))
			}
			stop()
			if err := <-done; err != nil {
				t.Errorf("KeepAlive after its context ended: %v, want nil", err)
			}
			listed("the session to be deleted once KeepAlive stopped", func(ids map[int]bool) bool { return !ids[kept] })
			if err := c.Sessions.KeepAlive(ctx, kept, 25*time.Millisecond); !errors.Is(err, livyclient.ErrNotFound) {
				t.Errorf("KeepAlive of a deleted session: %v, want ErrNotFound", err)
			}
			plain, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark"})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Sessions.KeepAlive(ctx, plain.ID, 0); !errors.Is(err, livyclient.ErrBadOption) {
				t.Errorf("KeepAlive(interval 0) of a session without heartbeat timeout: %v, want ErrBadOption", err)
			}
		})
	}
}

// doAs, as Livy treats it: ignored without impersonation; with it, it
// wins over the body's proxyUser, must be allowed (the user itself or a
// superuser), and a disallowed one is refused everywhere but …/state.
func TestDoAs(t *testing.T) {
	testutil.NoLeaks(t)
	ctx := ctxT(t, 30*time.Second)
	alice := livyclient.WithAuth(livyclient.BasicAuth{User: "alice", Password: "pw"})
	auth := &livytest.BasicAuth{User: "alice", Password: "pw"}
	proxy := func(b *livyclient.Batch) string {
		if b.ProxyUser == nil {
			return "<null>"
		}
		return *b.ProxyUser
	}

	off := livytest.NewServer(t, livytest.Config{BasicAuth: auth, Step: 10 * time.Millisecond})
	c, _ := livyclient.New(livyclient.WithEndpoints(off.URL()), alice)
	defer c.Close()
	b, err := c.Batches.Create(livyclient.WithDoAs(ctx, "bob"), &livyclient.CreateBatchRequest{File: "a.py"})
	if err != nil || proxy(b) != "<null>" {
		t.Errorf("impersonation off: %v, %v; want proxyUser null", b, err)
	}
	for _, r := range off.Requests() {
		if !strings.Contains(r.Path, "doAs=bob") {
			t.Errorf("%s %s was sent without doAs", r.Method, r.Path)
		}
	}

	super := livytest.NewServer(t, livytest.Config{BasicAuth: auth, Impersonation: true, SuperUsers: []string{"alice"}, Step: 10 * time.Millisecond})
	c, _ = livyclient.New(livyclient.WithEndpoints(super.URL()), alice)
	defer c.Close()
	for _, tc := range []struct {
		doAs, body, want string
	}{
		{"bob", "carol", "bob"}, // doAs wins
		{"", "carol", "carol"},
		{"", "", "alice"}, // the owner
	} {
		cctx := ctx
		if tc.doAs != "" {
			cctx = livyclient.WithDoAs(ctx, tc.doAs)
		}
		b, err := c.Batches.Create(cctx, &livyclient.CreateBatchRequest{File: "a.py", ProxyUser: tc.body})
		if err != nil || proxy(b) != tc.want {
			t.Errorf("superuser, doAs %q, proxyUser %q: %v, %v; want proxyUser %s", tc.doAs, tc.body, b, err, tc.want)
		}
	}

	plain := livytest.NewServer(t, livytest.Config{BasicAuth: auth, Impersonation: true, Step: 10 * time.Millisecond})
	c, _ = livyclient.New(livyclient.WithEndpoints(plain.URL()), alice)
	defer c.Close()
	asBob := livyclient.WithDoAs(ctx, "bob")
	_, err = c.Batches.Create(asBob, &livyclient.CreateBatchRequest{File: "a.py"})
	var le *livyclient.Error
	if !errors.Is(err, livyclient.ErrForbidden) || !errors.As(err, &le) || le.Message != "User 'alice' not allowed to impersonate 'Some(bob)'." {
		t.Errorf("doAs bob by alice, no superuser: %v, want Livy's 403", err)
	}
	mine, err := c.Batches.Create(livyclient.WithDoAs(ctx, "alice"), &livyclient.CreateBatchRequest{File: "a.py", Name: "mine"})
	if err != nil || proxy(mine) != "alice" {
		t.Fatalf("doAs herself: %v, %v", mine, err)
	}
	if _, err := c.Batches.State(asBob, mine.ID); err != nil {
		t.Errorf("GET …/state checks no access: %v", err)
	}
	if _, err := c.Batches.Get(asBob, mine.ID); !errors.Is(err, livyclient.ErrForbidden) {
		t.Errorf("GET of the view with a disallowed doAs: %v, want 403", err)
	}
	if _, err := c.Batches.Get(asBob, 99); !errors.Is(err, livyclient.ErrNotFound) {
		t.Errorf("GET of a missing batch with a disallowed doAs: %v, want 404 first", err)
	}
	if err := c.Batches.ByName("mine").Delete(asBob); !errors.Is(err, livyclient.ErrForbidden) {
		t.Errorf("DELETE with a disallowed doAs: %v, want 403", err)
	}
	if err := c.Batches.ByName("mine").Delete(ctx); err != nil {
		t.Errorf("DELETE by name: %v", err)
	}
}

// Name handles: every call goes out with the name in the path, as Livy
// accepts; a name that needs escaping works; a missing one is 404.
func TestByName(t *testing.T) {
	testutil.NoLeaks(t)
	ctx := ctxT(t, 30*time.Second)
	srv, c := standalone(t, livytest.Config{Profile: livytest.ProfileLivy09})
	b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "a.py", Name: "nightly etl"})
	if err != nil {
		t.Fatal(err)
	}
	nb := c.Batches.ByName("nightly etl")
	if got, err := nb.Get(ctx); err != nil || got.ID != b.ID {
		t.Errorf("Get: %v %v", got, err)
	}
	if st, err := nb.State(ctx); err != nil || st == "" {
		t.Errorf("State: %q %v", st, err)
	}
	if l, err := nb.Log(ctx, nil); err != nil || l.ID != b.ID {
		t.Errorf("Log: %v %v", l, err)
	}
	if err := nb.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.State(ctx); !errors.Is(err, livyclient.ErrNotFound) {
		t.Errorf("State after Delete: %v, want ErrNotFound", err)
	}
	s := idleSession(t, ctx, c, &livyclient.CreateSessionRequest{Kind: "spark", Name: "notebook"})
	ns := c.Sessions.ByName("notebook")
	if st, err := ns.State(ctx); err != nil || st != livyclient.StateIdle {
		t.Errorf("session State: %q %v", st, err)
	}
	if got, err := ns.Get(ctx); err != nil || got.ID != s.ID || ns.Name() != "notebook" {
		t.Errorf("session Get: %v %v", got, err)
	}
	if _, err := ns.Log(ctx, nil); err != nil {
		t.Errorf("session Log: %v", err)
	}
	if err := ns.Delete(ctx); err != nil {
		t.Errorf("session Delete: %v", err)
	}
	var paths []string
	for _, r := range srv.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	for _, want := range []string{"GET /batches/nightly%20etl/state", "DELETE /batches/nightly%20etl", "GET /sessions/notebook/log", "DELETE /sessions/notebook"} {
		if !slices.Contains(paths, want) {
			t.Errorf("no %q among the requests %q", want, paths)
		}
	}
}

// In a multi-active cluster names are per server: a name handle finds
// its batch on whichever server has it, and refuses a name two servers
// hold (NamedBatch's doc).
func TestByNameMultiActive(t *testing.T) {
	// No NoLeaks: the package's shared ZooKeeper may start here.
	connect, root, servers := cluster(t, 2, discovery.MultiActive, nil)
	c, r := client(t, connect, root, discovery.MultiActive)
	ctx := ctxT(t, 20*time.Second)
	if _, err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	onServer := map[int]string{} // server id → a name created there
	for i := 0; i < 40 && len(onServer) < 2; i++ {
		name := fmt.Sprintf("ma-%d", i)
		b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/f", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		onServer[b.ID/discovery.SessionIDBlock] = name
		got, err := c.Batches.GetByName(ctx, name)
		if err != nil || got.ID != b.ID {
			t.Errorf("batch %d by name: %v, %v", b.ID, got, err)
		}
		if _, err := c.Batches.ByName(name).State(ctx); err != nil {
			t.Errorf("batch %d state by name: %v", b.ID, err)
		}
	}
	if len(onServer) < 2 {
		t.Fatalf("40 creates never landed on both servers: %v", onServer)
	}
	if _, err := c.Batches.ByName("nowhere").Log(ctx, nil); !errors.Is(err, livyclient.ErrNotFound) {
		t.Errorf("a name no server has: %v, want ErrNotFound", err)
	}
	// The same name on both servers (each checks only its own): refused.
	for _, s := range servers {
		res, err := http.Post(s.URL()+"/batches", "application/json", strings.NewReader(`{"file":"/f","name":"twice"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create on %s: %d", s.URL(), res.StatusCode)
		}
	}
	if err := c.Batches.ByName("twice").Delete(ctx); !errors.Is(err, livyclient.ErrConflict) {
		t.Errorf("delete of a name two servers hold: %v, want ErrConflict", err)
	}
	name := onServer[2]
	if err := c.Batches.ByName(name).Delete(ctx); err != nil {
		t.Errorf("delete by name on server 2: %v", err)
	}
	if _, err := c.Batches.ByName(name).Get(ctx); !errors.Is(err, livyclient.ErrNotFound) {
		t.Errorf("after the delete: %v, want ErrNotFound", err)
	}
}
