package layout

import (
	"errors"
	"strconv"
	"testing"
)

func TestSessionOwner(t *testing.T) {
	for _, c := range []struct {
		root, kind string
		id         int
		want       string
	}{
		{"/livy", KindBatch, 5, "/livy/session/batch/5"},
		{"/livy/", KindInteractive, 0, "/livy/session/interactive/0"},
		{"/", KindBatch, MaxServerID, "/session/batch/2147483647"},
	} {
		if p, err := SessionOwnerPath(c.root, c.kind, c.id); err != nil || p != c.want {
			t.Errorf("SessionOwnerPath(%q, %q, %d) = %q, %v; want %q", c.root, c.kind, c.id, p, err, c.want)
		}
	}
	if d, err := SessionOwnerDir(DefaultRoot, KindInteractive); err != nil || d != "/livy/session/interactive" {
		t.Errorf("SessionOwnerDir = %q, %v", d, err)
	}
	for _, c := range []struct {
		root, kind string
		id         int
	}{{"/livy", "Batch", 1}, {"/livy", "sessions", 1}, {"/livy", "", 1}, {"livy", KindBatch, 1}, {"/livy", KindBatch, -1}} {
		if p, err := SessionOwnerPath(c.root, c.kind, c.id); !errors.Is(err, ErrBadPath) {
			t.Errorf("SessionOwnerPath(%q, %q, %d) = %q, %v; want ErrBadPath", c.root, c.kind, c.id, p, err)
		}
	}

	if id, err := ParseSessionOwner(SessionOwnerData(213)); err != nil || id != 213 {
		t.Errorf("owner round trip = %d, %v", id, err)
	}
	// The same syntax as the canonical latch data.
	for _, in := range []string{"0", "7", "007", "2147483647", "", "-1", "+1", " 1", "1x", "2147483648", "\xff"} {
		a, aerr := ParseSessionOwner([]byte(in))
		b, berr := ParseLatchData([]byte(in))
		if a != b || (aerr == nil) != (berr == nil) || (aerr != nil && !errors.Is(aerr, ErrBadRecord)) {
			t.Errorf("ParseSessionOwner(%q) = %d, %v; ParseLatchData = %d, %v", in, a, aerr, b, berr)
		}
	}

	for in, want := range map[string]int{"0": 0, "5": 5, "2147483647": MaxServerID} {
		if id, err := ParseSessionNodeName(in); err != nil || id != want {
			t.Errorf("ParseSessionNodeName(%q) = %d, %v", in, id, err)
		}
	}
	for _, in := range []string{"", "05", "00", "-1", "+1", "1 ", "2147483648", "state", "99999999999"} {
		if id, err := ParseSessionNodeName(in); !errors.Is(err, ErrBadRecord) {
			t.Errorf("ParseSessionNodeName(%q) = %d, %v", in, id, err)
		}
	}
}

func FuzzParseSessionNodeName(f *testing.F) {
	for _, s := range []string{"0", "5", "05", "-1", "2147483647", "2147483648", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, err := ParseSessionNodeName(name)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) || len(err.Error()) > 600 {
				t.Fatalf("error %q", err)
			}
			return
		}
		if strconv.Itoa(id) != name {
			t.Fatalf("%q parsed to %d: not canonical", name, id)
		}
		p, err := SessionOwnerPath(DefaultRoot, KindBatch, id)
		if err != nil || p != "/livy/session/batch/"+name {
			t.Fatalf("SessionOwnerPath = %q, %v", p, err)
		}
	})
}

func FuzzParseSessionOwner(f *testing.F) {
	for _, s := range []string{"0", "213", "007", "", "-1", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := ParseSessionOwner(data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) || len(err.Error()) > 600 {
				t.Fatalf("error %q", err)
			}
			return
		}
		if back, err := ParseSessionOwner(SessionOwnerData(id)); err != nil || back != id {
			t.Fatalf("round trip %d: %d, %v", id, back, err)
		}
		if lid, err := ParseLatchData(data); err != nil || lid != id {
			t.Fatalf("ParseLatchData(%q) = %d, %v; ParseSessionOwner = %d", data, lid, err, id)
		}
	})
}
