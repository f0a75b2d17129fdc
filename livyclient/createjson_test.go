package livyclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

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
