package livytest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	zktest.StopShared()
	os.Exit(code)
}

var rootSeq atomic.Int64

// testRoot returns a fresh discovery root for a test.
func testRoot(t *testing.T) string {
	return fmt.Sprintf("/lt%d-%s", rootSeq.Add(1), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()))
}

// noRedirect is a client that returns 3xx responses instead of following
// them.
func noRedirect(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// obj decodes the body as a JSON object.
func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// str decodes the body as a JSON string literal.
func (r resp) str(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("body %q is not a JSON string: %v", r.body, err)
	}
	return s
}

func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) resp {
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
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func expect(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// expectMsg checks a {"msg":...} error body.
func expectMsg(t *testing.T, r resp, status int, msg string) {
	t.Helper()
	expect(t, r, status)
	m := r.obj(t)
	wantKeys(t, "error body", m, "msg")
	if m["msg"] != msg {
		t.Fatalf("msg %q, want %q", m["msg"], msg)
	}
	expectJSON(t, r)
}

func expectJSON(t *testing.T, r resp) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json;charset=utf-8" {
		t.Fatalf("Content-Type %q, want application/json;charset=utf-8", ct)
	}
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s keys %v, want %v", what, got, want)
	}
}

var (
	batchKeys     = []string{"id", "name", "owner", "proxyUser", "state", "appId", "appInfo", "log"}
	appInfoKeys   = []string{"driverLogUrl", "sparkUiUrl", "executorLogUrls"}
	sessionKeys   = []string{"id", "name", "appId", "owner", "proxyUser", "state", "kind", "appInfo", "log", "ttl", "idleTimeout", "driverMemory", "driverCores", "executorMemory", "executorCores", "conf", "archives", "files", "heartbeatTimeoutInSecond", "jars", "numExecutors", "pyFiles", "queue"}
	statementKeys = []string{"id", "code", "state", "output", "progress", "started", "completed"}
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState polls GET <url>/state until it reports want.
func waitState(t *testing.T, c *http.Client, url, want string, timeout time.Duration) {
	t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for {
		r := do(t, c, "GET", url+"/state", "")
		expect(t, r, 200)
		last, _ = r.obj(t)["state"].(string)
		if last == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %q after %s, want %q", url, last, timeout, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func num(t *testing.T, v any) int {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	return int(f)
}
