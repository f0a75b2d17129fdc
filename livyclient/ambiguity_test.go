package livyclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// A 500 answer to a create is not a definite failure: a server that
// committed the job and then failed (its state store, a lost leadership)
// answers 500 too. The client looks the job up by its name before creating
// anything again: no duplicate when the job exists, one new attempt when it
// does not. The faults are injected by a proxy in front of a real
// livytest server.
func TestCreate500IsAmbiguous(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := livytest.Start(ctx, livytest.Config{Step: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	backend, _ := url.Parse(srv.URL())
	var mode atomic.Int32 // 1: commit, then answer 500; 2: answer 500 without forwarding
	var posts atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(backend)
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.Method == http.MethodPost && res.Request.URL.Path == "/batches" && mode.CompareAndSwap(1, 0) {
			res.Body.Close()
			res.StatusCode = http.StatusInternalServerError
			res.Body = io.NopCloser(bytes.NewReader([]byte(`"java.lang.RuntimeException: the state store failed"`)))
			res.Header.Del("Content-Length")
		}
		return nil
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/batches" {
			posts.Add(1)
			if mode.CompareAndSwap(2, 0) {
				http.Error(w, `"java.lang.RuntimeException: no"`, http.StatusInternalServerError)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	c, err := livyclient.New(livyclient.WithEndpoints(proxy.URL))
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		l, err := c.Batches.List(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return l.Total
	}

	mode.Store(1) // committed, answered 500
	b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/pi.py"})
	if err != nil || b == nil || b.Name == nil {
		t.Fatalf("create after a 500 on a committed job = %+v, %v", b, err)
	}
	if n, p := count(), posts.Load(); n != 1 || p != 1 {
		t.Fatalf("%d batches and %d POSTs after a committed create answered 500; want 1 and 1", n, p)
	}

	mode.Store(2) // not committed, answered 500
	if _, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/pi.py"}); err != nil {
		t.Fatalf("create after a 500 on an absent job = %v", err)
	}
	if n, p := count(), posts.Load(); n != 2 || p != 3 {
		t.Fatalf("%d batches and %d POSTs; want 2 batches (one new) and 3 POSTs (the failed one and its retry)", n, p)
	}
}
