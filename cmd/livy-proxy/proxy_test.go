package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livytest"
)

func TestMain(m *testing.M) {
	getenv = func(string) string { return "" } // hermetic: flags only
	code := m.Run()
	zktest.StopShared()
	testutil.RemoveBinaries()
	os.Exit(code)
}

// syncBuffer is a goroutine-safe buffer for a command's output.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed (and replaced) by each write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// waitFor waits (up to d) until the output contains sub.
func (s *syncBuffer) waitFor(sub string, d time.Duration) bool {
	timeout := time.After(d)
	for {
		s.mu.Lock()
		if strings.Contains(s.b.String(), sub) {
			s.mu.Unlock()
			return true
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			return false
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// started is a livy-proxy run in this process.
type started struct {
	url    string
	stderr *syncBuffer
	stop   context.CancelFunc
	code   chan int
}

// startProxy runs livy-proxy with args (plus --listen on a free port) and
// returns once it listens. It is stopped at cleanup.
func startProxy(t testing.TB, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &started{stderr: &syncBuffer{}, stop: cancel, code: make(chan int, 1)}
	go func() {
		s.code <- run(ctx, append([]string{"--listen", "127.0.0.1:0", "--log-level", "debug"}, args...), pw, s.stderr)
		pw.Close()
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case line, ok := <-lines:
		if !ok || !strings.Contains(line, "listening on ") {
			t.Fatalf("livy-proxy did not start: %q; stderr:\n%s", line, s.stderr)
		}
		f := strings.Fields(line[strings.Index(line, "listening on ")+len("listening on "):])
		s.url = f[0]
	case <-time.After(20 * time.Second):
		t.Fatalf("livy-proxy did not start; stderr:\n%s", s.stderr)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.code:
		case <-time.After(40 * time.Second):
			t.Errorf("livy-proxy did not stop")
		}
	})
	return s
}

// call sends a request to the proxy and returns the status and body.
func call(t testing.TB, method, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	hc := &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func batchNames(t *testing.T, proxyURL string) []string {
	t.Helper()
	code, _, body := call(t, "GET", proxyURL+"/batches?size=1000", "")
	if code != 200 {
		t.Fatalf("GET /batches: %d %s", code, body)
	}
	var l struct {
		Total    int `json:"total"`
		Sessions []struct {
			Name *string `json:"name"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range l.Sessions {
		n := "<null>"
		if s.Name != nil {
			n = *s.Name
		}
		out = append(out, n)
	}
	return out
}

func TestCreateNamesAndLocation(t *testing.T) {
	testutil.NoLeaks(t)
	srv := livytest.NewServer(t, livytest.Config{})
	p := startProxy(t, "--endpoints", srv.URL())

	code, hdr, body := call(t, "POST", p.url+"/batches", `{"file":"local:/a.jar","conf":{"spark.x":"1"}}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var b struct {
		ID   int     `json:"id"`
		Name *string `json:"name"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatal(err)
	}
	if b.Name == nil || !strings.HasPrefix(*b.Name, "livyha-") {
		t.Errorf("a create without a name got name %v, want a generated livyha-…", b.Name)
	}
	if got, want := hdr.Get("Location"), fmt.Sprintf("/batches/%d", b.ID); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	// A given name is kept, and the batch is found by it.
	code, _, body = call(t, "POST", p.url+"/batches/", `{"file":"local:/a.jar","name":"mine"}`)
	if code != http.StatusCreated || !strings.Contains(body, `"name":"mine"`) {
		t.Fatalf("create named: %d %s", code, body)
	}
	// Livy's own rejection of a duplicate name passes through.
	code, _, body = call(t, "POST", p.url+"/batches", `{"file":"local:/a.jar","name":"mine"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "Duplicate") {
		t.Errorf("duplicate name: %d %s, want Livy's 400", code, body)
	}
	// Unknown fields reach Livy, which rejects them as it does.
	code, _, body = call(t, "POST", p.url+"/batches", `{"file":"local:/a.jar","bogus":1}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "bogus") {
		t.Errorf("unknown field: %d %s, want Livy's 400 naming it", code, body)
	}
	// Not a JSON object: passed through as it is, for Livy to reject.
	code, _, body = call(t, "POST", p.url+"/batches", `not json`)
	if code != http.StatusBadRequest {
		t.Errorf("bad JSON: %d %s, want Livy's 400", code, body)
	}
	if names := batchNames(t, p.url); len(names) != 2 {
		t.Errorf("batches %v, want 2", names)
	}
}

func TestGenerateNamesOff(t *testing.T) {
	testutil.NoLeaks(t)
	srv := livytest.NewServer(t, livytest.Config{})
	p := startProxy(t, "--endpoints", srv.URL(), "--generate-names=false")
	code, _, body := call(t, "POST", p.url+"/sessions", `{"kind":"spark"}`)
	if code != http.StatusCreated || !strings.Contains(body, `"name":null`) {
		t.Fatalf("create: %d %s, want 201 without a name", code, body)
	}
}

// A create whose answer is lost after the server committed it is looked up
// by its name, not created twice.
func TestCreateAnswerLost(t *testing.T) {
	testutil.NoLeaks(t)
	var aborted atomic.Int32
	srv := livytest.NewServer(t, livytest.Config{AbortAfterCommit: func(r *http.Request) bool {
		return r.Method == "POST" && aborted.Add(1) == 1
	}})
	p := startProxy(t, "--endpoints", srv.URL())
	code, _, body := call(t, "POST", p.url+"/batches", `{"file":"local:/a.jar"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	if aborted.Load() != 1 {
		t.Fatalf("the server cut %d answers, want 1", aborted.Load())
	}
	if names := batchNames(t, p.url); len(names) != 1 {
		t.Errorf("batches %v, want exactly 1", names)
	}
	_, _, metrics := call(t, "GET", p.url+"/metrics", "")
	if !strings.Contains(metrics, `livy_proxy_requests_total{outcome="answered"}`) {
		t.Errorf("metrics lack the answered count:\n%s", metrics)
	}
}

func TestMaxBody(t *testing.T) {
	testutil.NoLeaks(t)
	srv := livytest.NewServer(t, livytest.Config{})
	p := startProxy(t, "--endpoints", srv.URL(), "--max-body", "64")
	code, _, body := call(t, "POST", p.url+"/batches", `{"file":"local:/`+strings.Repeat("a", 100)+`.jar"}`)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "--max-body") {
		t.Errorf("oversized body: %d %s, want 413 naming --max-body", code, body)
	}
	for _, r := range srv.Requests() {
		if r.Method == "POST" {
			t.Errorf("the server got %s %s", r.Method, r.Path)
		}
	}
	_, _, metrics := call(t, "GET", p.url+"/metrics", "")
	if !strings.Contains(metrics, `livy_proxy_requests_total{outcome="too_large"} 1`) {
		t.Errorf("metrics lack too_large 1")
	}
}

func TestCredentials(t *testing.T) {
	testutil.NoLeaks(t)
	srv := livytest.NewServer(t, livytest.Config{BasicAuth: &livytest.BasicAuth{User: "alice", Password: "s3cret"}})

	t.Run("forwarded", func(t *testing.T) {
		p := startProxy(t, "--endpoints", srv.URL())
		code, _, body := call(t, "GET", p.url+"/batches", "", "Authorization", basic("alice", "s3cret"))
		if code != 200 {
			t.Errorf("with the caller's credentials: %d %s", code, body)
		}
		if code, _, _ := call(t, "GET", p.url+"/batches", ""); code != http.StatusUnauthorized {
			t.Errorf("without credentials: %d, want Livy's 401", code)
		}
		code, _, body = call(t, "POST", p.url+"/batches", `{"file":"x"}`, "Authorization", basic("alice", "s3cret"))
		if code != http.StatusCreated {
			t.Errorf("create with the caller's credentials: %d %s", code, body)
		}
		// Debug logging on: still no credential in any line.
		if log := p.stderr.String(); strings.Contains(log, strings.TrimPrefix(basic("alice", "s3cret"), "Basic ")) || strings.Contains(log, "s3cret") {
			t.Errorf("a credential is in the proxy's log:\n%s", log)
		}
	})
	t.Run("own", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startProxy(t, "--endpoints", srv.URL(), "--user", "alice", "--password-file", pw)
		before := len(srv.Requests())
		code, _, body := call(t, "GET", p.url+"/batches", "", "Authorization", basic("mallory", "x"), "Cookie", "hadoop.auth=stolen")
		if code != 200 {
			t.Errorf("with the proxy's credentials: %d %s", code, body)
		}
		for _, r := range srv.Requests()[before:] {
			if r.Header.Get("Cookie") != "" {
				t.Errorf("the caller's cookie reached the server")
			}
			if got := r.Header.Get("Authorization"); got != basic("alice", "s3cret") {
				t.Errorf("server got Authorization %q, want the proxy's", got)
			}
		}
		if strings.Contains(p.stderr.String(), "s3cret") {
			t.Errorf("the password is in the log")
		}
	})
}

func basic(u, p string) string {
	r, _ := http.NewRequest("GET", "http://x", nil)
	r.SetBasicAuth(u, p)
	return r.Header.Get("Authorization")
}

// A member redirecting outside the cluster gets nothing sent there, and
// the caller a 502 that says why.
func TestRedirectOutsideRefused(t *testing.T) {
	testutil.NoLeaks(t)
	var hit atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit.Add(1)
	}))
	defer evil.Close()
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" {
			fmt.Fprint(w, `{"version":"0.9.0-incubating"}`)
			return
		}
		w.Header().Set("Location", evil.URL+r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer hostile.Close()
	p := startProxy(t, "--endpoints", hostile.URL)
	code, _, body := call(t, "GET", p.url+"/batches", "", "Authorization", basic("alice", "s3cret"))
	if code != http.StatusBadGateway || !strings.Contains(body, "not a cluster member") {
		t.Errorf("redirect outside: %d %s, want 502 saying so", code, body)
	}
	if hit.Load() != 0 {
		t.Errorf("the non-member got %d requests", hit.Load())
	}
	_, _, metrics := call(t, "GET", p.url+"/metrics", "")
	if !strings.Contains(metrics, `livy_proxy_requests_total{outcome="refused_redirect"} 1`) ||
		strings.Contains(metrics, `livy_proxy_redirects_total{result="refused"} 0`) ||
		!strings.Contains(metrics, `livy_proxy_redirects_total{result="followed"} 0`) {
		t.Errorf("metrics miss the refused redirect:\n%s", metrics)
	}
}

func TestHealthAndSelfURL(t *testing.T) {
	testutil.NoLeaks(t)
	srv := livytest.NewServer(t, livytest.Config{})
	p := startProxy(t, "--endpoints", srv.URL())
	code, _, body := call(t, "GET", p.url+healthPath, "")
	if code != 200 || !strings.Contains(body, `"active":"`+srv.URL()) {
		t.Errorf("health: %d %s, want 200 naming %s", code, body, srv.URL())
	}
	// Livy redirects GET / to its UI on itself: the proxy points it back
	// at itself.
	code, hdr, _ := call(t, "GET", p.url+"/", "")
	if code != http.StatusFound || hdr.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d Location %q, want 302 /ui/", code, hdr.Get("Location"))
	}
	_, _, metrics := call(t, "GET", p.url+"/metrics", "")
	for _, want := range []string{`livy_proxy_active_server{server="` + srv.URL() + `"} 1`, "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A stop (SIGTERM: run's context ends) waits for the request in flight.
func TestDrain(t *testing.T) {
	testutil.NoLeaks(t)
	got := make(chan struct{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(got)
			<-release
		}
		fmt.Fprint(w, `{"version":"0.9.0-incubating"}`)
	}))
	defer slow.Close()
	p := startProxy(t, "--endpoints", slow.URL)
	res := make(chan int, 1)
	go func() {
		resp, err := http.Get(p.url + "/slow")
		if err != nil {
			res <- -1
			return
		}
		resp.Body.Close()
		res <- resp.StatusCode
	}()
	<-got
	p.stop()
	// Shutdown has begun when the proxy says so; only then is the answer
	// released.
	if !p.stderr.waitFor("draining", 20*time.Second) {
		t.Fatalf("no drain message; stderr:\n%s", p.stderr)
	}
	if _, err := http.Get(p.url + "/version"); err == nil {
		t.Errorf("the proxy still accepts new connections while draining")
	}
	close(release)
	if code := <-res; code != 200 {
		t.Errorf("the request in flight got %d, want 200", code)
	}
	if code := <-p.code; code != 0 {
		t.Errorf("exit %d after a drain, want 0", code)
	}
	p.code <- 0 // for the cleanup
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--max-body", "0", "--endpoints", "x:1"},
		{"--log-level", "loud", "--endpoints", "x:1"},
		{"extra", "--endpoints", "x:1"},
		{"--endpoints", "x:1", "--user", "a"},
		{"--endpoints", "x:1", "--keytab", "k"},
		{"--endpoints", "x:1", "--user", "a", "--password-file", "/nonexistent", "--token-file", "t"},
		{},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d (%s), want 2", args, code, errb.String())
		}
		if !strings.HasPrefix(errb.String(), "livy-proxy: ") {
			t.Errorf("%q: stderr %q", args, errb.String())
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "--max-body") {
		t.Errorf("-h: %d %q", code, out.String())
	}
}

// A statement posted to a session that is not ready (starting here;
// recovering after a failover) is held until the session can run it,
// where Livy itself answers 500 and runs nothing.
func TestStatementWaitsForSession(t *testing.T) {
	testutil.NoLeaks(t)
	srv := livytest.NewServer(t, livytest.Config{Step: 100 * time.Millisecond})
	p := startProxy(t, "--endpoints", srv.URL())
	code, _, body := call(t, "POST", p.url+"/sessions", `{"kind":"spark"}`)
	if code != http.StatusCreated || !strings.Contains(body, `"state":"starting"`) {
		t.Fatalf("create: %d %s, want 201 starting", code, body)
	}
	var s struct{ ID int }
	_ = json.Unmarshal([]byte(body), &s)
	// Livy's own answer, directly.
	if code, _, body := call(t, "POST", fmt.Sprintf("%s/sessions/%d/statements", srv.URL(), s.ID), `{"code":"1+1"}`); code != 500 {
		t.Fatalf("direct statement to a starting session: %d %s, want Livy's 500", code, body)
	}
	code, hdr, body := call(t, "POST", fmt.Sprintf("%s/sessions/%d/statements", p.url, s.ID), `{"code":"1+1"}`)
	if code != http.StatusCreated || !strings.Contains(body, `"code":"1+1"`) {
		t.Fatalf("statement through the proxy: %d %s, want 201", code, body)
	}
	if loc := hdr.Get("Location"); !strings.HasPrefix(loc, fmt.Sprintf("/sessions/%d/statements/", s.ID)) {
		t.Errorf("Location %q", loc)
	}
}

// Livy's CSRF filter refuses a POST or DELETE without X-Requested-By;
// callers such as curl send none, so the transport adds it to those (not
// to GETs, which the filter lets through).
func TestCSRFHeaderAdded(t *testing.T) {
	testutil.NoLeaks(t)
	srv := livytest.NewServer(t, livytest.Config{CSRF: true})
	if code, _, _ := call(t, "POST", srv.URL()+"/batches", `{"file":"x"}`); code != http.StatusBadRequest {
		t.Fatalf("direct POST without X-Requested-By: %d, want Livy's 400", code)
	}
	p := startProxy(t, "--endpoints", srv.URL())
	code, _, body := call(t, "POST", p.url+"/batches", `{"file":"x"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST through the proxy: %d %s", code, body)
	}
	var b struct{ ID int }
	_ = json.Unmarshal([]byte(body), &b)
	if code, _, body := call(t, "DELETE", fmt.Sprintf("%s/batches/%d", p.url, b.ID), ""); code != http.StatusOK {
		t.Fatalf("DELETE through the proxy: %d %s", code, body)
	}
	for _, r := range srv.Requests() {
		has := r.Header.Get("X-Requested-By") != ""
		if (r.Method == "GET") == has && r.Status != http.StatusBadRequest {
			t.Errorf("%s %s: X-Requested-By %v", r.Method, r.Path, has)
		}
	}
}
