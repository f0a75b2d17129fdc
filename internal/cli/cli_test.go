package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livyha/livyha/discovery"
)

func TestExitCode(t *testing.T) {
	_, badTarget := discovery.ParseTarget("zk://h:2181?layout=nope")
	_, badConnect := discovery.ParseConnectString("h:notaport")
	_, badMode := discovery.ParseMode("both")
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"NotFoundf", NotFoundf("server %d publishes no Thrift endpoint", 3), ExitNotFound},
		{"ExitError", &ExitError{Code: ExitNotFound, Err: fmt.Errorf("write: %w", io.ErrClosedPipe)}, ExitNotFound},
		{"usage", Usagef("bad --format %q", "xml"), ExitUsage},
		{"wrapped usage", fmt.Errorf("x: %w", Usagef("y")), ExitUsage},
		{"ErrBadTarget", badTarget, ExitUsage},
		{"ErrBadConnectString", badConnect, ExitUsage},
		{"ErrBadPath", fmt.Errorf("--root: %w", discovery.ErrBadPath), ExitUsage},
		{"ErrBadOption", badMode, ExitUsage},
		{"ErrBadRecord", discovery.ErrBadRecord, ExitUsage},
		{"ErrNoServers", fmt.Errorf("%w under /x/servers", discovery.ErrNoServers), ExitNotFound},
		{"ErrNoLeader", discovery.ErrNoLeader, ExitNotFound},
		{"ErrNoOwner", discovery.ErrNoOwner, ExitNotFound},
		{"ErrUnavailable", fmt.Errorf("%w: %w", discovery.ErrUnavailable, context.DeadlineExceeded), ExitUnavailable},
		{"deadline", context.DeadlineExceeded, ExitUnavailable},
		{"ErrNoLeader because ErrUnavailable", fmt.Errorf("%w: %w", discovery.ErrNoLeader, discovery.ErrUnavailable), ExitUnavailable},
		{"unclassified", errors.New("zk: connection closed"), ExitUnavailable},
		{"ErrNotAuthenticated", discovery.ErrNotAuthenticated, ExitNotAuthorized},
		// Access denied is not an outage, even when it ends a wait.
		{"ErrNotAuthenticated in ErrUnavailable", fmt.Errorf("%w: %w", discovery.ErrUnavailable, discovery.ErrNotAuthenticated), ExitNotAuthorized},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("%s: ExitCode(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		// discovery's errors are printed as they are: wrapped once, with
		// their "discovery: " prefix.
		{fmt.Errorf("%w under /x/servers", discovery.ErrNoServers), "livy-find: discovery: no servers registered under /x/servers"},
		// Line breaks (a server's message) become spaces.
		{errors.New("server said:\nline 2\r\nline 3\rend"), "livy-find: server said: line 2 line 3 end"},
		// Usage errors point at -h.
		{Usagef("bad --format %q", "xml"), `livy-find: bad --format "xml" (see livy-find -h)`},
		{fmt.Errorf("--root: %w", discovery.ErrBadPath), "livy-find: --root: discovery: bad ZooKeeper path (see livy-find -h)"},
	} {
		if got := Message("livy-find", tc.err); got != tc.want {
			t.Errorf("Message(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
	var b bytes.Buffer
	if code := Fail(&b, "livy-registrar", discovery.ErrNotAuthenticated); code != ExitNotAuthorized ||
		b.String() != "livy-registrar: "+discovery.ErrNotAuthenticated.Error()+"\n" {
		t.Errorf("Fail: %d %q", code, b.String())
	}
}

// resolve parses args with the target flags and resolves them with env.
func resolve(canonicalOnly bool, args []string, env map[string]string) (Target, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tf := NewTargetFlags(fs, canonicalOnly)
	if err := fs.Parse(args); err != nil {
		return Target{}, err
	}
	return tf.Resolve(func(k string) string { return env[k] })
}

func TestResolve(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	type env = map[string]string
	for _, tc := range []struct {
		name string
		args []string
		env  env
		want string // the target string; "" when an error is wanted
		err  string // a part of the error
	}{
		// Plain shorthands and their variables.
		{"zk", []string{"--zk", "h:2181"}, nil, "h:2181", ""},
		{"zk chroot root", []string{"--zk", "h:2181/c", "--root", "/x"}, nil, "zk://h:2181/c?root=/x", ""},
		{"zk mode", []string{"--zk", "h:2181", "--mode", "session-ha"}, nil, "zk://h:2181?mode=session-ha", ""},
		{"env zk", nil, env{"LIVY_ZK": "h:1"}, "h:1", ""},
		{"env zk root", nil, env{"LIVY_ZK": "h:1", "LIVY_ZK_ROOT": "/r"}, "zk://h:1?root=/r", ""},
		{"env target", nil, env{"LIVY_TARGET": "static://a:1"}, "static://a:1", ""},
		{"env livy-conf", nil, env{"LIVY_CONF": "/etc/livy/livy.conf"}, "livy-conf:///etc/livy/livy.conf", ""},
		{"env endpoints", nil, env{"LIVY_ENDPOINTS": "a:1,b:2"}, "static://a:1,b:2", ""},

		// Flags over environment.
		{"flag zk over env zk", []string{"--zk", "h:2"}, env{"LIVY_ZK": "h:1"}, "h:2", ""},
		{"flag root over env root", []string{"--root", "/f"}, env{"LIVY_ZK": "h:1", "LIVY_ZK_ROOT": "/r"}, "zk://h:1?root=/f", ""},
		{"flag zk silences env target", []string{"--zk", "h:2"}, env{"LIVY_TARGET": "static://a:1"}, "h:2", ""},
		{"flag target silences env zk", []string{"--target", "static://a:1"}, env{"LIVY_ZK": "h:1"}, "static://a:1", ""},
		{"flag livy-conf silences env zk", []string{"--livy-conf", "/l.conf"}, env{"LIVY_ZK": "h:1"}, "livy-conf:///l.conf", ""},
		{"blank flag is not given", []string{"--zk", " "}, env{"LIVY_ZK": "h:1"}, "h:1", ""},
		{"env zk with flag hive-namespace", []string{"--hive-namespace", "hs2"}, env{"LIVY_ZK": "h:2181"}, "zk://h:2181?layout=hive&namespace=hs2", ""},

		// Conflicts name both.
		{"target and zk", []string{"--target", "h:1", "--zk", "h:2"}, nil, "", "--target and --zk are mutually exclusive"},
		{"target and endpoints", []string{"--endpoints", "a:1", "--target", "h:1"}, nil, "", "--target and --endpoints are mutually exclusive"},
		{"target and livy-conf", []string{"--target", "h:1", "--livy-conf", "/l"}, nil, "", "--target and --livy-conf are mutually exclusive"},
		{"target and layout", []string{"--target", "h:1", "--layout", "hive"}, nil, "", "--target and --layout are mutually exclusive: put layout="},
		{"target and hive-namespace", []string{"--target", "h:1", "--hive-namespace", "x"}, nil, "", "--target and --hive-namespace are mutually exclusive"},
		{"env target and layout flag", []string{"--layout", "hive"}, env{"LIVY_TARGET": "h:1"}, "", "--layout and $LIVY_TARGET are mutually exclusive"},
		{"env target and env zk", nil, env{"LIVY_TARGET": "h:1", "LIVY_ZK": "h:2"}, "", "$LIVY_TARGET and $LIVY_ZK are both set"},
		{"env endpoints and env zk", nil, env{"LIVY_ENDPOINTS": "a:1", "LIVY_ZK": "h:2"}, "", "$LIVY_ENDPOINTS and $LIVY_ZK are both set"},
		{"endpoints and zk", []string{"--endpoints", "a:1", "--zk", "h:2181"}, nil, "", "--endpoints and --zk are mutually exclusive"},
		{"endpoints and hive-namespace", []string{"--endpoints", "a:1", "--hive-namespace", "x"}, nil, "", "--endpoints and --hive-namespace are mutually exclusive"},
		{"hive-namespace and layout", []string{"--zk", "h:2181", "--hive-namespace", "x", "--layout", "pr189"}, nil, "", "--hive-namespace and --layout are mutually exclusive"},
		{"livy-conf and layout", []string{"--livy-conf", "/l", "--layout", "hive"}, nil, "", "--layout and --livy-conf are mutually exclusive"},
		{"livy-conf and hive-namespace", []string{"--livy-conf", "/l", "--hive-namespace", "x"}, nil, "", "--hive-namespace and --livy-conf are mutually exclusive"},

		// --root and --mode with --target: overrides, or conflicts.
		{"target root override", []string{"--target", "h:1", "--root", "/b"}, nil, "zk://h:1?root=/b", ""},
		{"target mode override", []string{"--target", "zk://h:1?root=/a", "--mode", "multi-active"}, nil, "zk://h:1?root=/a&mode=multi-active", ""},
		{"target root= vs --root", []string{"--target", "zk://h:1?root=/a", "--root", "/b"}, nil, "", "--root and --target are mutually exclusive: --target says root=/a and --root /b"},
		{"target root= same as --root", []string{"--target", "zk://h:1?root=/a", "--root", "/a/"}, nil, "zk://h:1?root=/a", ""},
		{"target mode= vs --mode", []string{"--target", "zk://h:1?mode=multi-active", "--mode", "session-ha"}, nil, "", "--mode and --target are mutually exclusive"},
		{"target root= over env root", []string{"--target", "zk://h:1?root=/a"}, env{"LIVY_ZK_ROOT": "/b"}, "zk://h:1?root=/a", ""},
		{"env root for a plain target", []string{"--target", "h:1"}, env{"LIVY_ZK_ROOT": "/b"}, "zk://h:1?root=/b", ""},

		// --root and --mode only for the canonical layout.
		{"root with static target", []string{"--target", "static://a:1", "--root", "/x"}, nil, "", "--root applies only to the canonical layout, not to --target a static list"},
		{"env root not read for static", []string{"--target", "static://a:1"}, env{"LIVY_ZK_ROOT": "/x"}, "static://a:1", ""},
		{"env root not read for hive", []string{"--zk", "h:2181", "--hive-namespace", "n"}, env{"LIVY_ZK_ROOT": "/x"}, "zk://h:2181?layout=hive&namespace=n", ""},
		{"mode with hive target", []string{"--target", "zk://h:1?layout=hive", "--mode", "multi-active"}, nil, "", "--mode applies only to the canonical layout, not to --target layout hive"},
		{"root with layout", []string{"--zk", "h:2181", "--layout", "pr276", "--root", "/x"}, nil, "", "--root applies only to the canonical layout, not to layout pr276"},
		{"mode with endpoints", []string{"--endpoints", "a:1", "--mode", "multi-active"}, nil, "", "--mode applies only to the canonical layout"},
		{"root with livy-conf", []string{"--livy-conf", "/l", "--root", "/x"}, nil, "", "--root applies only to the canonical layout"},

		// Layouts.
		{"layout pr276", []string{"--zk", "h", "--layout", "pr276"}, nil, "zk://h:2181?layout=pr276", ""},
		{"layout canonical", []string{"--zk", "h:2181", "--layout", "canonical", "--root", "/r"}, nil, "zk://h:2181?root=/r", ""},
		{"hive namespace", []string{"--zk", "h:2181/c", "--hive-namespace", "kyuubi/a b"}, nil, "zk://h:2181/c?layout=hive&namespace=kyuubi/a+b", ""},
		{"hive-ha namespace", []string{"--zk", "h:2181", "--hive-namespace", "hs2", "--layout", "hive-ha"}, nil, "zk://h:2181?layout=hive-ha&namespace=hs2", ""},
		{"hive-namespace without zk", []string{"--hive-namespace", "hs2"}, nil, "", "--hive-namespace needs --zk CONNECT"},
		{"layout without zk", []string{"--layout", "hive"}, nil, "", "--layout needs --zk CONNECT"},
		{"layout pr212 without livy-conf", []string{"--zk", "h:2181", "--layout", "pr212"}, nil, "", "--layout pr212 needs --livy-conf PATH"},
		{"bad layout", []string{"--zk", "h:2181", "--layout", "nope"}, nil, "", `bad --layout "nope"`},
		{"bad mode", []string{"--zk", "h:2181", "--mode", "both"}, nil, "", `bad --mode "both"`},

		// livy.conf.
		{"livy-conf", []string{"--livy-conf", "/etc/livy/conf/livy.conf"}, nil, "livy-conf:///etc/livy/conf/livy.conf", ""},
		{"livy-conf relative", []string{"--livy-conf", "conf/livy.conf"}, nil, "livy-conf://" + filepath.ToSlash(filepath.Join(cwd, "conf/livy.conf")), ""},
		{"livy-conf with zk", []string{"--livy-conf", "/l.conf", "--zk", "h:2181/c"}, nil, "livy-conf:///l.conf?zk=h:2181/c", ""},
		{"livy-conf with layout pr212", []string{"--livy-conf", "/l.conf", "--layout", "pr212"}, nil, "livy-conf:///l.conf", ""},

		// Static lists.
		{"endpoints host:port", []string{"--endpoints", "a:1, b:2"}, nil, "static://a:1,b:2", ""},
		{"endpoints http", []string{"--endpoints", "http://a:1,http://b:2"}, nil, "static://a:1,b:2", ""},
		{"endpoints https", []string{"--endpoints", "https://a:1,b:2"}, nil, "static://a:1,b:2?scheme=https", ""},
		{"endpoints base", []string{"--endpoints", "http://a:1/livy,b:2/livy/"}, nil, "static://a:1,b:2/livy", ""},
		{"endpoints default port", []string{"--endpoints", "a"}, nil, "static://a", ""},
		{"endpoints mixed schemes", []string{"--endpoints", "http://a:1,https://b:2"}, nil, "", "--endpoints mixes http:// and https:// entries"},
		{"endpoints two bases", []string{"--endpoints", "a:1/x,b:2/y"}, nil, "", `base paths "/x" and "/y"`},
		{"endpoints bad scheme", []string{"--endpoints", "ftp://a:1"}, nil, "", `scheme "ftp"`},
		{"endpoints userinfo", []string{"--endpoints", "http://u@a:1"}, nil, "", "without user, query or fragment"},
		{"endpoints empty", []string{"--endpoints", ",,"}, nil, "", "--endpoints is empty"},
		{"endpoints bad port", []string{"--endpoints", "a:99999"}, nil, "", `--endpoints: discovery: bad target "static://a:99999"`},

		// Bad values are usage errors naming their source.
		{"zk given a target", []string{"--zk", "zk://h:2181?layout=hive"}, nil, "", "--zk takes a ZooKeeper connect string"},
		{"bad connect string", []string{"--zk", "h:x"}, nil, "", "--zk: discovery: bad ZooKeeper connect string"},
		{"bad env connect string", nil, env{"LIVY_ZK": "h:x"}, "", "$LIVY_ZK: discovery: bad ZooKeeper connect string"},
		{"bad root", []string{"--zk", "h:2181", "--root", "rel"}, nil, "", "--root: discovery: bad ZooKeeper path"},
		{"bad env root", nil, env{"LIVY_ZK": "h:2181", "LIVY_ZK_ROOT": "rel"}, "", "$LIVY_ZK_ROOT: discovery: bad ZooKeeper path"},
		{"bad target", []string{"--target", "zk://h:2181?layout=nope"}, nil, "", `--target: discovery: bad target "zk://h:2181?layout=nope": unknown layout`},
		{"nothing", nil, nil, "", "missing --zk CONNECT, --target T, --livy-conf PATH or --endpoints LIST (or $LIVY_ZK, $LIVY_TARGET, $LIVY_CONF, $LIVY_ENDPOINTS)"},
		{"only root", []string{"--root", "/x"}, nil, "", "missing --zk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolve(false, tc.args, tc.env)
			checkResolve(t, got, err, tc.want, tc.err)
		})
	}
}

func checkResolve(t *testing.T, got Target, err error, want, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got %q, %v; want an error containing %q", got.String, err, wantErr)
		}
		if code := ExitCode(err); code != ExitUsage {
			t.Fatalf("%v: exit code %d, want %d", err, code, ExitUsage)
		}
		return
	}
	if err != nil || got.String != want {
		t.Fatalf("got %q, %v; want %q", got.String, err, want)
	}
	p, err := discovery.ParseTarget(got.String)
	if err != nil || fmt.Sprint(p) != fmt.Sprint(got.Parsed) {
		t.Fatalf("Parsed %+v, ParseTarget %+v %v", got.Parsed, p, err)
	}
}

// The registrar's flags: only the canonical layout, without mode=.
func TestResolveCanonicalOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
		err  string
	}{
		{"zk", []string{"--zk", "h:2181"}, nil, "h:2181", ""},
		{"zk root", []string{"--zk", "h:2181", "--root", "/r"}, nil, "zk://h:2181?root=/r", ""},
		{"env", nil, map[string]string{"LIVY_ZK": "h:2181", "LIVY_ZK_ROOT": "/r"}, "zk://h:2181?root=/r", ""},
		{"target root=", []string{"--target", "zk://h:2181/c?root=/r"}, nil, "zk://h:2181/c?root=/r", ""},
		{"hive target", []string{"--target", "zk://h:2181?layout=hive"}, nil, "", "--target names layout hive, but a registrar publishes the livyha canonical layout"},
		{"livy-conf target", []string{"--target", "livy-conf:///l.conf"}, nil, "", "--target names a PR #212 cluster (livy-conf), but a registrar publishes"},
		{"static target", []string{"--target", "static://a:1"}, nil, "", "--target names a static list, but a registrar publishes"},
		{"mode=", []string{"--target", "zk://h:2181?mode=multi-active"}, nil, "", "--target sets mode=, which says how clients read a cluster"},
		{"env livy-conf not read", nil, map[string]string{"LIVY_CONF": "/l.conf"}, "", "missing --zk CONNECT or --target T (or $LIVY_ZK, $LIVY_TARGET)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolve(true, tc.args, tc.env)
			checkResolve(t, got, err, tc.want, tc.err)
		})
	}
	if _, err := resolve(true, []string{"--zk", "h:2181", "--layout", "hive"}, nil); err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -layout") {
		t.Errorf("--layout on a registrar: %v", err)
	}
}

// Every flag and variable is in the usage text.
func TestUsageListsEveryFlag(t *testing.T) {
	for _, canonicalOnly := range []bool{false, true} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		tf := NewTargetFlags(fs, canonicalOnly)
		u := tf.Usage()
		n := 0
		fs.VisitAll(func(f *flag.Flag) {
			n++
			if !strings.Contains(u, "--"+f.Name+" ") {
				t.Errorf("canonicalOnly=%v: usage lacks --%s", canonicalOnly, f.Name)
			}
		})
		if want := map[bool]int{false: 8, true: 3}[canonicalOnly]; n != want {
			t.Errorf("canonicalOnly=%v: %d flags, want %d", canonicalOnly, n, want)
		}
		for _, e := range tf.EnvVars() {
			if !strings.Contains(u, "env "+e) {
				t.Errorf("canonicalOnly=%v: usage lacks env %s", canonicalOnly, e)
			}
		}
	}
}

func TestZooKeeperOf(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "livy.conf")
	if err := os.WriteFile(conf, []byte("livy.server.ha.mode = on\nlivy.server.ha.zookeeper-url = z1:2181,z2/c\n"+
		"livy.server.ha.server-ids = a\nlivy.server.ha.server-hostnames = h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--zk", "h:1/c"}, "h:1/c", 0},
		{[]string{"--zk", "h:1", "--hive-namespace", "x"}, "h:1", 0},
		{[]string{"--livy-conf", conf}, "z1:2181,z2:2181/c", 0},
		{[]string{"--livy-conf", conf, "--zk", "o:1"}, "o:1", 0},
		{[]string{"--livy-conf", filepath.Join(dir, "missing.conf")}, "", ExitUsage},
		{[]string{"--endpoints", "a:1"}, "", ExitUsage},
	} {
		tg, err := resolve(false, tc.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ZooKeeperOf(tg)
		if got != tc.want || ExitCode(err) != tc.code {
			t.Errorf("%q: %q %v, want %q exit %d", tc.args, got, err, tc.want, tc.code)
		}
	}
}
