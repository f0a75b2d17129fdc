package livyclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/retry"
)

// What a PR #212 server does during a takeover is not a final error:
// its redirect filter's 500 when no leader is known and its redirect to
// itself while it restarts run nothing, so even a POST is sent again; a
// statement posted to a session that is still recovering waits for it.
func TestTakeoverAnswersAreRetried(t *testing.T) {
	var leaderless, selfRedirects, recovering atomic.Int32
	var posts, stmtPosts, polls atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case leaderless.Load() > 0:
			leaderless.Add(-1)
			w.Header().Set("Content-Type", "text/html;charset=iso-8859-1")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("<html><body><h2>HTTP ERROR 500</h2><pre>java.lang.ArrayIndexOutOfBoundsException: -1\n" +
				"\tat org.apache.livy.server.CuratorElectorService.getActiveHostname(CuratorElectorService.scala:103)\n" +
				"\tat org.apache.livy.server.DomainRedirectionFilter.doFilter(DomainRedirectionFilter.scala:64)\n</pre></body></html>"))
			return
		case selfRedirects.Load() > 0:
			selfRedirects.Add(-1)
			loc := srv.URL + r.URL.RequestURI()
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusTemporaryRedirect)
			_, _ = w.Write([]byte(retry.StandbyText + loc + "\n"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/batches":
			posts.Add(1)
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":1,"name":"b","state":"starting","appId":null,"appInfo":{},"log":[]}`))
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/statements"):
			stmtPosts.Add(1)
			if recovering.Load() > 0 {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"msg":"java.lang.IllegalStateException: Session is in state recovering"}`))
				return
			}
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":0,"code":"1+1","state":"waiting","output":null,"progress":0.0}`))
		case r.Method == http.MethodGet && r.URL.Path == "/sessions/7":
			state := "idle"
			if polls.Add(1) < 3 {
				state = "recovering"
			} else {
				recovering.Store(0)
			}
			_, _ = w.Write([]byte(`{"id":7,"name":null,"appId":null,"owner":null,"proxyUser":null,"state":"` + state + `","kind":"spark","appInfo":{},"log":[]}`))
		default:
			_, _ = w.Write([]byte(`{"url":"","version":"0.8.0-incubating"}`))
		}
	}))
	defer srv.Close()
	c, err := livyclient.New(livyclient.WithEndpoints(srv.URL), livyclient.WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	leaderless.Store(2)
	if _, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/x", Name: "b"}); err != nil || posts.Load() != 1 {
		t.Fatalf("create through a leaderless filter: %v, %d creates", err, posts.Load())
	}
	selfRedirects.Store(2)
	if _, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/x", Name: "b2"}); err != nil || posts.Load() != 2 {
		t.Fatalf("create through self-redirects: %v, %d creates", err, posts.Load())
	}
	recovering.Store(1)
	st, err := c.Statements.Run(ctx, 7, &livyclient.StatementRequest{Code: "1+1"})
	if err != nil || st == nil || stmtPosts.Load() != 2 || polls.Load() < 3 {
		t.Fatalf("statement on a recovering session: %+v, %v, %d posts, %d polls", st, err, stmtPosts.Load(), polls.Load())
	}
	// A 500 that is not the filter's is final (not retried).
	posts.Store(0)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		http.Error(w, `{"msg":"java.lang.NullPointerException"}`, http.StatusInternalServerError)
	}))
	defer srv2.Close()
	c2, _ := livyclient.New(livyclient.WithEndpoints(srv2.URL))
	if _, err := c2.Version(ctx); err == nil || posts.Load() != 1 {
		t.Fatalf("an ordinary 500: %v after %d requests", err, posts.Load())
	}
}
