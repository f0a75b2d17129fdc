package testutil

import (
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartSims starts three livy-sim processes of profile ("livyha" or
// "pr212") on the ZooKeeper at connect, under root, with ZooKeeper session
// timeout st, and returns them by URL with the discovery target that finds
// them: zk://connect?root=root for livyha (the canonical layout); for
// pr212, livy-conf://<the livy.conf the first one writes> — three servers
// on one port on 127.0.0.41-43, as PR #212 clusters share
// livy.server.port, with a 200ms restart window.
func StartSims(t testing.TB, profile, connect, root string, st time.Duration) (map[string]*Sim, string) {
	t.Helper()
	sims := map[string]*Sim{}
	switch profile {
	case "livyha":
		for id := 1; id <= 3; id++ {
			s := StartSim(t, "--zk", connect, "--root", root, "--id", strconv.Itoa(id), "--session-timeout", st.String(), "--step", "20ms")
			sims[s.URL] = s
		}
		return sims, "zk://" + connect + "?root=" + url.QueryEscape(root)
	case "pr212":
		hosts := []string{"127.0.0.41", "127.0.0.42", "127.0.0.43"}
		port := FreePortOn(t, hosts...)
		conf := filepath.Join(t.TempDir(), "livy.conf")
		for i, h := range hosts {
			s := StartSim(t, "--profile", "pr212", "--zk", connect, "--root", root, "--livy-conf", conf,
				"--ha-server-ids", "a,b,c", "--ha-server-hostnames", strings.Join(hosts, ","), "--ha-key-prefix", "sims_"+strconv.Itoa(port),
				"--ha-id", string(rune('a'+i)), "--listen", net.JoinHostPort(h, strconv.Itoa(port)),
				"--session-timeout", st.String(), "--step", "20ms", "--restart-window", "200ms")
			sims[s.URL] = s
		}
		return sims, "livy-conf://" + conf
	}
	t.Fatalf("testutil: no profile %q", profile)
	return nil, ""
}
