package main

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

// --target: a canonical zk:// target with root= (or a connect string)
// publishes there, from the flag or $LIVY_TARGET.
func TestTarget(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	p1 := start(t, nil, "--target", "zk://"+zkc+"?root="+root, "--id", "1", "--url", urlOf(1), "--elect")
	p1.WaitLine(testutil.Stderr, 20*time.Second, "id=1 is now leader")
	p2 := start(t, []string{"LIVY_TARGET=zk://" + zkc + "?root=" + root}, "--id", "2", "--url", urlOf(2))
	p2.WaitLine(testutil.Stderr, 20*time.Second, "registered id=2 url="+urlOf(2)+" node="+root+"/servers/")
	r := newResolver(t, zkc, root)
	waitSnap(t, r, 10*time.Second, "leader 1 of 2", func(s *discovery.Snapshot) bool { return leaderIs(1)(s) && len(s.Servers) == 2 })
}

// Targets a registrar cannot publish in, and conflicting flags: exit 2,
// one line, saying why.
func TestTargetUsageErrors(t *testing.T) {
	t.Parallel()
	const zkc = "127.0.0.1:1"
	srv := []string{"--id", "1", "--url", urlOf(1)}
	for _, tc := range []struct {
		args []string
		env  []string
		msg  string
	}{
		{[]string{"--target", "zk://" + zkc + "?layout=hive&namespace=hs2"}, nil, "--target names layout hive, but a registrar publishes the livyha canonical layout"},
		{[]string{"--target", "static://a:8998"}, nil, "--target names a static list, but a registrar publishes"},
		{[]string{"--target", "livy-conf:///etc/livy/conf/livy.conf"}, nil, "names a PR #212 cluster (livy-conf), but a registrar publishes"},
		{[]string{"--target", "zk://" + zkc + "?mode=multi-active"}, nil, "sets mode=, which says how clients read a cluster"},
		{[]string{"--target", zkc, "--zk", zkc}, nil, "--target and --zk are mutually exclusive"},
		{[]string{"--target", "zk://" + zkc + "?root=/a", "--root", "/b"}, nil, "--root and --target are mutually exclusive"},
		{[]string{"--target", "zk://" + zkc + "?layout=nope"}, nil, `--target: discovery: bad target`},
		{nil, []string{"LIVY_TARGET=" + zkc, "LIVY_ZK=" + zkc}, "$LIVY_TARGET and $LIVY_ZK are both set"},
		{[]string{"--zk", zkc, "--layout", "hive"}, nil, "flag provided but not defined: -layout"},
		{[]string{"--zk", "zk://" + zkc}, nil, "--zk takes a ZooKeeper connect string"},
	} {
		p := start(t, tc.env, append(tc.args, srv...)...)
		code := p.Wait(10 * time.Second)
		lines := p.Lines(testutil.Stderr)
		if code != cli.ExitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], "livy-registrar: ") ||
			!strings.Contains(lines[0], tc.msg) || !strings.HasSuffix(lines[0], "(see livy-registrar -h)") {
			t.Errorf("%q %q: exit %d, stderr %q; want exit 2 and one line with %q", tc.env, tc.args, code, lines, tc.msg)
		}
	}
}

// -h lists every flag and environment variable, and the exit codes.
func TestHelp(t *testing.T) {
	t.Parallel()
	var out, errb strings.Builder
	if code := run(context.Background(), []string{"-h"}, &out, &errb); code != 0 || errb.Len() != 0 {
		t.Fatalf("-h: exit %d, stderr %q", code, errb.String())
	}
	help := out.String()
	// The flags run defines: parse nothing and walk them.
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	tf := cli.NewTargetFlags(fs, true)
	cli.NewZKAuthFlag(fs)
	cli.NewTLSFlags(fs, true)
	for _, n := range []string{"id", "url", "thrift", "thrift-transport", "thrift-http-path", "version", "elect", "leadership",
		"session-timeout", "register-timeout", "health-url", "health-interval", "health-failures", "takeover"} {
		fs.String(n, "", "")
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help, "--"+f.Name+" ") {
			t.Errorf("-h lacks --%s", f.Name)
		}
	})
	for _, e := range tf.EnvVars() {
		if !strings.Contains(help, "env "+e) {
			t.Errorf("-h lacks env %s", e)
		}
	}
	if !strings.Contains(help, cli.ExitCodesHelp) {
		t.Error("-h lacks the exit codes")
	}
	// Every flag -h lists is one run accepts (and the other way round):
	// an unknown one would be a usage error naming it.
	for _, l := range strings.Split(help, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], "--") {
			continue
		}
		if fs.Lookup(strings.TrimPrefix(f[0], "--")) == nil {
			t.Errorf("-h lists %s, which is not a flag", f[0])
		}
	}
}

// A root behind a digest ACL: the registrar cannot create its nodes.
func TestNotAuthorized(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	conn, _, err := zk.Connect(c.Servers(), 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.AddAuth("digest", []byte("u:p")); err != nil {
		t.Fatal(err)
	}
	root := testRoot(t)
	if _, err := conn.Create(root, nil, 0, zk.DigestACL(zk.PermAll, "u", "p")); err != nil {
		t.Fatal(err)
	}
	start0 := time.Now()
	p := start(t, nil, "--zk", c.ConnectString(), "--root", root, "--id", "1", "--url", urlOf(1), "--register-timeout", "3s")
	code := p.Wait(20 * time.Second)
	took := time.Since(start0)
	lines := p.Lines(testutil.Stderr)
	t.Logf("exit %d after %v: %q", code, took.Round(time.Millisecond), lines)
	last := lines[len(lines)-1]
	if code != cli.ExitNotAuthorized || !strings.Contains(last, "not authenticated") || took > 2*time.Second {
		t.Fatalf("exit %d after %v, stderr %q; want exit 4 at once", code, took, lines)
	}
}
