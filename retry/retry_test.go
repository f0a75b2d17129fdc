package retry_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/livyha/livyha/retry"
)

func TestBackoffFullJitterWithinCap(t *testing.T) {
	p := retry.Policy{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond, Multiplier: 2, MaxAttempts: 10}
	wantCaps := []time.Duration{10, 20, 40, 80, 80, 80}
	for i, c := range wantCaps {
		if got := p.Cap(i + 1); got != c*time.Millisecond {
			t.Fatalf("Cap(%d) = %v, want %v", i+1, got, c*time.Millisecond)
		}
	}
	// Full jitter: waits spread over [0, cap), not clustered at the cap.
	var below, above int
	for i := 0; i < 2000; i++ {
		w := p.Backoff(4)
		if w < 0 || w >= 80*time.Millisecond {
			t.Fatalf("Backoff(4) = %v outside [0,80ms)", w)
		}
		if w < 40*time.Millisecond {
			below++
		} else {
			above++
		}
	}
	if below < 800 || above < 800 {
		t.Fatalf("jitter not uniform: %d below half, %d above", below, above)
	}
	if (retry.Policy{}).Attempts() != 1 || (retry.Policy{}).Backoff(3) != 0 {
		t.Fatal("zero policy should make one attempt and never wait")
	}
}

var fast = retry.Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond, Multiplier: 2, MaxAttempts: 4}

func TestDo(t *testing.T) {
	ctx := context.Background()
	refused := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}

	n := 0
	err := retry.Do(ctx, fast, func(context.Context) error {
		n++
		if n < 3 {
			return refused
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("Do = %v after %d calls", err, n)
	}

	n = 0
	err = retry.Do(ctx, fast, func(context.Context) error { n++; return refused })
	if !errors.Is(err, retry.ErrAttemptsExhausted) || !errors.Is(err, syscall.ECONNREFUSED) || n != 4 {
		t.Fatalf("exhausted: %v after %d calls", err, n)
	}

	n = 0
	bad := errors.New("400 bad request")
	if err = retry.Do(ctx, fast, func(context.Context) error { n++; return bad }); err != bad || n != 1 {
		t.Fatalf("non-retryable: %v after %d calls", err, n)
	}
	n = 0
	if err = retry.Do(ctx, fast, func(context.Context) error { n++; return retry.Permanent(refused) }); err != refused || n != 1 {
		t.Fatalf("permanent: %v after %d calls", err, n)
	}

	cctx, cancel := context.WithCancel(ctx)
	slow := retry.Policy{Initial: time.Hour, Max: time.Hour, Multiplier: 1, MaxAttempts: 3}
	go cancel()
	if err = retry.Do(cctx, slow, func(context.Context) error { return refused }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}

	elapsed := retry.Policy{Initial: time.Second, Max: time.Second, Multiplier: 1, MaxAttempts: 100, MaxElapsed: time.Millisecond}
	calls := 0
	for i := 0; i < 20 && calls < 2; i++ { // jitter may pick a wait under 1ms
		calls = 0
		err = retry.Do(ctx, elapsed, func(context.Context) error { calls++; return refused })
	}
	if !errors.Is(err, retry.ErrAttemptsExhausted) {
		t.Fatalf("elapsed limit: %v", err)
	}
}

func TestBudget(t *testing.T) {
	b := retry.NewBudget(10, 0.5)
	refused := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	policy := retry.Policy{MaxAttempts: 1000}
	calls := 0
	err := retry.Do(context.Background(), policy, func(context.Context) error { calls++; return refused }, retry.WithBudget(b))
	// 10 tokens, retries only while more than 5 remain: 5 failures then refused.
	if !errors.Is(err, retry.ErrBudgetExhausted) || calls != 5 {
		t.Fatalf("budget: %v after %d calls (tokens %v)", err, calls, b.Tokens())
	}
	if b.Allow() {
		t.Fatal("exhausted budget allows a retry")
	}
	b.OnSuccess()
	b.OnSuccess() // +1 token: 6 > 5
	if !b.Allow() {
		t.Fatalf("budget did not recover: %v tokens", b.Tokens())
	}
	var nilBudget *retry.Budget
	nilBudget.OnFailure()
	if !nilBudget.Allow() {
		t.Fatal("nil budget must allow")
	}
}

func TestClassify(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	read := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	cases := []struct {
		err              error
		never, retryable bool
	}{
		{dial, true, true},
		{&net.DNSError{Err: "no such host", Name: "x"}, true, true},
		{read, false, true},
		{io.ErrUnexpectedEOF, false, true},
		{context.Canceled, false, false},
		{errors.New("boom"), false, false},
		{retry.ErrNotSent, true, true},
		{errors.New("http: server closed idle connection"), false, true},
	}
	for _, c := range cases {
		if retry.NeverSent(c.err) != c.never || retry.Retryable(c.err) != c.retryable {
			t.Errorf("%v: NeverSent=%v Retryable=%v", c.err, retry.NeverSent(c.err), retry.Retryable(c.err))
		}
	}
	if !retry.IsStandby(307, []byte(retry.StandbyText+". The redirect url is: http://h:1/")) ||
		retry.IsStandby(200, []byte(retry.StandbyText)) || retry.IsStandby(307, []byte("moved")) {
		t.Error("IsStandby")
	}
	for code, want := range map[int]bool{502: true, 503: true, 504: true, 500: false, 307: false, 404: false} {
		if retry.RetryableStatus(code) != want {
			t.Errorf("RetryableStatus(%d)", code)
		}
	}
}

// The adapters configure a real go-retryablehttp client.
func TestRetryableHTTPAdapters(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	c := retryablehttp.NewClient()
	c.Logger = nil
	c.RetryMax = fast.Attempts() - 1
	c.CheckRetry = retry.CheckRetry(nil)
	c.Backoff = fast.HTTPBackoff()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || hits.Load() != 3 {
		t.Fatalf("body %q after %d hits", body, hits.Load())
	}

	// 502 to a POST is ambiguous: not retried.
	hits.Store(-100)
	srv502 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv502.Close()
	hits.Store(0)
	resp, err = c.Post(srv502.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("POST answered 502 was sent %d times", hits.Load())
	}

	// A passive's unfollowed 307 is retried (with redirects disabled); a
	// plain 307 is not, and its body is left intact.
	var passive atomic.Int32
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://127.0.0.1:1/x")
		w.WriteHeader(http.StatusTemporaryRedirect)
		if passive.Add(1) < 3 {
			_, _ = io.WriteString(w, retry.StandbyText+". The redirect url is: http://127.0.0.1:1/x")
		} else {
			_, _ = io.WriteString(w, "moved")
		}
	}))
	defer standby.Close()
	c.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.CheckRetry = retry.CheckRetry(nil)
	resp, err = c.Get(standby.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if passive.Load() != 3 || string(body) != "moved" {
		t.Fatalf("standby retries: %d hits, body %q", passive.Load(), body)
	}

	// A dead server: the dial fails, so even a POST is retried; the budget
	// stops the loop.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	b := retry.NewBudget(4, 0.1)
	c.CheckRetry = retry.CheckRetry(b)
	c.RetryMax = 10
	_, err = c.Post(dead, "application/json", nil)
	if err == nil || !errors.Is(err, retry.ErrBudgetExhausted) {
		t.Fatalf("dead server: %v (tokens %v)", err, b.Tokens())
	}
}
