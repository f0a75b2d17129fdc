package layout

import (
	"errors"
	"slices"
	"testing"
)

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
		"livy.server.id=1;livy.server.url=http://a:b:8998", // a host with a colon, unbracketed
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
	if p := LatchNodePrefix("u-u-i-d"); p != "_c_u-u-i-d-latch-" || !HasProtectedID(p+"0000000001", "u-u-i-d") {
		t.Fatalf("LatchNodePrefix = %q", p)
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
