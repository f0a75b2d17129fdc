package layout

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The expectations below are what JDK 17's java.util.Properties.load plus
// Livy's trim and "livy." filter produce for the same bytes (checked with
// the JDK itself when this file was written).
func TestParseLivyConfJavaProperties(t *testing.T) {
	cases := []struct {
		name, in string
		want     LivyConf
	}{
		{"separators", "livy.server.port = 8999\nlivy.server.host=h\nlivy.a:b\nlivy.b c d\n",
			LivyConf{"livy.server.port": "8999", "livy.server.host": "h", "livy.a": "b", "livy.b": "c d"}},
		{"comments", "# livy.x = 1\n   ! livy.y = 2\nlivy.z = 3 # not a comment\n",
			LivyConf{"livy.z": "3 # not a comment"}},
		{"continuation", "livy.a = one \\\n    two\\\n\tthree\n", LivyConf{"livy.a": "one twothree"}},
		{"comment never continues", "# comment \\\nlivy.after = yes\n", LivyConf{"livy.after": "yes"}},
		{"even backslashes", "livy.a = x\\\\\nlivy.b = y\n", LivyConf{"livy.a": `x\`, "livy.b": "y"}},
		{"odd backslashes", "livy.a = x\\\\\\\nlivy.b = y\n", LivyConf{"livy.a": `x\livy.b = y`}},
		{"backslash at EOF", "livy.a = x\\", LivyConf{"livy.a": "x"}},
		{"line ends", "livy.a = 1\r\nlivy.b = 2\rlivy.c = 3\\\r\n  more\r\n",
			LivyConf{"livy.a": "1", "livy.b": "2", "livy.c": "3more"}},
		{"separator forms", "livy.a=:b\nlivy.b =:c\nlivy.c :  = d\nlivy.d\t\t=e\nlivy.e\f:f\nlivy.f\nlivy.g=\n",
			LivyConf{"livy.a": ":b", "livy.b": ":c", "livy.c": "= d", "livy.d": "e", "livy.e": "f", "livy.f": "", "livy.g": ""}},
		{"escapes", "livy.a = \\t\\n\\u0041\\q\\\\x\nlivy.k\\ ey = 1\nlivy.k\\=e = 2\nlivy.k\\:f=3\n",
			LivyConf{"livy.a": `Aq\x`, "livy.k ey": "1", "livy.k=e": "2", "livy.k:f": "3"}},
		{"surrogate pair", "livy.a = \\uD83D\\uDE00\nlivy.c = é😀\n", LivyConf{"livy.a": "😀", "livy.c": "é😀"}},
		{"lone surrogate", "livy.b = \\uD83D\n", LivyConf{"livy.b": "\uFFFD"}},
		{"java trim", "livy.a = \\u0020 x \\u0001\nlivy.b = \\u00A0x\\u00A0\n", LivyConf{"livy.a": "x", "livy.b": "\u00a0x\u00a0"}},
		{"later wins", "livy.a = 1\nlivy.a = 2\n", LivyConf{"livy.a": "2"}},
		{"BOM sticks to the first key", "\xef\xbb\xbflivy.a = 1\nlivy.b = 2\n", LivyConf{"livy.b": "2"}},
		{"invalid UTF-8", "livy.a = \xff\xfe x\nlivy.b = \xe2\x82A\nlivy.c = \xf0\x9f\x98\nlivy.d = \xed\xa0\x80\nlivy.e = \xc0\xaf\n",
			LivyConf{"livy.a": "\uFFFD\uFFFD x", "livy.b": "\uFFFDA", "livy.c": "\uFFFD", "livy.d": "\uFFFD", "livy.e": "\uFFFD\uFFFD"}},
		{"lone backslash lines", "\\\n# livy.c = 1\nlivy.d = 2\n\\\n\nlivy.e=3", LivyConf{"livy.d": "2", "livy.e": "3"}},
		{"blank continuation", "livy.a = x\\\n   \nlivy.b = y\n", LivyConf{"livy.a": "x", "livy.b": "y"}},
		{"# in a continuation", "livy.a = x\\\n# still value\n", LivyConf{"livy.a": "x# still value"}},
		{"NUL trimmed", "livy.a = \x00b\x00\n", LivyConf{"livy.a": "b"}},
		{"only livy. keys", "spark.a = 1\nLivy.b = 2\nlivy = 3\nlivy.c = 4\n", LivyConf{"livy.c": "4"}},
		{"keys not trimmed", "livy.a\\  = 1\n", LivyConf{"livy.a ": "1"}},
		{"empty", "", LivyConf{}},
	}
	for _, c := range cases {
		got, err := ParseLivyConf([]byte(c.in))
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("%s: ParseLivyConf(%q) = %q, %v; want %q", c.name, c.in, got, err, c.want)
		}
	}
}

func TestParseLivyConfRejects(t *testing.T) {
	for _, in := range []string{"livy.a = \\u12\n", "livy.a = \\u12zz\n", "livy.a = \\u"} {
		if c, err := ParseLivyConf([]byte(in)); !errors.Is(err, ErrBadLivyConf) || !errors.Is(err, ErrBadRecord) {
			t.Errorf("ParseLivyConf(%q) = %q, %v; want ErrBadLivyConf", in, c, err)
		}
	}
	big := []byte("livy.a = " + strings.Repeat("x", MaxLivyConfSize))
	if _, err := ParseLivyConf(big); !errors.Is(err, ErrBadLivyConf) {
		t.Errorf("ParseLivyConf(%d bytes) = %v", len(big), err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "livy.conf")
	if err := os.WriteFile(p, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLivyConf(p); !errors.Is(err, ErrBadLivyConf) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadLivyConf(big) = %v", err)
	}
	if _, err := ReadLivyConf(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadLivyConf(missing) = %v", err)
	}
	if err := os.WriteFile(p, []byte("livy.server.port 9000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadLivyConf(p); err != nil || c["livy.server.port"] != "9000" {
		t.Errorf("ReadLivyConf = %q, %v", c, err)
	}
}

func TestLivyConfGetters(t *testing.T) {
	c := LivyConf{"livy.e": "", "livy.t": "TRUE", "livy.f": "yes", "livy.n": "+8998", "livy.bad": "89x",
		"livy.l": ",a, b,,c  ", "livy.tab": "a,\tb"}
	if c.Get("livy.e", "d") != "" || c.Get("livy.unset", "d") != "d" {
		t.Error("Get: a key set to \"\" must return \"\", an unset one the default")
	}
	if !c.Bool("livy.t", false) || c.Bool("livy.f", true) || !c.Bool("livy.unset", true) {
		t.Error("Bool is not Boolean.parseBoolean")
	}
	if n, err := c.Int("livy.n", 0); err != nil || n != 8998 {
		t.Errorf("Int(+8998) = %d, %v", n, err)
	}
	if _, err := c.Int("livy.bad", 0); !errors.Is(err, ErrBadLivyConf) || !strings.Contains(err.Error(), "livy.bad") {
		t.Errorf("Int(89x) = %v", err)
	}
	if n, err := c.Int("livy.unset", 7); err != nil || n != 7 {
		t.Errorf("Int(unset) = %d, %v", n, err)
	}
	// Java's ",a, b,,c  ".split("[, ]+") (values are trimmed before, but
	// Seq must not depend on it).
	for in, want := range map[string][]string{
		",a, b,,c  ": {"", "a", "b", "c"},
		"":           {""},
		",,":         {},
		"a":          {"a"},
		"a,\tb":      {"a", "\tb"},
		" a":         {"", "a"},
	} {
		if got := javaSplitList(in); !slices.Equal(got, want) {
			t.Errorf("javaSplitList(%q) = %q, want %q", in, got, want)
		}
	}
	if c.Seq("livy.unset") != nil {
		t.Error("Seq(unset) must be nil")
	}
}

func TestLivyConfMarshal(t *testing.T) {
	c := LivyConf{"livy.a": `x\y`, "livy.k =:#!": "v#!=:", "livy.u": "é😀\x01\ttab", "livy.e": ""}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseLivyConf(data)
	if err != nil || !maps.Equal(back, c) {
		t.Fatalf("round trip of %q = %q, %v", data, back, err)
	}
	if !strings.HasPrefix(string(data), "livy.a = x\\\\y\n") {
		t.Errorf("Marshal = %q", data)
	}
	for _, bad := range []LivyConf{{"spark.a": "1"}, {"livy.a": " x"}, {"livy.a": "x\n"}, {"livy.a": "\xff"}} {
		if _, err := bad.Marshal(); !errors.Is(err, ErrBadLivyConf) {
			t.Errorf("Marshal(%q) = %v", bad, err)
		}
	}
}

func FuzzParseLivyConf(f *testing.F) {
	for _, s := range []string{
		"livy.server.port = 8998\n", "# c\n! c\nlivy.a b\\\n  c\r\n", "livy.a = \\uD83D\\uDE00\\u0041\\t",
		"livy.a\\ b:=c", "\\\n\\", "livy.a = \\u12", "livy.x = \xed\xa0\x80\xff", "livy.server.ha.server-ids = a, b,c\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseLivyConf(data)
		if err != nil {
			if !errors.Is(err, ErrBadLivyConf) || len(err.Error()) > 600 {
				t.Fatalf("error %q", err)
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed conf: %v", err)
		}
		back, err := ParseLivyConf(out)
		if err != nil || !maps.Equal(back, c) {
			t.Fatalf("round trip: %q -> %q -> %q, %v", c, out, back, err)
		}
		for k := range c {
			_ = c.Seq(k)
			_, _ = c.Int(k, 0)
		}
	})
}
