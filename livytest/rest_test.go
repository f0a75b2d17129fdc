package livytest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/livytest"
)

func TestBatchWireShapes(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{})
	c := noRedirect(t)
	u := s.URL()

	r := do(t, c, "POST", u+"/batches", `{"file":"local:///pi.py","name":"pi","args":["10"],"conf":{"spark.x":"1"}}`)
	expect(t, r, 201)
	expectJSON(t, r)
	if loc := r.header.Get("Location"); loc != "/batches/0" {
		t.Fatalf("Location %q, want /batches/0", loc)
	}
	b := r.obj(t)
	wantKeys(t, "batch view", b, batchKeys...)
	wantKeys(t, "appInfo", b["appInfo"].(map[string]any), appInfoKeys...)
	for k, v := range b["appInfo"].(map[string]any) {
		if v != nil {
			t.Fatalf("appInfo.%s = %v, want null", k, v)
		}
	}
	if b["id"] != 0.0 || b["name"] != "pi" || b["state"] != "starting" || b["appId"] != nil ||
		b["owner"] != nil || b["proxyUser"] != nil {
		t.Fatalf("batch view %v", b)
	}
	if _, ok := b["log"].([]any); !ok {
		t.Fatalf("log %v is not a list", b["log"])
	}

	r = do(t, c, "GET", u+"/batches", "")
	expect(t, r, 200)
	expectJSON(t, r)
	l := r.obj(t)
	wantKeys(t, "batch list", l, "from", "total", "sessions")
	if l["from"] != 0.0 || l["total"] != 1.0 {
		t.Fatalf("list %v", l)
	}
	wantKeys(t, "listed batch", l["sessions"].([]any)[0].(map[string]any), batchKeys...)

	r = do(t, c, "GET", u+"/batches?from=5&size=2", "")
	expect(t, r, 200)
	if l := r.obj(t); l["from"] != 5.0 || l["total"] != 1.0 || len(l["sessions"].([]any)) != 0 {
		t.Fatalf("paged list %v", l)
	}
	expectMsg(t, do(t, c, "GET", u+"/batches?from=abc", ""), 400, `For input string: "abc"`)

	r = do(t, c, "GET", u+"/batches/0/state", "")
	expect(t, r, 200)
	st := r.obj(t)
	wantKeys(t, "state", st, "id", "state")

	r = do(t, c, "GET", u+"/batches/0/log", "")
	expect(t, r, 200)
	lg := r.obj(t)
	wantKeys(t, "log", lg, "id", "from", "total", "log")

	// Errors.
	expectMsg(t, do(t, c, "GET", u+"/batches/7", ""), 404, "Session '7' not found.")
	expectMsg(t, do(t, c, "GET", u+"/batches/nope/state", ""), 404, "Session 'nope' not found.")
	expectMsg(t, do(t, c, "GET", u+"/batches/99999999999", ""), 400, `For input string: "99999999999"`)
	expectMsg(t, do(t, c, "POST", u+"/batches", `{"name":"nofile"}`), 400, "Rejected, Reason: requirement failed: File is required.")
	for _, body := range []string{`{"file":"x","bogus":1}`, `{"File":"x"}`, `{"file":`, `[]`, ``, `{"file":"x","driverCores":"two"}`} {
		r := do(t, c, "POST", u+"/batches", body)
		expect(t, r, 400)
		expectJSON(t, r)
		if msg := r.str(t); msg == "" {
			t.Fatalf("body %q: empty error string", body)
		}
	}
	if r := do(t, c, "POST", u+"/batches", `{"file":"x","bogus":1}`); !strings.Contains(r.str(t), `Unrecognized field "bogus"`) {
		t.Fatalf("unknown field error %s", r.body)
	}

	// DELETE, then the batch is gone.
	r = do(t, c, "DELETE", u+"/batches/pi", "")
	expectMsg(t, r, 200, "deleted")
	expectMsg(t, do(t, c, "GET", u+"/batches/0", ""), 404, "Session '0' not found.")
	r = do(t, c, "PUT", u+"/batches/0", "")
	expect(t, r, 405)

	r = do(t, c, "GET", u+"/version", "")
	expect(t, r, 200)
	wantKeys(t, "version", r.obj(t), "version", "user", "revision", "branch", "date", "url")
}

func TestSessionAndStatementWireShapes(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{Step: 20 * time.Millisecond})
	c := noRedirect(t)
	u := s.URL()

	r := do(t, c, "POST", u+"/sessions", `{"kind":"scala","name":"repl","driverMemory":"1g","conf":{"a":"b"}}`)
	expect(t, r, 201)
	if loc := r.header.Get("Location"); loc != "/sessions/0" {
		t.Fatalf("Location %q", loc)
	}
	sv := r.obj(t)
	wantKeys(t, "session view", sv, sessionKeys...)
	if sv["kind"] != "spark" || sv["state"] != "starting" || sv["driverCores"] != 0.0 || sv["numExecutors"] != 0.0 ||
		sv["driverMemory"] != "1g" || sv["ttl"] != nil || sv["queue"] != nil || sv["heartbeatTimeoutInSecond"] != 0.0 {
		t.Fatalf("session view %v", sv)
	}
	for _, k := range []string{"jars", "pyFiles", "files", "archives"} {
		if l, ok := sv[k].([]any); !ok || len(l) != 0 {
			t.Fatalf("%s = %v, want []", k, sv[k])
		}
	}

	// A statement while starting is refused as Livy does.
	r = do(t, c, "POST", u+"/sessions/0/statements", `{"code":"1+1"}`)
	expect(t, r, 500)
	if got := r.str(t); got != "java.lang.IllegalStateException: Session is in state starting" {
		t.Fatalf("500 body %q", got)
	}

	l := do(t, c, "GET", u+"/sessions", "")
	wantKeys(t, "session list", l.obj(t), "from", "total", "sessions")

	waitState(t, c, u+"/sessions/repl", "idle", 5*time.Second)
	r = do(t, c, "POST", u+"/sessions/repl/statements", `{"code":"1+1"}`)
	expect(t, r, 201)
	if loc := r.header.Get("Location"); loc != "/sessions/0/statements/0" {
		t.Fatalf("statement Location %q", loc)
	}
	stm := r.obj(t)
	wantKeys(t, "statement", stm, statementKeys...)
	if stm["state"] != "waiting" || stm["output"] != nil || stm["started"] != 0.0 || stm["completed"] != 0.0 {
		t.Fatalf("new statement %v", stm)
	}

	r = do(t, c, "GET", u+"/sessions/0/statements", "")
	expect(t, r, 200)
	wantKeys(t, "statement list", r.obj(t), "total_statements", "statements")

	r = do(t, c, "GET", u+"/sessions/0/statements/5", "")
	expect(t, r, 404)
	if r.str(t) != "Statement not found" {
		t.Fatalf("404 body %s", r.body)
	}
	expectMsg(t, do(t, c, "GET", u+"/sessions/0/statements/x", ""), 400, `For input string: "x"`)

	var raw []byte
	waitFor(t, 5*time.Second, "statement available", func() bool {
		r := do(t, c, "GET", u+"/sessions/0/statements/0", "")
		raw = r.body
		return r.obj(t)["state"] == "available"
	})
	var got struct {
		Output   json.RawMessage `json:"output"`
		Progress json.RawMessage `json:"progress"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if want := `{"status":"ok","execution_count":0,"data":{"text/plain":"res0: Int = 2"}}`; string(got.Output) != want {
		t.Fatalf("output %s, want %s", got.Output, want)
	}
	if string(got.Progress) != "1.0" {
		t.Fatalf("progress %s, want 1.0", got.Progress)
	}

	r = do(t, c, "DELETE", u+"/sessions/0", "")
	expectMsg(t, r, 200, "deleted")
	expectMsg(t, do(t, c, "GET", u+"/sessions/repl", ""), 404, "Session 'repl' not found.")
}

func TestNames(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{})
	c := noRedirect(t)
	u := s.URL()

	expect(t, do(t, c, "POST", u+"/batches", `{"file":"a.jar","name":"etl"}`), 201) // id 0
	r := do(t, c, "GET", u+"/batches/etl", "")
	expect(t, r, 200)
	if r.obj(t)["id"] != 0.0 {
		t.Fatalf("by name: %v", r.obj(t))
	}
	// A duplicate consumes id 1, an all-digit name id 2 (Livy takes the id first).
	expectMsg(t, do(t, c, "POST", u+"/batches", `{"file":"b.jar","name":"etl"}`), 400,
		"Rejected, Reason: Duplicate session name: Some(etl) for session 1")
	expectMsg(t, do(t, c, "POST", u+"/batches", `{"file":"b.jar","name":"123"}`), 400,
		"Rejected, Reason: Invalid session name: 123")
	r = do(t, c, "POST", u+"/batches", `{"file":"b.jar","name":"etl2"}`)
	expect(t, r, 201)
	if r.header.Get("Location") != "/batches/3" {
		t.Fatalf("Location %q, want /batches/3", r.header.Get("Location"))
	}
	// Batch and interactive names are separate namespaces.
	expect(t, do(t, c, "POST", u+"/sessions", `{"name":"etl"}`), 201)
	// A freed name can be reused.
	expectMsg(t, do(t, c, "DELETE", u+"/batches/etl", ""), 200, "deleted")
	expect(t, do(t, c, "POST", u+"/batches", `{"file":"c.jar","name":"etl"}`), 201)
	// Bad ttl is rejected after the id is taken.
	expectMsg(t, do(t, c, "POST", u+"/sessions", `{"ttl":"10 parsecs"}`), 400, "Rejected, Reason: Invalid time string: 10 parsecs")
}

func TestBatchProgression(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{Step: 20 * time.Millisecond})
	c := noRedirect(t)
	u := s.URL()
	expect(t, do(t, c, "POST", u+"/batches", `{"file":"ok.py"}`), 201)
	expect(t, do(t, c, "POST", u+"/batches", `{"file":"will-fail.py"}`), 201)

	waitState(t, c, u+"/batches/0", "running", 5*time.Second)
	if b := do(t, c, "GET", u+"/batches/0", "").obj(t); b["appId"] == nil {
		t.Fatalf("running batch without appId: %v", b)
	}
	waitState(t, c, u+"/batches/0", "success", 5*time.Second)
	waitState(t, c, u+"/batches/1", "dead", 5*time.Second)

	// Log paging as Livy's serializeLogs.
	all := do(t, c, "GET", u+"/batches/0/log?size=-1", "").obj(t)
	total := num(t, all["total"])
	if total <= 10 || num(t, all["from"]) != 0 || len(all["log"].([]any)) != total {
		t.Fatalf("full log %v", all)
	}
	tail := do(t, c, "GET", u+"/batches/0/log?size=3", "").obj(t)
	if num(t, tail["from"]) != total-3 || len(tail["log"].([]any)) != 3 {
		t.Fatalf("tail %v", tail)
	}
	head := do(t, c, "GET", u+"/batches/0/log?from=0&size=2", "").obj(t)
	if head["log"].([]any)[0] != "stdout: " || len(head["log"].([]any)) != 2 {
		t.Fatalf("head %v", head)
	}
	// The view embeds the last 10 lines.
	if v := do(t, c, "GET", u+"/batches/0", "").obj(t); len(v["log"].([]any)) != 10 {
		t.Fatalf("view log %v", v["log"])
	}
}

func TestStatements(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{Step: 20 * time.Millisecond})
	c := noRedirect(t)
	u := s.URL()
	expect(t, do(t, c, "POST", u+"/sessions", `{}`), 201) // kind shared
	waitState(t, c, u+"/sessions/0", "idle", 5*time.Second)

	// A shared session needs the code kind.
	r := do(t, c, "POST", u+"/sessions/0/statements", `{"code":"1+1"}`)
	expect(t, r, 500)
	if !strings.Contains(r.str(t), "Code type should be specified if session kind is shared") {
		t.Fatalf("body %s", r.body)
	}

	expect(t, do(t, c, "POST", u+"/sessions/0/statements", `{"code":"6*7","kind":"pyspark"}`), 201)
	expect(t, do(t, c, "POST", u+"/sessions/0/statements", `{"code":"raise ValueError('boom')","kind":"python"}`), 201)
	if st := do(t, c, "GET", u+"/sessions/0/state", "").obj(t)["state"]; st != "busy" {
		t.Fatalf("session state with pending statements %v, want busy", st)
	}
	waitState(t, c, u+"/sessions/0", "idle", 5*time.Second)

	var list struct {
		Total      int `json:"total_statements"`
		Statements []struct {
			ID     int             `json:"id"`
			State  string          `json:"state"`
			Output json.RawMessage `json:"output"`
		} `json:"statements"`
	}
	if err := json.Unmarshal(do(t, c, "GET", u+"/sessions/0/statements", "").body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 2 || list.Statements[0].State != "available" || list.Statements[1].State != "available" {
		t.Fatalf("statements %+v", list)
	}
	if want := `{"status":"ok","execution_count":0,"data":{"text/plain":"42"}}`; string(list.Statements[0].Output) != want {
		t.Fatalf("ok output %s", list.Statements[0].Output)
	}
	var errOut map[string]any
	if err := json.Unmarshal(list.Statements[1].Output, &errOut); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "error output", errOut, "status", "execution_count", "ename", "evalue", "traceback")
	if errOut["status"] != "error" || errOut["execution_count"] != 1.0 || errOut["ename"] != "Error" {
		t.Fatalf("error output %v", errOut)
	}
	if d := do(t, c, "GET", u+"/sessions/0/statements?order=desc&size=1", "").obj(t); d["statements"].([]any)[0].(map[string]any)["id"] != 1.0 {
		t.Fatalf("desc order %v", d)
	}

	// Cancel a statement while it waits: cancelled, no output.
	expect(t, do(t, c, "POST", u+"/sessions/0/statements", `{"code":"sleep","kind":"spark"}`), 201)
	expectMsg(t, do(t, c, "POST", u+"/sessions/0/statements/2/cancel", ""), 200, "canceled")
	r = do(t, c, "GET", u+"/sessions/0/statements/2", "")
	stm := r.obj(t)
	if stm["state"] != "cancelled" || stm["output"] != nil || stm["progress"] != 1.0 {
		t.Fatalf("cancelled statement %v", stm)
	}
	// Cancelling a finished or unknown statement is a no-op.
	expectMsg(t, do(t, c, "POST", u+"/sessions/0/statements/0/cancel", ""), 200, "canceled")
	expectMsg(t, do(t, c, "POST", u+"/sessions/0/statements/9/cancel", ""), 200, "canceled")
}

func TestCSRF(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{CSRF: true})
	c := noRedirect(t)
	r := do(t, c, "POST", s.URL()+"/batches", `{"file":"a.py"}`)
	expect(t, r, 400)
	if string(r.body) != "Missing Required Header for CSRF protection." || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("CSRF rejection %q (%s)", r.body, r.header.Get("Content-Type"))
	}
	expect(t, do(t, c, "POST", s.URL()+"/batches", `{"file":"a.py"}`, "X-Requested-By", ""), 201)
	expect(t, do(t, c, "GET", s.URL()+"/batches", ""), 200)
	expect(t, do(t, c, "DELETE", s.URL()+"/batches/0", ""), 400)
	expectMsg(t, do(t, c, "DELETE", s.URL()+"/batches/0", "", "X-Requested-By", "livy"), 200, "deleted")
}

func TestBasicAuth(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{BasicAuth: &livytest.BasicAuth{User: "alice", Password: "secret"}})
	c := noRedirect(t)
	for _, hdr := range [][]string{nil, {"Authorization", "Basic YWxpY2U6d3Jvbmc="}} { // alice:wrong
		r := do(t, c, "GET", s.URL()+"/batches", "", hdr...)
		expect(t, r, 401)
		if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="livy"` || len(r.body) != 0 {
			t.Fatalf("401: WWW-Authenticate %q, body %q", got, r.body)
		}
	}
	auth := []string{"Authorization", "Basic YWxpY2U6c2VjcmV0"} // alice:secret
	r := do(t, c, "POST", s.URL()+"/batches", `{"file":"a.py"}`, auth...)
	expect(t, r, 201)
	if owner := r.obj(t)["owner"]; owner != "alice" {
		t.Fatalf("owner %v, want alice", owner)
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].Status != 401 || reqs[2].Status != 201 || reqs[2].Method != "POST" ||
		reqs[2].Path != "/batches" || reqs[2].Header.Get("Authorization") == "" {
		t.Fatalf("request log %+v", reqs)
	}
}
