package discovery

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseConnectString(t *testing.T) {
	cases := []struct {
		in      string
		servers []string
		chroot  string
		bad     bool
	}{
		{in: "zk1:2181,zk2:2182", servers: []string{"zk1:2181", "zk2:2182"}},
		{in: "zk1,zk2/apps/livy", servers: []string{"zk1:2181", "zk2:2181"}, chroot: "/apps/livy"},
		{in: " 127.0.0.1:1/", servers: []string{"127.0.0.1:1"}},
		{in: "[::1]:2181,[::1]/x/", servers: []string{"[::1]:2181", "[::1]:2181"}, chroot: "/x"},
		{in: "", bad: true},
		{in: "zk1,,zk2", bad: true},
		{in: "zk1:0", bad: true},
		{in: "zk1:99999", bad: true},
		{in: "zk1:abc", bad: true},
		{in: "::1:2181", bad: true},
		{in: "[::1", bad: true},
		{in: "zk1/a//b", bad: true},
		{in: "zk1/a/../b", bad: true},
		{in: "/chroot-only", bad: true},
		{in: "zk1:", bad: true},
	}
	for _, c := range cases {
		got, err := ParseConnectString(c.in)
		if c.bad {
			if err == nil || !errors.Is(err, ErrBadConnectString) {
				t.Errorf("ParseConnectString(%q) = %+v, %v; want ErrBadConnectString", c.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseConnectString(%q): %v", c.in, err)
			continue
		}
		if !slices.Equal(got.Servers, c.servers) || got.Chroot != c.chroot {
			t.Errorf("ParseConnectString(%q) = %+v; want %v %q", c.in, got, c.servers, c.chroot)
		}
	}
}

func TestBuildSnapshotProblems(t *testing.T) {
	rec := func(name string, id int, seq int64) dirEntry {
		return dirEntry{name: name, val: canonicalEntry{seq: seq, rec: &ServerRecord{ID: id, URL: "http://h" + name + ":8998"}}}
	}
	entries := []dirEntry{
		rec("c", 3, 3), rec("a", 1, 1), rec("b", 2, 2),
		rec("d", 2, 4), // claims id 2 again: both b and d are skipped
		{name: "garbage", err: errors.New("not a server record node")},
	}
	build := func(mode Mode, latched bool, node string, data []byte) *Snapshot {
		lay := newCanonicalLayout("/livy", mode)
		return buildSnapshot(lay.build([]zkRead{{entries: entries}, {latched: latched, leaderNode: node, leaderData: data}}))
	}
	s := build(MultiActive, true, "_c_x-latch-0000000001", []byte("3"))
	if len(s.Servers) != 2 || s.Servers[0].ID != 3 || !s.Servers[0].Leader || s.Servers[1].ID != 1 {
		t.Fatalf("servers = %+v", s.Servers)
	}
	if len(s.Problems) != 3 {
		t.Fatalf("problems = %v", s.Problems)
	}
	for _, p := range s.Problems[:2] {
		if !strings.Contains(p.Reason, "claimed by 2 records") {
			t.Errorf("problem %v", p)
		}
	}
	if _, err := s.Owner(Interactive, 20_000_001); !errors.Is(err, ErrNoOwner) {
		t.Errorf("owner of a duplicated id: %v", err)
	}
	// Leader id without a usable record: no leader, with a reason.
	s = build(ActivePassive, true, "n", []byte("2"))
	if _, err := s.Active(); !errors.Is(err, ErrNoLeader) || !strings.Contains(err.Error(), "id 2") {
		t.Fatalf("Active = %v", err)
	}
	// Garbage latch data: no leader, and a hint at PR #212's string ids.
	s = build(ActivePassive, true, "n", []byte("boss"))
	if _, err := s.Active(); !errors.Is(err, ErrNoLeader) || !strings.Contains(err.Error(), "pr212") {
		t.Fatalf("Active = %v", err)
	}
	// Multi-active without a latch: some live server.
	s = build(MultiActive, false, "", nil)
	if srv, err := s.Active(); err != nil || (srv.ID != 1 && srv.ID != 3) {
		t.Fatalf("multi-active Active = %+v, %v", srv, err)
	}
	s = build(ActivePassive, false, "", nil)
	if _, err := s.Active(); !errors.Is(err, ErrNoLeader) || !strings.Contains(err.Error(), "/livy/leader has no participants") {
		t.Fatalf("active-passive without latch = %v", err)
	}
}

func FuzzParseConnectString(f *testing.F) {
	f.Add("a:1,b:2/c/d")
	f.Add("[::1]:2181/")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseConnectString(s)
		if err != nil {
			return
		}
		again, err := ParseConnectString(cs.String())
		if err != nil || !slices.Equal(again.Servers, cs.Servers) || again.Chroot != cs.Chroot {
			t.Fatalf("%q -> %q does not re-parse the same: %+v %v", s, cs.String(), again, err)
		}
	})
}
