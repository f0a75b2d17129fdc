package cli

import (
	"flag"
	"strings"
	"testing"
)

func TestZKAuthFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		n    int
		bad  bool
	}{
		{nil, "", 0, false},
		{[]string{"--zk-auth", "digest:u:secretpw"}, "", 1, false},
		{nil, "digest:u:secretpw", 1, false},
		{[]string{"--zk-auth", "digest:secretpw"}, "", 0, true},
		{[]string{"--zk-auth", "secretpw"}, "", 0, true},
		{nil, ":secretpw", 0, true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := NewZKAuthFlag(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		opts, err := f.Options(func(k string) string {
			if k == EnvZKAuth {
				return c.env
			}
			return ""
		})
		if (err != nil) != c.bad || len(opts) != c.n {
			t.Errorf("%q env %q: %d options, %v", c.args, c.env, len(opts), err)
		}
		if err != nil && (strings.Contains(err.Error(), "secretpw") || ExitCode(err) != ExitUsage) {
			t.Errorf("%q: error %q shows the secret or is not a usage error", c.args, err)
		}
	}
}
