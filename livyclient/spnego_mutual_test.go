package livyclient_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livyha/livyha/livyclient"
)

// WithMutualAuth: the real server (livytest, verifying with HTTP/host's
// key) proves itself with an AP-REP for each request; an impostor on the
// same address that accepts any token — with no AP-REP, or replaying one
// the real server sent for another request — is refused, its answer
// unused, the error typed and never retried. Without the option the
// impostor is believed (what mutual authentication is for).
func TestSPNEGOMutualAuth(t *testing.T) {
	e := kerberos(t, "127.0.0.23")
	real := e.server(t, "127.0.0.23")
	a, err := livyclient.NewSPNEGOFromCCache(mustKinit(t, e), e.conf(), livyclient.WithMutualAuth())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c := spnegoClient(t, a, real.URL())
	ctx := ctxT(t, 20*time.Second)
	for i := 0; i < 3; i++ {
		if _, err := c.Version(ctx); err != nil {
			t.Fatalf("the real server: %v", err)
		}
	}
	if b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/mutual.py"}); err != nil || b.Owner == nil || *b.Owner != "alice" {
		t.Fatalf("create on the real server: %+v %v", b, err)
	}
	// An AP-REP the real server sent, for the impostor to replay.
	var captured string
	capture := &http.Client{Transport: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && captured == "" {
			captured = resp.Header.Get("WWW-Authenticate")
		}
		return resp, err
	})}
	cc, err := livyclient.New(livyclient.WithEndpoints(real.URL()), livyclient.WithAuth(a), livyclient.WithHTTPClient(capture))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Version(ctx); err != nil || !strings.HasPrefix(captured, "Negotiate ") {
		t.Fatalf("capturing the real server's AP-REP: %q %v", captured, err)
	}

	for _, tc := range []struct{ name, header string }{{"no AP-REP", ""}, {"replayed AP-REP", captured}, {"garbage", "Negotiate bm9wZQ=="}} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			hits := 0
			ln, err := net.Listen("tcp", "127.0.0.23:0")
			if err != nil {
				t.Fatal(err)
			}
			imp := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasPrefix(r.Header.Get("Authorization"), "Negotiate ") {
					w.Header().Set("WWW-Authenticate", "Negotiate")
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				mu.Lock()
				hits++
				mu.Unlock()
				if tc.header != "" {
					w.Header().Set("WWW-Authenticate", tc.header)
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"version":"0.9.0-incubating","user":"impostor"}`))
			}))
			imp.Listener = ln
			imp.Start()
			defer imp.Close()
			c := spnegoClient(t, a, imp.URL)
			_, err = c.Version(ctx)
			var ke *livyclient.KerberosError
			if !errors.As(err, &ke) || ke.Reason != livyclient.KerberosServerNotAuthenticated {
				t.Fatalf("impostor (%s): %v, want KerberosServerNotAuthenticated", tc.name, err)
			}
			if hits != 1 {
				t.Errorf("impostor hit %d times, want 1 (not retried)", hits)
			}
			plain, err := livyclient.NewSPNEGOFromCCache(mustKinit(t, e), e.conf())
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			if v, err := spnegoClient(t, plain, imp.URL).Version(ctx); err != nil || v.User != "impostor" {
				t.Errorf("without WithMutualAuth the impostor is believed: %+v %v", v, err)
			}
		})
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func mustKinit(t *testing.T, e *krbEnv) string {
	t.Helper()
	cc, err := e.k.Kinit("alice", alicePW)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}
