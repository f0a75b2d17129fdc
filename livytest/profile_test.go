package livytest_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/livytest"
)

func TestParseProfile(t *testing.T) {
	for in, want := range map[string]string{
		"":                "livyha+livy-0.9",
		"livyha":          "livyha+livy-0.9",
		"stock":           "stock+livy-0.9",
		"livy-0.7":        "stock+livy-0.7",
		"livy-0.8":        "stock+livy-0.8",
		"stock+livy-0.8":  "stock+livy-0.8",
		"livyha+livy-0.7": "livyha+livy-0.7",
		"pr212":           "pr212",
	} {
		got, err := livytest.ParseProfile(in)
		if err != nil || string(got) != want {
			t.Errorf("ParseProfile(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"livy-0.6", "pr212+livy-0.9", "stock+pr212", "livy-0.8+livy-0.9", "stock+", "Stock"} {
		if got, err := livytest.ParseProfile(in); err == nil {
			t.Errorf("ParseProfile(%q) = %q, want an error", in, got)
		}
	}
	for p, v := range map[livytest.Profile]string{
		"": "0.9.0-incubating", livytest.ProfileLivy07: "0.7.0-incubating", livytest.ProfileLivy08: "0.8.0-incubating",
		livytest.ProfilePR212: "0.8.0-incubating-SNAPSHOT", "stock+livy-0.7": "0.7.0-incubating",
	} {
		if got := p.Version(); got != v {
			t.Errorf("%q.Version() = %q, want %q", p, got, v)
		}
	}
	if livytest.LivyVersion != livytest.ProfileLivyHA.Version() {
		t.Errorf("LivyVersion %q is not the default profile's %q", livytest.LivyVersion, livytest.ProfileLivyHA.Version())
	}
	if _, err := livytest.Start(context.Background(), livytest.Config{Profile: "livy-0.6"}); err == nil {
		t.Fatal("Start with an unknown profile succeeded")
	}
}

// The REST surface of each release: accepted request fields, view
// shapes (with 0.8's ttl bug), error texts, appInfo keys, statement
// order, version.
func TestReleaseSurfaces(t *testing.T) {
	const (
		sessionKeys07 = "id name appId owner proxyUser state kind appInfo log"
		sessionKeys08 = sessionKeys07 + " ttl driverMemory driverCores executorMemory executorCores conf archives files heartbeatTimeoutInSecond jars numExecutors pyFiles queue"
		sessionKeys09 = sessionKeys08 + " idleTimeout"
	)
	type surface struct {
		profile         livytest.Profile
		version         string
		ttl, idle       bool // accepted
		keys            string
		appInfo         string
		prefix          string // of create errors
		viewTTL         any    // what the view shows for a create with ttl 10m
		order           bool   // ?order=desc honoured
		knownInteractve int
	}
	for _, sf := range []surface{
		{livytest.ProfileLivy07, "0.7.0-incubating", false, false, sessionKeys07, "driverLogUrl sparkUiUrl", "", nil, false, 15},
		{livytest.ProfileLivy08, "0.8.0-incubating", true, false, sessionKeys08, "driverLogUrl sparkUiUrl", "Rejected, Reason: ", nil, true, 16},
		{livytest.ProfileLivy09, "0.9.0-incubating", true, true, sessionKeys09, "driverLogUrl sparkUiUrl executorLogUrls", "Rejected, Reason: ", "10m", true, 17},
		// The default (livyha) profile has 0.9's surface.
		{"", "0.9.0-incubating", true, true, sessionKeys09, "driverLogUrl sparkUiUrl executorLogUrls", "Rejected, Reason: ", "10m", true, 17},
	} {
		t.Run(string(sf.profile)+"-"+sf.version, func(t *testing.T) {
			s := livytest.NewServer(t, livytest.Config{Profile: sf.profile, Step: 10 * time.Millisecond})
			c := noRedirect(t)
			u := s.URL()
			r := do(t, c, "GET", u+"/version", "")
			expect(t, r, 200)
			if v := r.obj(t)["version"]; v != sf.version {
				t.Fatalf("version %v, want %s", v, sf.version)
			}

			field := func(body string, ok bool, name string) {
				t.Helper()
				r := do(t, c, "POST", u+"/sessions", body)
				if ok {
					expect(t, r, 201)
					return
				}
				expect(t, r, 400)
				msg := r.str(t)
				want := `Unrecognized field "` + name + `" (class org.apache.livy.server.interactive.CreateInteractiveRequest), not marked as ignorable (`
				if !strings.HasPrefix(msg, want) || !strings.Contains(msg, " known properties: ") {
					t.Fatalf("%s: %q, want Jackson's %q…", body, msg, want)
				}
				if n := strings.Count(msg, `", "`) + 1; n != sf.knownInteractve {
					t.Fatalf("%d known properties listed in %q, want %d", n, msg, sf.knownInteractve)
				}
			}
			field(`{"kind":"spark","ttl":"10m","name":"withttl"}`, sf.ttl, "ttl")
			field(`{"kind":"spark","idleTimeout":"5m"}`, sf.idle, "idleTimeout")

			r = do(t, c, "POST", u+"/sessions", `{"kind":"pyspark"}`)
			expect(t, r, 201)
			v := r.obj(t)
			wantKeys(t, "session view", v, strings.Fields(sf.keys)...)
			wantKeys(t, "appInfo", v["appInfo"].(map[string]any), strings.Fields(sf.appInfo)...)
			id := num(t, v["id"])
			if sf.ttl {
				r := do(t, c, "GET", u+"/sessions/withttl", "")
				expect(t, r, 200)
				// 0.8 puts the proxyUser (null without impersonation) where
				// the ttl belongs.
				if got := r.obj(t)["ttl"]; got != sf.viewTTL {
					t.Fatalf("ttl in the view %v, want %v", got, sf.viewTTL)
				}
			}

			// Batch views differ only in appInfo.
			r = do(t, c, "POST", u+"/batches", `{"file":"a.py","name":"nightly"}`)
			expect(t, r, 201)
			wantKeys(t, "batch view", r.obj(t), batchKeys...)
			wantKeys(t, "batch appInfo", r.obj(t)["appInfo"].(map[string]any), strings.Fields(sf.appInfo)...)

			// Create errors: the "Rejected, Reason: " prefix from 0.8 on.
			expectMsg(t, do(t, c, "POST", u+"/batches", `{"file":"b.py","name":"nightly"}`), 400,
				sf.prefix+"Duplicate session name: Some(nightly) for session 1")
			expectMsg(t, do(t, c, "POST", u+"/batches", `{"file":"b.py","name":"42"}`), 400, sf.prefix+"Invalid session name: 42")
			expectMsg(t, do(t, c, "POST", u+"/batches", `{"name":"nofile"}`), 400, sf.prefix+"requirement failed: File is required.")
			if sf.ttl {
				expectMsg(t, do(t, c, "POST", u+"/sessions", `{"ttl":"10 parsecs"}`), 400, sf.prefix+"Invalid time string: 10 parsecs")
			}

			// Statements; ?order=desc only from 0.8 on.
			su := u + "/sessions/" + itoa(id)
			waitState(t, c, su, "idle", 5*time.Second)
			for _, code := range []string{"1+1", "2+2"} {
				expect(t, do(t, c, "POST", su+"/statements", `{"code":"`+code+`"}`), 201)
			}
			r = do(t, c, "GET", su+"/statements?order=desc", "")
			expect(t, r, 200)
			first := num(t, r.obj(t)["statements"].([]any)[0].(map[string]any)["id"])
			if want := map[bool]int{true: 1, false: 0}[sf.order]; first != want {
				t.Fatalf("?order=desc: first statement %d, want %d", first, want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
