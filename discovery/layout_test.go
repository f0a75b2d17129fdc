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

func TestServerRecordRoundTrip(t *testing.T) {
	r := ServerRecord{ID: 101, URL: "https://livy-1.example:8998/gateway", Thrift: "livy-1.example:10090",
		ThriftTransport: "http", ThriftHTTPPath: "cliservice", Version: "0.9.0"}
	data, err := r.MarshalData()
	if err != nil {
		t.Fatal(err)
	}
	want := "livy.server.id=101;livy.server.url=https://livy-1.example:8998/gateway;livy.server.thrift.uri=livy-1.example:10090;" +
		"livy.server.thrift.transport.mode=http;livy.server.thrift.http.path=cliservice;livy.server.version=0.9.0"
	if string(data) != want {
		t.Fatalf("data = %s\nwant %s", data, want)
	}
	back, err := ParseServerData(data)
	if err != nil || back != r {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	// Key order does not matter, unknown keys are ignored, spaces trimmed.
	back, err = ParseServerData([]byte(" livy.server.url = http://h:1 ; x.y=z;;livy.server.id=7;"))
	if err != nil || back.ID != 7 || back.URL != "http://h:1" {
		t.Fatalf("reordered = %+v, %v", back, err)
	}
	name, err := ServerNodePrefix(r)
	if err != nil || name != "serverUri=livy-1.example:8998;version=0.9.0;sequence=" {
		t.Fatalf("ServerNodePrefix = %q, %v", name, err)
	}
	v6, _ := ServerNodePrefix(ServerRecord{ID: 1, URL: "http://[::1]:8998"})
	nn, err := ParseServerNodeName(v6 + "0000000042")
	if err != nil || nn.HostPort != "[::1]:8998" || nn.Sequence != 42 || nn.Version != "unknown" {
		t.Fatalf("ParseServerNodeName(%q) = %+v, %v", v6, nn, err)
	}
}

func TestServerRecordRejects(t *testing.T) {
	bad := []string{
		"",
		"livy.server.url=http://h:1", // no id
		"livy.server.id=1",           // no url
		"livy.server.id=-1;livy.server.url=http://h:1", // negative
		"livy.server.id=1x;livy.server.url=http://h:1", // not decimal
		"livy.server.id=99999999999;livy.server.url=http://h:1",
		"livy.server.id=1;livy.server.url=ftp://h:1",      // scheme
		"livy.server.id=1;livy.server.url=http://u:p@h:1", // credentials
		"livy.server.id=1;livy.server.url=http://h:0",
		"livy.server.id=1;livy.server.url=http://h:1;livy.server.thrift.uri=nohost",
		"livy.server.id=1;livy.server.url=http://h:1;livy.server.thrift.transport.mode=carrier-pigeon",
		"livy.server.id=1;garbage;livy.server.url=http://h:1",
		"\x00\xff",
	}
	for _, b := range bad {
		if r, err := ParseServerData([]byte(b)); err == nil || !errors.Is(err, ErrBadRecord) {
			t.Errorf("ParseServerData(%q) = %+v, %v; want ErrBadRecord", b, r, err)
		}
	}
	if _, err := (ServerRecord{ID: 1, URL: "http://h:1", Version: "a;b"}).MarshalData(); err == nil {
		t.Error("MarshalData accepted a ';' in a value")
	}
	for _, n := range []string{"leader", "serverUri=", "serverUri=h:1;sequence=x", "serverUri=h;version=1;sequence=0000000001", "serverUri=h:1;junk"} {
		if _, err := ParseServerNodeName(n); err == nil {
			t.Errorf("ParseServerNodeName(%q) accepted", n)
		}
	}
}

// Curator sorts latch children by the text after the LAST "latch-" (the
// whole name when absent), as strings.
func TestSortLatchChildrenCuratorOrder(t *testing.T) {
	kids := []string{
		"_c_b-latch-0000000003",
		"_c_a-latch-latch-0000000001", // last "latch-" counts
		"zzz",                         // no latch-: sorts by its whole name
		"_c_c-latch-0000000002",
		"0000000000",
	}
	got := SortLatchChildren(slices.Clone(kids))
	want := []string{"0000000000", "_c_a-latch-latch-0000000001", "_c_c-latch-0000000002", "_c_b-latch-0000000003", "zzz"}
	if !slices.Equal(got, want) {
		t.Fatalf("order = %v\nwant  %v", got, want)
	}
	if p := LatchNodePrefix("u-u-i-d"); p != "_c_u-u-i-d-latch-" || !latchHasProtectedID(p+"0000000001", "u-u-i-d") {
		t.Fatalf("LatchNodePrefix = %q", p)
	}
}

func TestBuildSnapshotProblems(t *testing.T) {
	rec := func(name string, id int, seq int64) builtRecord {
		return builtRecord{name: name, seq: seq, rec: ServerRecord{ID: id, URL: "http://h" + name + ":8998"}}
	}
	recs := []builtRecord{
		rec("c", 3, 3), rec("a", 1, 1), rec("b", 2, 2),
		rec("d", 2, 4), // claims id 2 again: both b and d are skipped
		{name: "garbage", seq: 1 << 40, err: errors.New("not a server record node")},
	}
	s := buildSnapshot("/livy/servers", recs, "/livy/leader", true, "_c_x-latch-0000000001", []byte("3"))
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
	if _, err := s.Owner(MultiActive, 20_000_001); !errors.Is(err, ErrNoOwner) {
		t.Errorf("owner of a duplicated id: %v", err)
	}
	// Leader id without a usable record: no leader, with a reason.
	s = buildSnapshot("/livy/servers", recs, "/livy/leader", true, "n", []byte("2"))
	if _, err := s.Active(ActivePassive); !errors.Is(err, ErrNoLeader) || !strings.Contains(err.Error(), "id 2") {
		t.Fatalf("Active = %v", err)
	}
	// Garbage latch data.
	s = buildSnapshot("/livy/servers", recs, "/livy/leader", true, "n", []byte("boss"))
	if _, err := s.Active(ActivePassive); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Active = %v", err)
	}
	// Multi-active without a latch: some live server.
	s = buildSnapshot("/livy/servers", recs, "/livy/leader", false, "", nil)
	if srv, err := s.Active(MultiActive); err != nil || (srv.ID != 1 && srv.ID != 3) {
		t.Fatalf("multi-active Active = %+v, %v", srv, err)
	}
	if _, err := s.Active(ActivePassive); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("active-passive without latch = %v", err)
	}
}

func FuzzParseServerData(f *testing.F) {
	f.Add([]byte("livy.server.id=1;livy.server.url=http://h:8998;livy.server.thrift.uri=h:10000"))
	f.Add([]byte("livy.server.id=;;=;"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseServerData(data)
		if err != nil {
			return
		}
		// Whatever parses must marshal and parse back to the same record.
		out, err := r.MarshalData()
		if err != nil {
			t.Fatalf("parsed %+v does not marshal: %v", r, err)
		}
		back, err := ParseServerData(out)
		if err != nil || back != r {
			t.Fatalf("round trip %+v -> %q -> %+v, %v", r, out, back, err)
		}
	})
}

func FuzzParseServerNodeName(f *testing.F) {
	f.Add("serverUri=h:1;version=1;sequence=0000000001")
	f.Add("serverUri=[::1]:1;version=;sequence=-2147483648")
	f.Fuzz(func(t *testing.T, name string) {
		nn, err := ParseServerNodeName(name)
		if err == nil && nn.HostPort == "" {
			t.Fatalf("%q parsed with empty host", name)
		}
	})
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

func FuzzLatch(f *testing.F) {
	f.Add("_c_x-latch-0000000001", "_c_y-latch-0000000000", []byte("12"))
	f.Fuzz(func(t *testing.T, a, b string, data []byte) {
		kids := SortLatchChildren([]string{a, b})
		if latchSortKey(kids[0]) > latchSortKey(kids[1]) {
			t.Fatalf("not sorted: %q", kids)
		}
		if id, err := ParseLatchData(data); err == nil {
			// Leading zeros are tolerated on read; what we write reads back.
			if back, err := ParseLatchData(LatchData(id)); err != nil || back != id {
				t.Fatalf("latch data %q -> %d -> %q -> %d, %v", data, id, LatchData(id), back, err)
			}
		}
	})
}
