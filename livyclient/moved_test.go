package livyclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/manual"
	"github.com/livyha/livyha/livyclient"
)

// An idempotent request in flight to an active that stops answering (a
// frozen process) is cut when the cluster view moves the active elsewhere
// and sent again to the new one, instead of hanging for the caller's
// deadline. (A non-idempotent request is not watched: it keeps the
// ambiguity path.)
func TestInFlightRequestFollowsTheActive(t *testing.T) {
	release := make(chan struct{})
	var frozenHits atomic.Int32
	frozen := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		frozenHits.Add(1)
		select { // a frozen server: accepts, never answers
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer frozen.Close()
	defer close(release)
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"url":"","version":"0.8.0-incubating"}`))
	}))
	defer live.Close()

	src := manual.New(discovery.State{Servers: []discovery.Server{manual.Server("a", frozen.URL), manual.Server("b", live.URL)}, Leader: "a"})
	r, err := discovery.NewResolverFromSource(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := livyclient.New(livyclient.WithResolver(r))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Version(ctx)
		done <- err
	}()
	// Once the request hangs on the frozen active, the view moves.
	for frozenHits.Load() == 0 {
		select {
		case err := <-done:
			t.Fatalf("request ended before reaching the frozen server: %v", err)
		case <-time.After(5 * time.Millisecond): // polling a counter: the server gives no event
		}
	}
	start := time.Now()
	src.Update(discovery.State{Servers: []discovery.Server{manual.Server("a", frozen.URL), manual.Server("b", live.URL)}, Leader: "b"})
	if err := <-done; err != nil {
		t.Fatalf("GET after the active moved: %v", err)
	}
	t.Logf("in-flight GET re-sent to the new active %v after the view changed", time.Since(start).Round(time.Microsecond))
}
