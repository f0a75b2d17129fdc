package livyclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/retry"
)

// recorder is a loopback HTTP server that records what it receives.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method, Path, Body string
	Header             http.Header
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.RequestURI(), string(body), req.Header.Clone()})
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) got() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func (r *recorder) hostport() string { return strings.TrimPrefix(r.URL, "http://") }

func redirectTo(target string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		loc := target + req.URL.RequestURI()
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		_, _ = io.WriteString(w, StandbyText+". The redirect url is: "+loc)
	}
}

func okJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

var quick = retry.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxAttempts: 6, MaxElapsed: 5 * time.Second}

func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(append([]Option{WithRetry(quick)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A cluster member that redirects to a foreign host: the foreign host
// receives nothing at all — no credentials, no cookies, no body.
func TestUntrustedRedirectSendsNothing(t *testing.T) {
	foreign := newRecorder(t, okJSON(`{"id":1}`))
	member := newRecorder(t, redirectTo(foreign.URL))
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse("http://livy/")
	jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "secret-cookie"}})
	c := newClient(t, WithEndpoints(member.URL), WithAuth(BasicAuth{User: "alice", Password: "s3cret"}),
		WithHTTPClient(&http.Client{Jar: jar}))

	_, err := c.Batches.Create(ctxT(t), &CreateBatchRequest{File: "/x.jar"})
	if !errors.Is(err, ErrUntrustedRedirect) {
		t.Fatalf("Create = %v, want ErrUntrustedRedirect", err)
	}
	if n := len(foreign.got()); n != 0 {
		t.Fatalf("foreign host received %d requests: %+v", n, foreign.got())
	}
	// The member itself got the credentials (it is one of ours); the
	// request started over twice (a passive's view may be stale), then
	// gave up.
	got := member.got()
	if len(got) != 3 || got[0].Header.Get("Authorization") == "" || got[0].Header.Get("X-Requested-By") != "livyha" {
		t.Fatalf("member received %+v", got)
	}
	// Also for GET, and for redirects to other schemes.
	if _, err := c.Batches.Get(ctxT(t), 3); !errors.Is(err, ErrUntrustedRedirect) {
		t.Fatalf("Get = %v", err)
	}
	evil := newRecorder(t, redirectTo("file:///etc/passwd#"))
	c2 := newClient(t, WithEndpoints(evil.URL))
	if _, err := c2.Version(ctxT(t)); !errors.Is(err, ErrUntrustedRedirect) {
		t.Fatalf("file: redirect = %v", err)
	}
	if n := len(foreign.got()); n != 0 {
		t.Fatalf("foreign host received %d requests", n)
	}
}

// A 307 to another member is followed: same method, body replayed,
// X-Requested-By kept, credentials re-applied for the new host.
func TestRedirectToMemberReappliesCredentials(t *testing.T) {
	active := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/batches/0")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":0,"name":"n","state":"starting","appId":null,"appInfo":{"driverLogUrl":null,"sparkUiUrl":null,"executorLogUrls":null},"log":[],"owner":null,"proxyUser":null}`)
	})
	passive := newRecorder(t, redirectTo(active.URL))
	var hosts []string
	var mu sync.Mutex
	auth := HeaderFunc(func(r *http.Request, hostport string) error {
		mu.Lock()
		hosts = append(hosts, hostport)
		mu.Unlock()
		r.Header.Set("Authorization", "Negotiate token-for-"+hostport)
		return nil
	})
	c := newClient(t, WithEndpoints(passive.URL, active.URL), WithAuth(auth))
	b, err := c.Batches.Create(ctxT(t), &CreateBatchRequest{File: "/x.jar", Name: "n"})
	if err != nil || b.ID != 0 || b.State != StateStarting {
		t.Fatalf("Create = %+v, %v", b, err)
	}
	pg, ag := passive.got(), active.got()
	if len(pg) != 1 || len(ag) != 1 {
		t.Fatalf("passive got %d, active got %d", len(pg), len(ag))
	}
	if ag[0].Method != http.MethodPost || ag[0].Body != pg[0].Body || !strings.Contains(ag[0].Body, `"file":"/x.jar"`) {
		t.Fatalf("replayed request %+v vs %+v", ag[0], pg[0])
	}
	if ag[0].Header.Get("Authorization") != "Negotiate token-for-"+active.hostport() ||
		pg[0].Header.Get("Authorization") != "Negotiate token-for-"+passive.hostport() ||
		ag[0].Header.Get("X-Requested-By") != "livyha" {
		t.Fatalf("headers: passive %v active %v", pg[0].Header, ag[0].Header)
	}
	if len(hosts) != 2 {
		t.Fatalf("authenticator called for %v", hosts)
	}
	// The static cluster remembers who answered: the next call goes
	// straight to the active.
	if _, err := c.Batches.Get(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	if len(passive.got()) != 1 || len(active.got()) != 2 {
		t.Fatalf("second call: passive got %d, active %d", len(passive.got()), len(active.got()))
	}
}

func TestTrustedHostAndRedirectLoop(t *testing.T) {
	foreign := newRecorder(t, okJSON(`{"version":"0.9"}`))
	member := newRecorder(t, redirectTo(foreign.URL))
	c := newClient(t, WithEndpoints(member.URL), WithTrustedHosts(foreign.hostport()), WithAuth(BearerToken("tok")))
	v, err := c.Version(ctxT(t))
	if err != nil || v.Version != "0.9" {
		t.Fatalf("Version via trusted host = %+v, %v", v, err)
	}
	if h := foreign.got()[0].Header.Get("Authorization"); h != "Bearer tok" {
		t.Fatalf("trusted host got Authorization %q", h)
	}

	var a, b *recorder
	a = newRecorder(t, func(w http.ResponseWriter, r *http.Request) { redirectTo(b.URL)(w, r) })
	b = newRecorder(t, func(w http.ResponseWriter, r *http.Request) { redirectTo(a.URL)(w, r) })
	c = newClient(t, WithEndpoints(a.URL, b.URL), WithMaxRedirects(3))
	if _, err := c.Version(ctxT(t)); !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("loop = %v", err)
	}
	if n := len(a.got()) + len(b.got()); n != 4 {
		t.Fatalf("loop made %d requests, want 1 + 3 hops", n)
	}
}

func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// A refused connection never reached a server: even a POST is retried, on
// the next endpoint.
func TestDialFailureRetriesPost(t *testing.T) {
	live := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":7,"state":"starting"}`)
	})
	c := newClient(t, WithEndpoints(deadURL(t), live.URL))
	b, err := c.Batches.Create(ctxT(t), &CreateBatchRequest{File: "f"})
	if err != nil || b.ID != 7 || len(live.got()) != 1 {
		t.Fatalf("Create = %+v, %v; live got %d", b, err, len(live.got()))
	}
	// A generated name was sent.
	if !strings.Contains(live.got()[0].Body, `"name":"livyha-`) {
		t.Fatalf("body %s", live.got()[0].Body)
	}
}

// A POST that reached a server which then dropped the connection is
// ambiguous: never repeated blindly.
func TestAmbiguousPostNotRepeated(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	c := newClient(t, WithEndpoints(srv.URL), WithGeneratedNames(false))
	_, err := c.Batches.Create(ctxT(t), &CreateBatchRequest{File: "f"})
	if !errors.Is(err, ErrAmbiguous) || hits.Load() != 1 {
		t.Fatalf("Create = %v after %d hits", err, hits.Load())
	}
	// The same failure on a GET is retried.
	hits.Store(0)
	_, err = c.Batches.Get(ctxT(t), 1)
	if err == nil || hits.Load() != int32(quick.MaxAttempts) {
		t.Fatalf("Get = %v after %d hits", err, hits.Load())
	}
}

func TestErrorBodies(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/9"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"msg":"Session '9' not found."}`)
		case strings.HasSuffix(r.URL.Path, "/statements/5"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `"Statement not found"`)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"msg":"Rejected, Reason: Duplicate session name: Some(x) for session 3"}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	c := newClient(t, WithEndpoints(srv.URL))
	_, err := c.Batches.Get(ctxT(t), 9)
	var le *Error
	if !errors.As(err, &le) || !errors.Is(err, ErrNotFound) || le.Message != "Session '9' not found." ||
		le.Server != srv.hostport() || le.Path != "/batches/9" || le.Method != "GET" {
		t.Fatalf("Get = %#v", err)
	}
	if _, err := c.Statements.Get(ctxT(t), 1, 5); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "Statement not found") {
		t.Fatalf("statement = %v", err)
	}
	if _, err := c.Batches.Create(ctxT(t), &CreateBatchRequest{File: "f", Name: "x"}); !errors.Is(err, ErrConflict) || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("duplicate = %v", err)
	}
	if _, err := c.Version(ctxT(t)); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("401 = %v", err)
	}
}

func TestSessionScope(t *testing.T) {
	cases := map[string]int{
		"/batches/12": 12, "/batches/12/log": 12, "/sessions/1010000001/statements/3": 1010000001,
		"/batches": -1, "/batches/name": -1, "/sessions/+5": -1, "/version": -1, "/base/sessions/4": 4,
	}
	for p, want := range cases {
		if k := sessionScope(p).kind; want >= 0 && (k == discovery.Batch) != strings.Contains(p, "/batches/") {
			t.Errorf("sessionScope(%q) kind = %v", p, k)
		}
		if got := sessionScope(p); got.id != want {
			t.Errorf("sessionScope(%q) = %d, want %d", p, got.id, want)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, opts := range [][]Option{
		nil,
		{WithEndpoints("ftp://x")},
		{WithEndpoints("http://a:1"), WithResolver(nil), WithResolver(fakeLocator{})},
		{WithEndpoints("http://a:1"), WithTrustedHosts("nohostport")},
		{WithEndpoints("http://a:1"), WithMaxRedirects(-1)},
	} {
		if _, err := New(opts...); !errors.Is(err, ErrBadOption) {
			t.Errorf("New(%d opts) = %v", len(opts), err)
		}
	}
}

type fakeLocator struct{}

func (fakeLocator) Mode() discovery.Mode { return discovery.ActivePassive }

func (fakeLocator) Active(context.Context) (discovery.Server, error) {
	return discovery.Server{}, discovery.ErrNoLeader
}
func (fakeLocator) Owner(context.Context, discovery.SessionKind, int) (discovery.Server, error) {
	return discovery.Server{}, discovery.ErrNoOwner
}
func (fakeLocator) Servers() []discovery.Server { return nil }
func (fakeLocator) Changed() <-chan struct{}    { return nil }
func (fakeLocator) Refresh()                    {}

// https -> http on the same member: refused, nothing sent in cleartext.
func TestNoDowngradeToCleartext(t *testing.T) {
	var hits atomic.Int32
	var tlsSrv *httptest.Server
	tlsSrv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Location", "http://"+r.Host+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer tlsSrv.Close()
	c := newClient(t, WithEndpoints(tlsSrv.URL), WithHTTPClient(tlsSrv.Client()), WithAuth(BasicAuth{User: "a", Password: "b"}))
	if _, err := c.Version(ctxT(t)); !errors.Is(err, ErrUntrustedRedirect) {
		t.Fatalf("downgrade = %v", err)
	}
	if n := hits.Load(); n != 1+maxUntrustedRetries {
		t.Fatalf("%d requests reached the TLS member", n)
	}
}

// A RoundTripper that does not set resp.Request must not crash the client.
func TestResponseWithoutRequest(t *testing.T) {
	srv := newRecorder(t, okJSON(`{"version":"0.8"}`))
	base := http.DefaultTransport.(*http.Transport).Clone()
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if resp != nil {
			resp.Request = nil
		}
		return resp, err
	})
	c := newClient(t, WithEndpoints(srv.URL), WithHTTPClient(&http.Client{Transport: rt}))
	if v, err := c.Version(ctxT(t)); err != nil || v.Version != "0.8" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Names are sent escaped: a "/" in a name stays part of the name.
func TestNameEscaping(t *testing.T) {
	srv := newRecorder(t, okJSON(`{"id":1,"state":"running"}`))
	c := newClient(t, WithEndpoints(srv.URL))
	if _, err := c.Batches.GetByName(ctxT(t), "team/job 1"); err != nil {
		t.Fatal(err)
	}
	if got := srv.got()[0].Path; got != "/batches/team%2Fjob%201" {
		t.Fatalf("path sent: %s", got)
	}
}

// The context ends while a create is in flight: the caller learns the
// outcome is unknown and the name to look it up by.
func TestCreateInterruptedIsAmbiguousWithName(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c := newClient(t, WithEndpoints(srv.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Batches.Create(ctx, &CreateBatchRequest{File: "f"})
	var ce *CreateError
	if !errors.Is(err, ErrAmbiguous) || !errors.As(err, &ce) || !strings.HasPrefix(ce.Name, "livyha-") {
		t.Fatalf("err = %v", err)
	}
}
