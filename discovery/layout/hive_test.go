package layout

import (
	"errors"
	"os"
	"reflect"
	"testing"
)

func TestParseHiveNode(t *testing.T) {
	const name = "serverUri=hs2-1:10000;version=3.1.3;sequence=0000000007"
	cases := []struct {
		what       string
		name, data string
		want       HiveInstance // Settings, Node, Version, Sequence not compared
	}{
		{what: "HiveServer2 binary, Kerberos", name: name,
			data: "hive.server2.instance.uri=hs2-1:10000;hive.server2.authentication=KERBEROS;hive.server2.transport.mode=binary;" +
				"hive.server2.thrift.sasl.qop=auth-conf;hive.server2.thrift.bind.host=hs2-1.example;hive.server2.thrift.port=10000;" +
				"hive.server2.use.SSL=false;hive.server2.authentication.kerberos.principal=hive/_HOST@EXAMPLE.COM",
			want: HiveInstance{HostPort: "hs2-1.example:10000", Host: "hs2-1.example", Port: 10000, BinaryPort: 10000,
				TransportMode: "binary", Auth: "KERBEROS", SASLQoP: "auth-conf", Principal: "hive/_HOST@EXAMPLE.COM"}},
		{what: "http mode, keys in another order, SSL", name: name,
			data: "hive.server2.use.SSL=TRUE;hive.server2.thrift.http.path=cliservice;hive.server2.thrift.http.port=10001;" +
				"hive.server2.transport.mode=HTTP;hive.server2.thrift.bind.host=hs2-1.example;hive.server2.authentication=LDAP",
			want: HiveInstance{HostPort: "hs2-1.example:10001", Host: "hs2-1.example", Port: 10001, HTTPPort: 10001,
				TransportMode: "http", HTTPPath: "cliservice", UseSSL: true, Auth: "LDAP"}},
		{what: "all mode serves both; Port is the binary one", name: name,
			data: "hive.server2.transport.mode=all;hive.server2.thrift.http.port=10001;hive.server2.thrift.port=10000;hive.server2.thrift.bind.host=h",
			want: HiveInstance{HostPort: "h:10000", Host: "h", Port: 10000, BinaryPort: 10000, HTTPPort: 10001, TransportMode: "all"}},
		{what: "old data host:port wins over the name", name: name, data: "hs2-2.example:10002",
			want: HiveInstance{HostPort: "hs2-2.example:10002", Host: "hs2-2.example", Port: 10002}},
		{what: "no data: the name (gohive's view)", name: name, data: "",
			want: HiveInstance{HostPort: "hs2-1:10000", Host: "hs2-1", Port: 10000}},
		{what: "wildcard bind host: the instance URI", name: name,
			data: "hive.server2.thrift.bind.host=0.0.0.0;hive.server2.instance.uri=hs2-9:10000;hive.server2.thrift.port=10000",
			want: HiveInstance{HostPort: "hs2-9:10000", Host: "hs2-9", Port: 10000, BinaryPort: 10000}},
		{what: "bracketed IPv6 name, bare IPv6 bind host", name: "serverUri=[::1]:10000;version=1;sequence=0000000001",
			data: "hive.server2.thrift.bind.host=::1;hive.server2.thrift.port=10000",
			want: HiveInstance{HostPort: "[::1]:10000", Host: "::1", Port: 10000, BinaryPort: 10000}},
		{what: "bare IPv6 name as Java writes it", name: "serverUri=0:0:0:0:0:0:0:1:10000;version=1;sequence=0000000001",
			want: HiveInstance{HostPort: "[0:0:0:0:0:0:0:1]:10000", Host: "0:0:0:0:0:0:0:1", Port: 10000}},
		{what: "old data, bare IPv6", name: name, data: "fe80::1%eth0:10003",
			want: HiveInstance{HostPort: "[fe80::1%eth0]:10003", Host: "fe80::1%eth0", Port: 10003}},
		{what: "Kyuubi-style name without version", name: "serverUri=kyuubi-1:10009;sequence=0000000003",
			data: "hive.server2.thrift.bind.host=kyuubi-1;hive.server2.thrift.port=10009;kyuubi.engine.id=x",
			want: HiveInstance{HostPort: "kyuubi-1:10009", Host: "kyuubi-1", Port: 10009, BinaryPort: 10009}},
	}
	for _, c := range cases {
		got, err := ParseHiveNode(c.name, []byte(c.data))
		if err != nil {
			t.Errorf("%s: %v", c.what, err)
			continue
		}
		if got.Node != c.name {
			t.Errorf("%s: Node = %q", c.what, got.Node)
		}
		got.Settings, got.Node, got.Version, got.Sequence = nil, "", "", 0
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.what, got, c.want)
		}
	}
	inst, _ := ParseHiveNode(name, []byte("hive.server2.thrift.bind.host=h;hive.server2.thrift.port=10000;x.y=z"))
	if inst.Version != "3.1.3" || inst.Sequence != 7 || inst.Settings["x.y"] != "z" || len(inst.Settings) != 3 {
		t.Errorf("version/sequence/settings: %+v", inst)
	}
	all, _ := ParseHiveNode(name, []byte("hive.server2.transport.mode=all;hive.server2.thrift.http.port=10001;hive.server2.thrift.port=10000;hive.server2.thrift.bind.host=h"))
	if all.Addr("http") != "h:10001" || all.Addr("binary") != "h:10000" || all.Addr("") != "h:10000" {
		t.Errorf("Addr: %s %s %s", all.Addr("http"), all.Addr("binary"), all.Addr(""))
	}
}

func TestParseHiveNodeRejects(t *testing.T) {
	const name = "serverUri=h:1;version=1;sequence=0000000001"
	bad := []struct{ name, data string }{
		{"leader", ""},
		{"serverUri=h;version=1;sequence=0000000001", ""},
		{"serverUri=h:http;version=1;sequence=0000000001", ""},
		{"serverUri=h:0;version=1;sequence=0000000001", ""},
		{"serverUri=0.0.0.0:1;version=1;sequence=0000000001", ""},
		{"serverUri=h:1;version=1;sequence=x", ""},
		{name, "justgarbage"},
		{name, "h:99999"},
		{name, "a=b;junk"},
		{name, "hive.server2.transport.mode=carrier-pigeon"},
		{name, "hive.server2.thrift.port=abc"},
		{name, "hive.server2.thrift.http.port=-1"},
		{name, "hive.server2.thrift.bind.host=two words"},
		{name, "hive.server2.thrift.bind.host=not:an:ip"},
	}
	for _, b := range bad {
		if got, err := ParseHiveNode(b.name, []byte(b.data)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("ParseHiveNode(%q, %q) = %+v, %v; want ErrBadRecord", b.name, b.data, got, err)
		}
	}
}

func TestHiveRecordDataAndPrefix(t *testing.T) {
	inst := HiveInstance{Host: "livy-1.example", Port: 10090, TransportMode: "http", HTTPPath: "cliservice",
		Auth: "KERBEROS", Principal: "livy/_HOST@EXAMPLE.COM", UseSSL: true, Settings: map[string]string{"z.k": "v", "a.k": "w=x"}}
	data, err := HiveRecordData(inst)
	if err != nil {
		t.Fatal(err)
	}
	want := "hive.server2.thrift.bind.host=livy-1.example;hive.server2.instance.uri=livy-1.example:10090;hive.server2.transport.mode=http;" +
		"hive.server2.thrift.http.port=10090;hive.server2.thrift.http.path=cliservice;hive.server2.authentication=KERBEROS;" +
		"hive.server2.authentication.kerberos.principal=livy/_HOST@EXAMPLE.COM;hive.server2.use.SSL=true;a.k=w=x;z.k=v"
	if string(data) != want {
		t.Fatalf("data = %s\nwant %s", data, want)
	}
	prefix, err := HiveNodePrefix(inst.Host, inst.Port, "0.9.0")
	if err != nil || prefix != "serverUri=livy-1.example:10090;version=0.9.0;sequence=" {
		t.Fatalf("HiveNodePrefix = %q, %v", prefix, err)
	}
	back, err := ParseHiveNode(prefix+"0000000012", data)
	if err != nil || back.HostPort != "livy-1.example:10090" || back.TransportMode != "http" || back.HTTPPath != "cliservice" ||
		!back.UseSSL || back.Principal != inst.Principal || back.Settings["a.k"] != "w=x" || back.Sequence != 12 {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	if p, err := HiveNodePrefix("::1", 10000, ""); err != nil || p != "serverUri=[::1]:10000;version=unknown;sequence=" {
		t.Fatalf("IPv6 prefix = %q, %v", p, err)
	}
	for _, b := range []HiveInstance{
		{Host: "", Port: 1},
		{Host: "h", Port: 0},
		{Host: "0.0.0.0", Port: 1},
		{Host: "h", Port: 1, TransportMode: "smoke"},
		{Host: "h", Port: 1, BinaryPort: 2},  // Port is not the binary port
		{Host: "h", Port: 1, Auth: "a;b"},    // ';' breaks the format
		{Host: "h", Port: 1, HTTPPath: " x"}, // would not read back
		{Host: "h", Port: 1, Settings: map[string]string{"k=": "v"}},
	} {
		if _, err := HiveRecordData(b); !errors.Is(err, ErrBadRecord) {
			t.Errorf("HiveRecordData(%+v) = %v; want ErrBadRecord", b, err)
		}
	}
}

func TestParseServiceRecord(t *testing.T) {
	inst, err := ParseServiceRecord([]byte(activeRecord))
	if err != nil {
		t.Fatal(err)
	}
	if !inst.Active || inst.HostPort != "hs2-1.example:10000" || inst.TransportMode != "binary" || inst.Auth != "NONE" ||
		inst.SASLQoP != "auth" || inst.Settings["registry.unique.id"] == "" || inst.Settings["type"] != "" {
		t.Fatalf("active = %+v", inst)
	}
	// Passive, http mode, the endpoint's address only (no bind host),
	// port as a JSON number, a numeric attribute.
	passive := `{"type":"JSONServiceRecord","internal":[{"api":"passiveEndpoint","addressType":"host/port","protocolType":"hadoop/IPC",
		"addresses":[{"host":"::1","port":10001}]}],"hive.server2.transport.mode":"http","hive.server2.thrift.http.path":"cliservice",
		"hive.server2.webui.port":10002}`
	inst, err = ParseServiceRecord([]byte(passive))
	if err != nil || inst.Active || inst.HostPort != "[::1]:10001" || inst.HTTPPath != "cliservice" || inst.Settings["hive.server2.webui.port"] != "10002" {
		t.Fatalf("passive = %+v, %v", inst, err)
	}
	data, err := HiveServiceRecordData(inst)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseServiceRecord(data)
	if err != nil || back.HostPort != inst.HostPort || back.Active || back.HTTPPath != "cliservice" {
		t.Fatalf("round trip %s = %+v, %v", data, back, err)
	}
	bad := []string{
		``, `null`, `[]`, `{}`, `"x"`,
		`{"type":"Other","internal":[{"api":"activeEndpoint","addresses":[{"host":"h","port":"1"}]}]}`,
		`{"type":"JSONServiceRecord"}`,
		`{"type":"JSONServiceRecord","internal":[null]}`,
		`{"type":"JSONServiceRecord","internal":[{"api":"somethingElse","addresses":[{"host":"h","port":"1"}]}]}`,
		`{"type":"JSONServiceRecord","internal":[{"api":"activeEndpoint","addresses":[{"host":"h","port":"1"}]},{"api":"passiveEndpoint","addresses":[{"host":"h","port":"1"}]}]}`,
		`{"type":"JSONServiceRecord","internal":[{"api":"activeEndpoint","addresses":[]}]}`,
		`{"type":"JSONServiceRecord","internal":[{"api":"activeEndpoint","addresses":[{"host":"h"}]}]}`,
		`{"type":"JSONServiceRecord","internal":[{"api":"activeEndpoint","addresses":[{"host":"h","port":"x"}]}]}`,
		`{"type":"JSONServiceRecord","internal":[{"api":"activeEndpoint","addresses":[["h","1"]]}]}`,
		`{"type":"JSONServiceRecord","internal":[{"api":"activeEndpoint","addresses":[{"host":"h","port":"1"}]}],"hive.server2.transport.mode":"x"}`,
	}
	for _, b := range bad {
		if got, err := ParseServiceRecord([]byte(b)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("ParseServiceRecord(%s) = %+v, %v; want ErrBadRecord", b, got, err)
		}
	}
}

// hiveTyped is what must survive a write and a read.
func hiveTyped(h HiveInstance) HiveInstance {
	h.Settings, h.BinaryPort, h.HTTPPort = nil, 0, 0
	return h
}

func FuzzParseHiveNode(f *testing.F) {
	f.Add("serverUri=hs2-1:10000;version=3.1.3;sequence=0000000007",
		[]byte("hive.server2.thrift.bind.host=hs2-1;hive.server2.thrift.port=10000;hive.server2.transport.mode=binary;hive.server2.use.SSL=false"))
	f.Add("serverUri=[::1]:10001;version=1;sequence=0000000001",
		[]byte("hive.server2.transport.mode=http;hive.server2.thrift.http.port=10001;hive.server2.thrift.http.path=cliservice"))
	f.Add("serverUri=::1:10000;sequence=1", []byte("h:1"))
	f.Add("serverUri=h:1;version=1;sequence=0000000001", []byte("hive.server2.transport.mode=all;hive.server2.thrift.http.port=2;x= y ;hive.server2.instance.uri=z:3"))
	f.Add("serverUri=h:1", []byte(""))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		inst, err := ParseHiveNode(name, data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error without ErrBadRecord: %v", err)
			}
			return
		}
		if inst.Port < 1 || inst.Port > 65535 || inst.Host == "" || inst.HostPort != inst.Addr("") {
			t.Fatalf("parsed %+v", inst)
		}
		// What parses writes, and reads back the same.
		out, err := HiveRecordData(inst)
		if err != nil {
			t.Fatalf("parsed %+v does not write: %v", inst, err)
		}
		inst2, err := ParseHiveNode(name, out)
		if err != nil || !reflect.DeepEqual(hiveTyped(inst2), hiveTyped(inst)) {
			t.Fatalf("round trip %+v -> %q -> %+v, %v", inst, out, inst2, err)
		}
		out2, err := HiveRecordData(inst2)
		if err != nil {
			t.Fatal(err)
		}
		if inst3, err := ParseHiveNode(name, out2); err != nil || !reflect.DeepEqual(inst3, inst2) || string(out2) != string(out) {
			t.Fatalf("second round trip %q -> %+v -> %q, %v", out, inst2, out2, err)
		}
		// The name writer agrees with the name parser.
		if prefix, err := HiveNodePrefix(inst.Host, inst.Port, inst.Version); err == nil {
			nn, err := ParseServerNodeName(prefix + "0000000001")
			if err != nil || nn.HostPort != inst.Addr("") {
				t.Fatalf("HiveNodePrefix %q reads back as %+v, %v", prefix, nn, err)
			}
		}
		// So does the ServiceRecord writer, unless a setting is named
		// like a ServiceRecord field.
		for k := range inst.Settings {
			if serviceRecordFields[k] {
				return
			}
		}
		sr, err := HiveServiceRecordData(inst)
		if err != nil {
			t.Fatalf("parsed %+v does not write as a ServiceRecord: %v", inst, err)
		}
		if back, err := ParseServiceRecord(sr); err != nil || back.HostPort != inst.HostPort || back.TransportMode != inst.TransportMode {
			t.Fatalf("as ServiceRecord %s -> %+v, %v", sr, back, err)
		}
	})
}

func FuzzParseServiceRecord(f *testing.F) {
	f.Add([]byte(activeRecord))
	f.Add([]byte(`{"type":"JSONServiceRecord","internal":[{"api":"passiveEndpoint","addresses":[{"host":"::1","port":1}]}],"a":true,"b":null,"c":{}}`))
	f.Add([]byte(`{"type":"JSONServiceRecord","internal":[{"api":"activeEndpoint","addresses":[{"host":"h","port":"1"}]}],"hive.server2.transport.mode":"http","hive.server2.thrift.http.port":"2"}`))
	f.Add([]byte(`{"type":"JSONServiceRecord","internal":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inst, err := ParseServiceRecord(data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error without ErrBadRecord: %v", err)
			}
			return
		}
		out, err := HiveServiceRecordData(inst)
		if err != nil {
			t.Fatalf("parsed %+v does not write: %v", inst, err)
		}
		inst2, err := ParseServiceRecord(out)
		if err != nil || !reflect.DeepEqual(hiveTyped(inst2), hiveTyped(inst)) {
			t.Fatalf("round trip %+v -> %s -> %+v, %v", inst, out, inst2, err)
		}
		out2, err := HiveServiceRecordData(inst2)
		if err != nil {
			t.Fatal(err)
		}
		if inst3, err := ParseServiceRecord(out2); err != nil || !reflect.DeepEqual(inst3, inst2) || string(out2) != string(out) {
			t.Fatalf("second round trip %s -> %+v -> %s, %v", out, inst2, out2, err)
		}
	})
}

// activeRecord is an active HiveServer2's ServiceRecord as
// HS2ActivePassiveHARegistry writes it (shared with discovery's tests).
var activeRecord = func() string {
	b, err := os.ReadFile("testdata/hs2-active-record.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()
