package layout

import (
	"errors"
	"strings"
	"testing"
)

const testUUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"

func TestPR276(t *testing.T) {
	if d, err := PR276Dir(LivyConf{}); err != nil || d != "/livy/zk/services" {
		t.Errorf("PR276Dir(default) = %q, %v", d, err)
	}
	// conf/livy.conf.template's example has no leading '/'.
	for _, v := range []string{"livy/zk/services", "/", "", "/a/", "/a//b"} {
		if d, err := PR276Dir(LivyConf{PR276KeyServicesDir: v}); !errors.Is(err, ErrBadLivyConf) {
			t.Errorf("PR276Dir(%q) = %q, %v", v, d, err)
		}
	}

	s := PR276Service{Host: "10.0.0.1", Port: 8998, UUID: testUUID}
	data, err := PR276ServiceData(s)
	if err != nil || string(data) != `{"host":"10.0.0.1","port":8998,"UUID":"`+testUUID+`"}` {
		t.Fatalf("PR276ServiceData = %s, %v", data, err)
	}
	name, err := PR276NodeName(s)
	if err != nil || name != "10.0.0.1:8998" {
		t.Fatalf("PR276NodeName = %q, %v", name, err)
	}
	if back, err := ParsePR276Service(name, data); err != nil || back != s {
		t.Fatalf("ParsePR276Service = %+v, %v", back, err)
	}
	if s.BaseURL("https") != "https://10.0.0.1:8998" {
		t.Errorf("BaseURL = %q", s.BaseURL("https"))
	}

	// IPv6: Livy does not bracket the name; both forms are read.
	v6 := PR276Service{Host: "[fe80::1]", Port: 8998, UUID: strings.ToUpper(testUUID)}
	if n, err := PR276NodeName(v6); err != nil || n != "fe80::1:8998" {
		t.Errorf("PR276NodeName(v6) = %q, %v", n, err)
	}
	d6, _ := PR276ServiceData(v6)
	for _, n := range []string{"fe80::1:8998", "[fe80::1]:8998", ""} {
		if got, err := ParsePR276Service(n, d6); err != nil || got.Host != "fe80::1" || got.Port != 8998 {
			t.Errorf("ParsePR276Service(%q) = %+v, %v", n, got, err)
		}
	}
	if v6.BaseURL("http") != "http://[fe80::1]:8998" {
		t.Errorf("BaseURL(v6) = %q", v6.BaseURL("http"))
	}

	// Jackson coerces a numeric string into an Int.
	if got, err := ParsePR276Service("h:1", []byte(`{"UUID":"`+testUUID+`","port":"1","host":"h"}`)); err != nil || got.Port != 1 {
		t.Errorf("string port = %+v, %v", got, err)
	}
}

func TestPR276Rejects(t *testing.T) {
	u := `"UUID":"` + testUUID + `"`
	cases := []struct{ name, data string }{
		{"h:1", ``},
		{"h:1", `null`},
		{"h:1", `[]`},
		{"h:1", `{"host":"h","port":1}`},
		{"h:1", `{"host":"h",` + u + `}`},
		{"h:1", `{"port":1,` + u + `}`},
		{"h:1", `{"host":"h","port":1,"uuid":"` + testUUID + `"}`}, // case-sensitive: unknown field
		{"h:1", `{"host":"h","port":1,` + u + `,"extra":1}`},       // Jackson fails on unknown fields
		{"h:1", `{"host":"h","port":1.5,` + u + `}`},               // not an integer
		{"h:1", `{"host":"h","port":-1,` + u + `}`},                // range
		{"h:1", `{"host":"h","port":70000,` + u + `}`},             // range
		{"h:1", `{"host":1,"port":1,` + u + `}`},                   // host not a string
		{"h:1", `{"host":"h","port":1,"UUID":"not-a-uuid"}`},       // UUID form
		{"h:1", `{"host":"h/x","port":1,` + u + `}`},               // host
		{"h:1", `{"host":"","port":1,` + u + `}`},
		{"#:1", `{"host":"#","port":1,` + u + `}`},                             // host
		{"h:2", `{"host":"h","port":1,` + u + `}`},                             // name disagrees: port
		{"g:1", `{"host":"h","port":1,` + u + `}`},                             // name disagrees: host
		{"h", `{"host":"h","port":1,` + u + `}`},                               // name not host:port
		{"h:1", `{"host":"h","port":1,` + u + `}` + strings.Repeat(" ", 5000)}, // size
	}
	for _, c := range cases {
		if s, err := ParsePR276Service(c.name, []byte(c.data)); !errors.Is(err, ErrBadRecord) || len(err.Error()) > 600 {
			t.Errorf("ParsePR276Service(%q, %.60s) = %+v, %v", c.name, c.data, s, err)
		}
	}
	for _, s := range []PR276Service{{Host: "h", Port: 0, UUID: testUUID}, {Host: "h", Port: 1, UUID: ""}, {Host: "a b", Port: 1, UUID: testUUID}} {
		if _, err := PR276ServiceData(s); !errors.Is(err, ErrBadRecord) {
			t.Errorf("PR276ServiceData(%+v) = %v", s, err)
		}
		if _, err := PR276NodeName(s); !errors.Is(err, ErrBadRecord) {
			t.Errorf("PR276NodeName(%+v) = %v", s, err)
		}
	}
}

func FuzzParsePR276Service(f *testing.F) {
	f.Add("10.0.0.1:8998", []byte(`{"host":"10.0.0.1","port":8998,"UUID":"`+testUUID+`"}`))
	f.Add("fe80::1:8998", []byte(`{"host":"fe80::1","port":"8998","UUID":"`+testUUID+`"}`))
	f.Add("", []byte(`{"host":"h","port":1e3,"UUID":""}`))
	f.Add("h:1", []byte(`{"host":"h","host":"g","port":1,"UUID":"`+testUUID+`"}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		s, err := ParsePR276Service(name, data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) || len(err.Error()) > 600 {
				t.Fatalf("error %q", err)
			}
			return
		}
		out, err := PR276ServiceData(s)
		if err != nil {
			t.Fatalf("PR276ServiceData(%+v): %v", s, err)
		}
		n, err := PR276NodeName(s)
		if err != nil {
			t.Fatalf("PR276NodeName(%+v): %v", s, err)
		}
		if back, err := ParsePR276Service(n, out); err != nil || back != s {
			t.Fatalf("round trip %+v -> %q %s -> %+v, %v", s, n, out, back, err)
		}
	})
}
