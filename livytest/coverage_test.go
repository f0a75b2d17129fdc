package livytest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/livytest"
)

// The wire of POST /sessions/{id}/completion: Jackson's checks on the
// body before the session lookup, 405 for other methods, the answer's
// shape.
func TestCompletionWire(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{Profile: livytest.ProfileLivy07, Step: 5 * time.Millisecond})
	c := noRedirect(t)
	u := s.URL()
	expect(t, do(t, c, "POST", u+"/sessions", `{"kind":"spark"}`), 201)
	waitState(t, c, u+"/sessions/0", "idle", 5*time.Second)

	r := do(t, c, "POST", u+"/sessions/0/completion", `{"code":"sc.ver","kind":"spark","cursor":6}`)
	expect(t, r, 200)
	expectJSON(t, r)
	if got := string(r.body); got != `{"candidates":["version"]}` {
		t.Errorf("body %s", got)
	}
	r = do(t, c, "POST", u+"/sessions/7/completion", `{"code":"x","kind":"spark","curser":1}`)
	if expect(t, r, 400); !strings.Contains(r.str(t), `Unrecognized field "curser"`) {
		t.Errorf("unknown field: %s", r)
	}
	expectMsg(t, do(t, c, "POST", u+"/sessions/7/completion", `{"code":"x","kind":"spark","cursor":1}`), 404, "Session '7' not found.")
	r = do(t, c, "GET", u+"/sessions/0/completion", "")
	if expect(t, r, 405); r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
}

// Impersonation on the wire, with 0.8's view, whose ttl carries the
// proxyUser (a Livy bug; InteractiveSessionServlet.scala@0.8:95-103).
func TestImpersonationWire(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{Profile: livytest.ProfileLivy08, Step: 5 * time.Millisecond,
		Impersonation: true, SuperUsers: []string{"gw"}, BasicAuth: &livytest.BasicAuth{User: "gw", Password: "p"}})
	c := noRedirect(t)
	u := strings.Replace(s.URL(), "://", "://gw:p@", 1)
	r := do(t, c, "POST", u+"/sessions?doAs=bob", `{"kind":"spark","proxyUser":"carol"}`)
	expect(t, r, 201)
	if m := r.obj(t); m["proxyUser"] != "bob" || m["ttl"] != "bob" || m["owner"] != "gw" {
		t.Errorf("view %s: want proxyUser bob (doAs wins), 0.8's ttl = proxyUser, owner gw", r)
	}
	plain := livytest.NewServer(t, livytest.Config{Step: 5 * time.Millisecond, Impersonation: true,
		BasicAuth: &livytest.BasicAuth{User: "al", Password: "p"}})
	u = strings.Replace(plain.URL(), "://", "://al:p@", 1)
	expectMsg(t, do(t, c, "POST", u+"/batches", `{"file":"a.py","proxyUser":"bob"}`), 403, "User 'al' not allowed to impersonate 'Some(bob)'.")
	r = do(t, c, "POST", u+"/batches", `{"file":"a.py"}`)
	if expect(t, r, 201); r.obj(t)["id"] != float64(1) {
		t.Errorf("the refused create did not consume id 0, as Livy's nextId() does before the check: %s", r)
	}
	expect(t, do(t, c, "GET", u+"/batches/1/state?doAs=bob", ""), 200)
	expectMsg(t, do(t, c, "GET", u+"/batches?doAs=bob", ""), 403, "User 'al' not allowed to impersonate 'Some(bob)'.")
	expectMsg(t, do(t, c, "GET", u+"/batches/1/log?doAs=bob", ""), 403, "User 'al' not allowed to impersonate 'Some(bob)'.")
	expect(t, do(t, c, "GET", u+"/batches?doAs=al", ""), 200)
}
