package discovery

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	good := []struct {
		in   string
		want func(Target) bool
	}{
		{"zk1:2181,zk2/apps", func(t Target) bool {
			return t.Kind == "zk" && t.Layout == LayoutCanonical && t.Root == "/livy" && t.ZK.Chroot == "/apps" && len(t.ZK.Servers) == 2
		}},
		{"zk://zk1?root=/x&mode=session-ha", func(t Target) bool { return t.Root == "/x" && t.Mode == SessionHA }},
		{"zk://zk1?layout=pr189", func(t Target) bool { return t.Layout == LayoutPR189 && t.Path == "" }},
		{"zk://zk1?layout=pr276&path=/a/b&scheme=https", func(t Target) bool { return t.Path == "/a/b" && t.Scheme == "https" }},
		{"zk://zk1?layout=hive-ha&namespace=ns&sasl=true", func(t Target) bool { return t.Namespace == "ns" && t.SASL }},
		{"zk://zk1?layout=pr212&conf=/etc/livy.conf", func(t Target) bool { return t.Conf == "/etc/livy.conf" }},
		{"zk://zk1?layout=pr212&ids=a,b&hosts=h1,h2&port=9000", func(t Target) bool {
			return slices.Equal(t.IDs, []string{"a", "b"}) && t.Port == 9000
		}},
		{"livy-conf:///etc/livy/conf/livy.conf?zk=zk9:2181", func(t Target) bool {
			return t.Kind == "livy-conf" && t.Layout == LayoutPR212 && t.ZK.Servers[0] == "zk9:2181"
		}},
		{"static://h1,[::1]:9000/base", func(t Target) bool {
			return slices.Equal(t.Endpoints, []string{"http://h1:8998/base", "http://[::1]:9000/base"})
		}},
	}
	for _, c := range good {
		got, err := ParseTarget(c.in)
		if err != nil || !c.want(got) {
			t.Errorf("ParseTarget(%q) = %+v, %v", c.in, got, err)
		}
		if got.String() != c.in {
			t.Errorf("String() = %q, want %q", got.String(), c.in)
		}
	}
	bad := map[string]string{
		"":                         "empty",
		"zk1?root=/x":              "need a zk:// target",
		"etcd://h":                 "unknown scheme",
		"zk://zk1?layout=nope":     "unknown layout",
		"zk://zk1?root=x":          "root",
		"zk://zk1?mode=sideways":   "unknown mode",
		"zk://zk1?root=/a&root=/b": "given 2 times",
		"zk://zk1?layout=pr276&mode=multi-active": "does not apply",
		"zk://zk1?layout=pr212":                   "needs conf=",
		"zk://zk1?layout=pr212&ids=a&hosts=":      "ids= has 1 entries and hosts= 0",
		"zk://zk1?layout=pr212&conf=rel.conf":     "absolute",
		"livy-conf://etc/livy.conf":               "absolute",
		"static://h:0":                            "bad port",
		"static://h?scheme=ftp":                   "scheme",
		"zk://zk1?layout=hive-ha&sasl=maybe":      "sasl",
	}
	for in, want := range bad {
		_, err := ParseTarget(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTarget(%q) = %v; want an error containing %q", in, err, want)
		}
		if err != nil && !errors.Is(err, ErrBadTarget) && !errors.Is(err, ErrBadConnectString) && !errors.Is(err, ErrBadOption) {
			t.Errorf("ParseTarget(%q) = %v: not a target error", in, err)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"zk1:2181/apps", "zk://a,b/c?layout=pr212&ids=x&hosts=y", "static://h1,h2/b?scheme=https",
		"livy-conf:///etc/livy.conf?zk=a", "zk://a?root=/%2F&mode=active-active"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if tg.Kind == "" || (tg.Kind != "static" && len(tg.ZK.Servers) == 0 && tg.Kind != "livy-conf") {
			t.Fatalf("ParseTarget(%q) = %+v without error", s, tg)
		}
		if _, err := ParseTarget(tg.String()); err != nil {
			t.Fatalf("String() %q does not parse again: %v", tg.String(), err)
		}
	})
}
