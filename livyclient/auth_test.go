package livyclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A 401 asking for Negotiate gets one more try with fresh credentials for
// the same host; any other 401 is final; an Authenticator that fails sends
// nothing and is not retried, and a POST is then not "ambiguous".
func TestNegotiateRetryAndAuthErrors(t *testing.T) {
	var hits, refuse atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch refuse.Load() {
		case 1: // refuse the first token, accept the next
			refuse.Store(0)
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.WriteHeader(http.StatusUnauthorized)
			return
		case 2: // Basic realm: final
			w.Header().Set("WWW-Authenticate", `Basic realm="livy"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		case 3: // always refuse Negotiate
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"url":"","version":"0.8.0-incubating"}`))
	}))
	defer srv.Close()
	var calls atomic.Int32
	fail := atomic.Bool{}
	auth := HeaderFunc(func(req *http.Request, hostport string) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("no credentials cache: run kinit")
		}
		req.Header.Set("Authorization", "Negotiate token")
		return nil
	})
	c, err := New(WithEndpoints(srv.URL), WithAuth(auth))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	refuse.Store(1)
	if _, err := c.Version(ctx); err != nil || calls.Load() != 2 || hits.Load() != 2 {
		t.Fatalf("after one Negotiate 401: %v, %d Authenticate calls, %d requests", err, calls.Load(), hits.Load())
	}
	calls.Store(0)
	hits.Store(0)
	refuse.Store(3)
	if _, err := c.Version(ctx); !errors.Is(err, ErrUnauthorized) || calls.Load() != 2 || hits.Load() != 2 {
		t.Fatalf("a server that keeps refusing: %v, %d calls, %d requests (want one retry only)", err, calls.Load(), hits.Load())
	}
	calls.Store(0)
	hits.Store(0)
	refuse.Store(2)
	if _, err := c.Version(ctx); !errors.Is(err, ErrUnauthorized) || hits.Load() != 1 {
		t.Fatalf("a Basic 401: %v, %d requests (want 1)", err, hits.Load())
	}
	refuse.Store(0)
	hits.Store(0)
	fail.Store(true)
	_, err = c.Batches.Create(ctx, &CreateBatchRequest{File: "/x"})
	var ae *AuthError
	if !errors.As(err, &ae) || errors.Is(err, ErrAmbiguous) || hits.Load() != 0 {
		t.Fatalf("failing Authenticator: %v (AuthError %v), %d requests sent", err, ae != nil, hits.Load())
	}
}
