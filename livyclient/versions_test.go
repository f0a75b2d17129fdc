package livyclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// A session field the servers' Livy release rejects is refused before
// anything is sent, naming the release; one it accepts goes through.
func TestVersionRejectsFieldBeforeSending(t *testing.T) {
	for _, tc := range []struct {
		profile   string
		ttl, idle bool // accepted
		version   string
	}{
		{"livyha+livy-0.7", false, false, "0.7"},
		{"livyha+livy-0.8", true, false, "0.8"},
		{"livyha+livy-0.9", true, true, "0.9"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			prof, err := livytest.ParseProfile(tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			connect, root, servers := cluster(t, 1, discovery.ActivePassive, func(c *livytest.Config) { c.Profile = prof })
			c, r := client(t, connect, root, discovery.ActivePassive)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := r.Active(ctx); err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				name     string
				req      livyclient.CreateSessionRequest
				accepted bool
			}{
				{"ttl", livyclient.CreateSessionRequest{Kind: "spark", TTL: "10m"}, tc.ttl},
				{"idleTimeout", livyclient.CreateSessionRequest{Kind: "spark", IdleTimeout: "10m"}, tc.idle},
			} {
				before := len(servers[0].Requests())
				_, err := c.Sessions.Create(ctx, &f.req)
				switch {
				case f.accepted && err != nil:
					t.Errorf("%s on %s: %v", f.name, tc.profile, err)
				case !f.accepted && (!errors.Is(err, livyclient.ErrBadRequest) || !strings.Contains(err.Error(), "Livy "+tc.version) ||
					!strings.Contains(err.Error(), `"`+f.name+`"`)):
					t.Errorf("%s on %s: %v, want a bad-request error naming Livy %s and the field", f.name, tc.profile, err, tc.version)
				case !f.accepted && len(servers[0].Requests()) != before:
					t.Errorf("%s on %s: %d requests sent", f.name, tc.profile, len(servers[0].Requests())-before)
				}
			}
		})
	}
}
