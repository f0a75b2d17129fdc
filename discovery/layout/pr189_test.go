package layout

import (
	"errors"
	"strings"
	"testing"
)

func TestPR189(t *testing.T) {
	if p, err := PR189Path(LivyConf{}); err != nil || p != "/livy/server.uri" || PR189DefaultPath != "/livy/server.uri" {
		t.Errorf("PR189Path(default) = %q, %v", p, err)
	}
	if p, err := PR189Path(LivyConf{PR189KeyNamespace: "a/b", PR189KeyNode: "uri"}); err != nil || p != "/a/b/uri" {
		t.Errorf("PR189Path = %q, %v", p, err)
	}
	for _, c := range []LivyConf{{PR189KeyNamespace: ""}, {PR189KeyNode: ""}, {PR189KeyNamespace: "a/"}, {PR189KeyNode: ".."}} {
		if p, err := PR189Path(c); !errors.Is(err, ErrBadLivyConf) {
			t.Errorf("PR189Path(%q) = %q, %v", c, p, err)
		}
	}

	// What a PR #189 server writes: always http, the wildcard host
	// replaced by its address.
	for _, c := range []struct {
		conf  LivyConf
		local string
		want  string
	}{
		{LivyConf{}, "10.0.0.1", "http://10.0.0.1:8998"},
		{LivyConf{LivyKeyServerHost: "livy.example", LivyKeyServerPort: "9000", LivyKeyKeystore: "/ks"}, "10.0.0.1", "http://livy.example:9000"},
		{LivyConf{LivyKeyServerHost: "::1"}, "", "http://[::1]:8998"},
	} {
		if u, err := PR189ServerURI(c.conf, c.local); err != nil || u != c.want {
			t.Errorf("PR189ServerURI(%q, %q) = %q, %v; want %q", c.conf, c.local, u, err, c.want)
		}
	}
	if _, err := PR189ServerURI(LivyConf{}, ""); !errors.Is(err, ErrBadLivyConf) {
		t.Errorf("PR189ServerURI without a local address = %v", err)
	}

	data, err := PR189URIData("http://10.0.0.1:8998")
	if err != nil || string(data) != `"http://10.0.0.1:8998"` {
		t.Fatalf("PR189URIData = %s, %v", data, err)
	}
	for _, in := range []string{`"http://10.0.0.1:8998"`, " \"https://h:1/base\"\n", `"http:\/\/h:8998"`} {
		if u, err := ParsePR189URI([]byte(in)); err != nil || !strings.HasPrefix(u, "http") {
			t.Errorf("ParsePR189URI(%s) = %q, %v", in, u, err)
		}
	}
	bad := []string{"", "null", `http://h:1`, `"ftp://h:1"`, `"http://h:0"`, `"http://a:b:8998"`, `"http://::1"`, `"http://u@h:1"`,
		`"http://h:1"x`, `{"uri":"http://h:1"}`, `["http://h:1"]`, `""`, `"http://h:1?q=1"`, `"http://h\u0000:1"`,
		`"` + strings.Repeat("a", 5000) + `"`, `"http://` + strings.Repeat("h", 300) + `:x"`}
	for _, in := range bad {
		if u, err := ParsePR189URI([]byte(in)); !errors.Is(err, ErrBadRecord) || len(err.Error()) > 600 {
			t.Errorf("ParsePR189URI(%.40s) = %q, %v", in, u, err)
		}
	}
	if _, err := PR189URIData("ftp://h:1"); !errors.Is(err, ErrBadRecord) {
		t.Errorf("PR189URIData(ftp) = %v", err)
	}
}

func FuzzParsePR189URI(f *testing.F) {
	for _, s := range []string{`"http://10.0.0.1:8998"`, `"https://[::1]:443/x"`, `null`, `"a"`, `"http://h:1&<>"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParsePR189URI(data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) || len(err.Error()) > 600 {
				t.Fatalf("error %q", err)
			}
			return
		}
		out, err := PR189URIData(u)
		if err != nil {
			t.Fatalf("PR189URIData(%q): %v", u, err)
		}
		if back, err := ParsePR189URI(out); err != nil || back != u {
			t.Fatalf("round trip %q -> %s -> %q, %v", u, out, back, err)
		}
	})
}
