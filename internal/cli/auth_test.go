package cli

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livyha/livyha/livyclient"
)

func TestAuthFlags(t *testing.T) {
	const secret = "pa55-w0rd"
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw, tok := file("pw", secret+"\n"), file("tok", "tok-"+secret+"\r\n")
	empty, two := file("empty", ""), file("two", secret+"\nmore\n")
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want livyclient.Authenticator
		bad  string // part of the usage error
	}{
		{name: "none"},
		{name: "basic file", args: []string{"--user", "alice", "--password-file", pw}, want: livyclient.BasicAuth{User: "alice", Password: secret}},
		{name: "basic env", env: map[string]string{EnvUser: "bob", EnvPassword: secret}, want: livyclient.BasicAuth{User: "bob", Password: secret}},
		{name: "basic env file", env: map[string]string{EnvUser: "bob", EnvPasswordFile: pw}, want: livyclient.BasicAuth{User: "bob", Password: secret}},
		{name: "flag over env", args: []string{"--user", "carol"}, env: map[string]string{EnvUser: "bob", EnvPassword: secret},
			want: livyclient.BasicAuth{User: "carol", Password: secret}},
		{name: "bearer", args: []string{"--bearer-token-file", tok}, want: livyclient.BearerToken("tok-" + secret)},
		{name: "token-file (livy-proxy's name)", args: []string{"--token-file", tok}, want: livyclient.BearerToken("tok-" + secret)},
		{name: "token env alias", env: map[string]string{EnvTokenFile: tok}, want: livyclient.BearerToken("tok-" + secret)},
		{name: "token flag over env", args: []string{"--token-file", tok}, env: map[string]string{EnvBearerTokenFile: pw},
			want: livyclient.BearerToken("tok-" + secret)},
		{name: "two token files", args: []string{"--token-file", tok, "--bearer-token-file", pw}, bad: "different token files"},
		{name: "ccache and basic", args: []string{"--ccache", "--user", "a", "--password-file", pw}, bad: "--ccache"},
		{name: "no password", args: []string{"--user", "alice"}, bad: "needs a password"},
		{name: "password without user", args: []string{"--password-file", pw}, bad: "--password-file needs --user"},
		{name: "two methods", args: []string{"--user", "a", "--password-file", pw, "--bearer-token-file", tok}, bad: "give one authentication method"},
		{name: "basic and spnego env", args: []string{"--user", "a", "--password-file", pw}, env: map[string]string{EnvSPNEGO: "true"}, bad: "$LIVY_SPNEGO"},
		{name: "principal without keytab", args: []string{"--principal", "u@R"}, bad: "--principal needs --keytab"},
		{name: "keytab without principal", args: []string{"--keytab", pw}, bad: "needs --principal"},
		{name: "empty file", args: []string{"--bearer-token-file", empty}, bad: "is empty"},
		{name: "two lines", args: []string{"--user", "a", "--password-file", two}, bad: "more than one line"},
		{name: "missing file", args: []string{"--bearer-token-file", filepath.Join(dir, "nope")}, bad: "no such file"},
		{name: "bad spnego env", env: map[string]string{EnvSPNEGO: "maybe"}, bad: "bad $LIVY_SPNEGO"},
		{name: "mutual without spnego", args: []string{"--mutual-auth", "--user", "a", "--password-file", pw}, bad: "--mutual-auth is for SPNEGO"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := NewAuthFlags(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		a, closeFn, err := f.Authenticator(func(k string) string { return c.env[k] })
		closeFn()
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) || ExitCode(err) != ExitUsage {
				t.Errorf("%s: error %v, want a usage error with %q", c.name, err, c.bad)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q shows the secret", c.name, err)
			}
			continue
		}
		if err != nil || a != c.want {
			t.Errorf("%s: %#v, %v; want %#v", c.name, a, err, c.want)
		}
	}
}

func TestAuthSPNEGOErrorsAreAuthErrors(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f := NewAuthFlags(fs)
	missing := filepath.Join(t.TempDir(), "no.keytab")
	if err := fs.Parse([]string{"--keytab", missing, "--principal", "u@EXAMPLE.COM", "--krb5-conf", missing}); err != nil {
		t.Fatal(err)
	}
	_, closeFn, err := f.Authenticator(nil)
	closeFn()
	if !errors.Is(err, livyclient.ErrKerberos) || ExitCode(err) != ExitNotAuthorized {
		t.Fatalf("a keytab that cannot be read: %v (exit %d), want a Kerberos error, exit 4", err, ExitCode(err))
	}
}
