package livyclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// CreateJSON sends the caller's fields as they are, adds a name, keeps
// Create's dedupe, and WithRequestEditor reaches every request of the call
// (the create and the lookup after a lost answer).
func TestCreateJSONAndRequestEditor(t *testing.T) {
	var cut atomic.Int32
	srv := livytest.NewServer(t, livytest.Config{AbortAfterCommit: func(r *http.Request) bool {
		return r.Method == http.MethodPost && cut.Add(1) == 1
	}})
	c, err := livyclient.New(livyclient.WithEndpoints(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var edited atomic.Int32
	ctx := livyclient.WithRequestEditor(context.Background(), func(r *http.Request) {
		edited.Add(1)
		r.Header.Set("X-Caller", "me")
		r.URL.RawQuery = "doAs=bob"
	})
	view, err := c.Batches.CreateJSON(ctx, []byte(`{"file":"local:/a.jar","name":null,"conf":{"k":"v"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var b livyclient.Batch
	if err := json.Unmarshal(view, &b); err != nil {
		t.Fatal(err)
	}
	if b.Name == nil || !strings.HasPrefix(*b.Name, "livyha-") {
		t.Errorf("name %v, want a generated one", b.Name)
	}
	if cut.Load() != 1 || edited.Load() != 2 {
		t.Errorf("answers cut %d, requests edited %d; want 1 and 2 (the create, then the lookup)", cut.Load(), edited.Load())
	}
	for _, r := range srv.Requests() {
		if r.Header.Get("X-Caller") != "me" || !strings.HasSuffix(r.Path, "?doAs=bob") {
			t.Errorf("%s %s lacks the editor's header or query", r.Method, r.Path)
		}
	}
	if l, err := c.Batches.List(context.Background(), nil); err != nil || l.Total != 1 {
		t.Errorf("list: %v %v, want exactly one batch", l, err)
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"name":3}`, `nope`} {
		if _, err := c.Sessions.CreateJSON(context.Background(), []byte(bad)); !errors.Is(err, livyclient.ErrBadRequest) {
			t.Errorf("CreateJSON(%s): %v, want ErrBadRequest", bad, err)
		}
	}
}

// Close closes the idle connections of the transport the client made.
func TestCloseClosesIdleConnections(t *testing.T) {
	closed := make(chan struct{}, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"0.9.0-incubating"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := livyclient.New(livyclient.WithEndpoints(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	for len(closed) > 0 { // the static list's own probe connections
		<-closed
	}
	c.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close left the keep-alive connection open")
	}
}
