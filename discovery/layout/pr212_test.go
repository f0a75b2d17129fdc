package layout

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func pr212Conf(t *testing.T, extra string) LivyConf {
	t.Helper()
	c, err := ParseLivyConf([]byte("livy.server.ha.mode = on\n" +
		"livy.server.ha.zookeeper-url = zk1:2181,zk2:2181/chroot\n" +
		"livy.server.ha.server-ids = a1, 2,x-3\n" +
		"livy.server.ha.server-hostnames = livy-1.example,livy-2.example , fe80::1\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPR212ConfigFrom(t *testing.T) {
	p, err := PR212ConfigFrom(pr212Conf(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := PR212Config{
		KeyPrefix: "livy_ha", LatchPath: "/livy_ha/leader", ZooKeeper: "zk1:2181,zk2:2181/chroot",
		RetryCount: 5, RetrySleepMs: 100,
		IDs:    []string{"a1", "2", "x-3"},
		Hosts:  map[string]string{"a1": "livy-1.example", "2": "livy-2.example", "x-3": "fe80::1"},
		Scheme: "http", Port: 8998,
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("PR212ConfigFrom = %+v\nwant %+v", p, want)
	}
	if u, err := p.BaseURL("x-3"); err != nil || u != "http://[fe80::1]:8998" {
		t.Errorf("BaseURL(x-3) = %q, %v", u, err)
	}
	if _, err := p.BaseURL("nope"); !errors.Is(err, ErrBadRecord) {
		t.Errorf("BaseURL(nope) = %v", err)
	}
	if h, ok := p.Hostname("2"); !ok || h != "livy-2.example" {
		t.Errorf("Hostname(2) = %q, %v", h, ok)
	}

	// https as soon as livy.keystore is set, even to ""; Thrift; a prefix
	// with a slash; a retry policy with blanks.
	p, err = PR212ConfigFrom(pr212Conf(t, "livy.keystore =\nlivy.server.port = 8443\nlivy.server.thrift.enabled = True\n"+
		"livy.server.thrift.transport.mode = HTTP\nlivy.server.thrift.port = 10091\nlivy.server.ha.key-prefix = a/b\n"+
		"livy.server.ha.retry-policy = 3 ,\t250\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Scheme != "https" || p.Port != 8443 || p.LatchPath != "/a/b/leader" || p.RetryCount != 3 || p.RetrySleepMs != 250 {
		t.Errorf("config = %+v", p)
	}
	if p.Thrift == nil || *p.Thrift != (PR212Thrift{Port: 10091, Transport: "http", HTTPPath: "cliservice"}) {
		t.Errorf("thrift = %+v", p.Thrift)
	}
	got := p.Servers()
	wantServers := []PR212Server{
		{ID: "a1", Hostname: "livy-1.example", URL: "https://livy-1.example:8443", Thrift: "livy-1.example:10091"},
		{ID: "2", Hostname: "livy-2.example", URL: "https://livy-2.example:8443", Thrift: "livy-2.example:10091"},
		{ID: "x-3", Hostname: "fe80::1", URL: "https://[fe80::1]:8443", Thrift: "[fe80::1]:10091"},
	}
	if !slices.Equal(got, wantServers) {
		t.Errorf("Servers = %+v", got)
	}
	// Every URL is one the canonical checker accepts.
	for _, s := range got {
		if _, _, err := URLHostPort(s.URL); err != nil {
			t.Errorf("URLHostPort(%q): %v", s.URL, err)
		}
	}
}

func TestPR212ConfigRejects(t *testing.T) {
	base := "livy.server.ha.mode = on\nlivy.server.ha.zookeeper-url = zk:2181\n"
	cases := []struct{ conf, key string }{
		{"livy.server.ha.zookeeper-url = zk\nlivy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\n", "livy.server.ha.mode"},
		{"livy.server.ha.mode = ON\nlivy.server.ha.zookeeper-url = zk\nlivy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\n", "livy.server.ha.mode"},
		{"livy.server.ha.mode = on\nlivy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\n", "livy.server.ha.zookeeper-url"},
		{base + "livy.server.ha.server-hostnames = h\n", "livy.server.ha.server-ids"},
		{base + "livy.server.ha.server-ids =\nlivy.server.ha.server-hostnames = h\n", "livy.server.ha.server-ids"},
		{base + "livy.server.ha.server-ids = a\n", "livy.server.ha.server-hostnames"},
		{base + "livy.server.ha.server-ids = a,b\nlivy.server.ha.server-hostnames = h\n", "livy.server.ha.server-hostnames"},
		{base + "livy.server.ha.server-ids = ,a\nlivy.server.ha.server-hostnames = g,h\n", "livy.server.ha.server-ids"},
		{base + "livy.server.ha.server-ids = a,a\nlivy.server.ha.server-hostnames = g,h\n", "livy.server.ha.server-ids"},
		{base + "livy.server.ha.server-ids = a,b\nlivy.server.ha.server-hostnames = h,h\n", "livy.server.ha.server-hostnames"},
		{base + "livy.server.ha.server-ids = a\tb\nlivy.server.ha.server-hostnames = h\n", "livy.server.ha.server-ids"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = 0.0.0.0\n", "livy.server.ha.server-hostnames"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h/x\n", "livy.server.ha.server-hostnames"},
		{base + "livy.server.ha.server-ids = a,b\nlivy.server.ha.server-hostnames = h,\\#\n", "livy.server.ha.server-hostnames"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h?x\n", "livy.server.ha.server-hostnames"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = fe80::1%eth0\n", "livy.server.ha.server-hostnames"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\nlivy.server.ha.key-prefix =\n", "livy.server.ha.key-prefix"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\nlivy.server.ha.key-prefix = a/\n", "livy.server.ha.key-prefix"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\nlivy.server.ha.retry-policy = 5\n", "livy.server.ha.retry-policy"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\nlivy.server.ha.retry-policy = 5,-1\n", "livy.server.ha.retry-policy"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\nlivy.server.ha.retry-policy = 99999999999,1\n", "livy.server.ha.retry-policy"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\nlivy.server.port = 0\n", "livy.server.port"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\nlivy.server.port = x\n", "livy.server.port"},
		{base + "livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\nlivy.server.thrift.enabled = true\nlivy.server.thrift.port = 70000\n", "livy.server.thrift.port"},
	}
	for _, c := range cases {
		conf, err := ParseLivyConf([]byte(c.conf))
		if err != nil {
			t.Fatal(err)
		}
		p, err := PR212ConfigFrom(conf)
		if !errors.Is(err, ErrBadLivyConf) || !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), c.key) {
			t.Errorf("PR212ConfigFrom(%q) = %+v, %v; want an error naming %s", c.conf, p, err, c.key)
		}
	}
}

func TestPR212Participant(t *testing.T) {
	for _, id := range []string{"a1", "2", "x-3", "ñ", strings.Repeat("i", MaxPR212IDLen)} {
		got, err := ParsePR212Participant(PR212ParticipantData(id))
		if err != nil || got != id {
			t.Errorf("round trip %q = %q, %v", id, got, err)
		}
	}
	for _, bad := range []string{"", " ", "a b", "a,b", "a\tb", "a\x00", "\xff", "\u200b", strings.Repeat("i", MaxPR212IDLen+1)} {
		if id, err := ParsePR212Participant([]byte(bad)); !errors.Is(err, ErrBadRecord) || len(err.Error()) > 600 {
			t.Errorf("ParsePR212Participant(%q) = %q, %v", bad, id, err)
		}
	}
}

func FuzzParsePR212Participant(f *testing.F) {
	for _, s := range []string{"a1", "", "a b", "\xff", "日本"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := ParsePR212Participant(data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) || len(err.Error()) > 600 {
				t.Fatalf("error %q", err)
			}
			return
		}
		if string(PR212ParticipantData(id)) != string(data) || ValidatePR212ID(id) != nil {
			t.Fatalf("round trip of %q", data)
		}
		// An accepted id survives livy.conf's list syntax.
		c := LivyConf{PR212KeyServerIDs: id}
		if s := c.Seq(PR212KeyServerIDs); len(s) != 1 || s[0] != id {
			t.Fatalf("configToSeq(%q) = %q", id, s)
		}
	})
}

func FuzzPR212ConfigFrom(f *testing.F) {
	f.Add("a, b", "h1,h2", "livy_ha", "8998", "5,100")
	f.Add(",a", "h", "", "0", "x")
	f.Add("a", "::1", "x/y", "+1", " 1 , 2 ")
	f.Fuzz(func(t *testing.T, ids, hosts, prefix, port, retry string) {
		c := LivyConf{PR212KeyMode: "on", PR212KeyZooKeeperURL: "zk:2181", PR212KeyServerIDs: ids,
			PR212KeyHostnames: hosts, PR212KeyKeyPrefix: prefix, LivyKeyServerPort: port, PR212KeyRetryPolicy: retry}
		p, err := PR212ConfigFrom(c)
		if err != nil {
			if !errors.Is(err, ErrBadLivyConf) || len(err.Error()) > 600 {
				t.Fatalf("error %q", err)
			}
			return
		}
		if _, err := CleanPath(p.LatchPath); err != nil {
			t.Fatalf("latch path %q: %v", p.LatchPath, err)
		}
		for _, s := range p.Servers() {
			if _, _, err := URLHostPort(s.URL); err != nil {
				t.Fatalf("server %+v: %v", s, err)
			}
			if got, err := ParsePR212Participant(PR212ParticipantData(s.ID)); err != nil || got != s.ID {
				t.Fatalf("id %q does not round-trip: %v", s.ID, err)
			}
		}
	})
}
