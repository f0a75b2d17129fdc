package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/livyclient"
)

// ctlBin and simBin are the livyctl and livy-sim binaries built by
// TestMain (livy-sim for testutil.StartSim, which finds it built).
var ctlBin, simBin string

func TestMain(m *testing.M) {
	// The developer's environment must not leak into the tests.
	getenv = func(string) string { return "" }
	os.Exit(testutil.Main(m, map[*string]string{&ctlBin: "github.com/livyha/livyha/cmd/livyctl", &simBin: "github.com/livyha/livyha/cmd/livy-sim"}))
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// runCtl runs livyctl in-process with stdin.
func runCtlIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, &stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	return result{code, out.String(), errb.String()}
}

func runCtl(t *testing.T, args ...string) result { t.Helper(); return runCtlIn(t, "", args...) }

// parsed parses args as a verb's command line and builds its batch request.
func batchReq(t *testing.T, stdin string, args ...string) (*livyclient.CreateBatchRequest, error) {
	t.Helper()
	inv, err := parse(args)
	if err != nil {
		return nil, err
	}
	set := func(n string) bool {
		s := false
		inv.fs.Visit(func(f *flag.Flag) { s = s || f.Name == n })
		return s
	}
	return buildBatch(&inv.opts.req, set, extraArgs(inv.args), strings.NewReader(stdin))
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildBatchFromFlags(t *testing.T) {
	req, err := batchReq(t, "", "batch", "submit", "--file", "hdfs:///app.jar", "--class-name", "org.Main",
		"--args", "a,b", "--args", "c", "--jars", "x.jar,y.jar", "--jars", "z.jar", "--py-files", "p.py",
		"--files", "f1", "--conf", "spark.a=1", "--conf", "spark.b=x=y", "--driver-memory", "2g",
		"--executor-memory", "4g", "--num-executors", "3", "--queue", "q", "--name", "mine", "--proxy-user", "bob",
		"--", "d", "--e")
	if err != nil {
		t.Fatal(err)
	}
	want := &livyclient.CreateBatchRequest{File: "hdfs:///app.jar", ClassName: "org.Main", Args: []string{"a,b", "c", "d", "--e"},
		Jars: []string{"x.jar", "y.jar", "z.jar"}, PyFiles: []string{"p.py"}, Files: []string{"f1"},
		Conf: map[string]string{"spark.a": "1", "spark.b": "x=y"}, DriverMemory: "2g", ExecutorMemory: "4g",
		NumExecutors: 3, Queue: "q", Name: "mine", ProxyUser: "bob"}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("request\n%+v, want\n%+v", req, want)
	}
}

func TestBuildBatchFileAndFlags(t *testing.T) {
	yml := `file: hdfs:///from-file.jar
className: org.File
args: [one, two]
numExecutors: 2
conf:
  spark.a: 1
  spark.b: true
  spark.c: keep
name: file-name
`
	js := `{"file":"hdfs:///from-file.jar","className":"org.File","args":["one","two"],"numExecutors":2,
	"conf":{"spark.a":"1","spark.b":"true","spark.c":"keep"},"name":"file-name"}`
	for _, c := range []struct{ name, content string }{{"req.yaml", yml}, {"req.json", js}, {"req", js}, {"req.txt", yml}} {
		p := writeFile(t, c.name, c.content)
		// The file alone.
		req, err := batchReq(t, "", "batch", "create", "-f", p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := &livyclient.CreateBatchRequest{File: "hdfs:///from-file.jar", ClassName: "org.File", Args: []string{"one", "two"},
			NumExecutors: 2, Conf: map[string]string{"spark.a": "1", "spark.b": "true", "spark.c": "keep"}, Name: "file-name"}
		if !reflect.DeepEqual(req, want) {
			t.Fatalf("%s: %+v, want %+v", c.name, req, want)
		}
		// Flags override fields; --conf merges.
		req, err = batchReq(t, "", "batch", "create", "-f", p, "--class-name", "org.Flag", "--args", "three",
			"--num-executors", "5", "--conf", "spark.a=2", "--conf", "spark.d=new")
		if err != nil {
			t.Fatal(err)
		}
		want.ClassName, want.Args, want.NumExecutors = "org.Flag", []string{"three"}, 5
		want.Conf = map[string]string{"spark.a": "2", "spark.b": "true", "spark.c": "keep", "spark.d": "new"}
		if !reflect.DeepEqual(req, want) {
			t.Fatalf("%s with flags: %+v, want %+v", c.name, req, want)
		}
	}
	// stdin.
	req, err := batchReq(t, js, "batch", "create", "-f", "-")
	if err != nil || req.File != "hdfs:///from-file.jar" {
		t.Fatalf("stdin: %+v, %v", req, err)
	}
}

func TestRequestFileErrors(t *testing.T) {
	for _, c := range []struct{ name, content, want string }{
		{"u.yaml", "file: a.jar\nnumExecutor: 2\n", `line 2: unknown field "numExecutor"`},
		{"u.json", `{"file":"a.jar","driverMemroy":"1g"}`, `unknown field "driverMemroy"`},
		{"c.json", `{"file":"a.jar","ClassName":"x"}`, `unknown field "ClassName"`}, // Livy's names are case-sensitive
		{"t.yaml", "file: a.jar\nnumExecutors: two\n", "numExecutors"},
		{"l.yaml", "- file: a.jar\n", "want a mapping"},
		{"e.yaml", "  \n", "empty request"},
		{"b.json", `{"file":`, "unexpected EOF"},
		{"nofile.yaml", "className: x\n", "missing the application"},
	} {
		_, err := batchReq(t, "", "batch", "create", "-f", writeFile(t, c.name, c.content))
		if err == nil || !strings.Contains(err.Error(), c.want) || cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("%s: error %v, want one containing %q (exit 2)", c.name, err, c.want)
		}
	}
	if _, err := batchReq(t, "", "batch", "create", "-f", "/nonexistent/req.yaml"); err == nil || cli.ExitCode(err) != cli.ExitUsage {
		t.Errorf("missing file: %v", err)
	}
	// A session request: its own fields.
	inv, err := parse([]string{"session", "create", "-f", writeFile(t, "s.yaml", "kind: pyspark\nfile: x.jar\n")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = buildSession(&inv.opts.req, func(string) bool { return false }, strings.NewReader(""))
	if err == nil || !strings.Contains(err.Error(), `unknown field "file"`) {
		t.Errorf("session file with a batch field: %v", err)
	}
}

func TestOutputFormats(t *testing.T) {
	app, owner := "application_1_0001", "alice"
	n1, n2 := "first", "a-much-longer-name"
	l := &livyclient.BatchList{From: 0, Total: 2, Sessions: []livyclient.Batch{
		{ID: 1, Name: &n1, State: livyclient.StateRunning, AppID: &app, Owner: &owner},
		{ID: 22, Name: &n2, State: livyclient.StateSuccess},
	}}
	var b bytes.Buffer
	if err := printBatchList(&b, "table", l); err != nil {
		t.Fatal(err)
	}
	want := "ID  NAME                STATE    APPID               OWNER  PROXYUSER\n" +
		"1   first               running  application_1_0001  alice  -\n" +
		"22  a-much-longer-name  success  -                   -      -\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := printBatchList(&b, "json", l); err != nil {
		t.Fatal(err)
	}
	var back livyclient.BatchList
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || !reflect.DeepEqual(&back, l) {
		t.Fatalf("json round trip: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := printBatch(&b, "yaml", &l.Sessions[0]); err != nil {
		t.Fatal(err)
	}
	var y map[string]any
	if err := yaml.Unmarshal(b.Bytes(), &y); err != nil || y["appId"] != app || y["state"] != "running" || y["id"] != 1 {
		t.Fatalf("yaml (Livy's keys): %v\n%s", err, b.String())
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{&livyclient.Error{StatusCode: 404}, cli.ExitNotFound},
		{&livyclient.Error{StatusCode: 401}, cli.ExitNotAuthorized},
		{&livyclient.Error{StatusCode: 403}, cli.ExitNotAuthorized},
		{&livyclient.AuthError{Server: "h:1", Err: errors.New("no ticket")}, cli.ExitNotAuthorized},
		{&livyclient.Error{StatusCode: 400}, cli.ExitUsage},
		{&livyclient.Error{StatusCode: 409}, cli.ExitUsage},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), cli.ExitUnavailable},
		{&cli.ExitError{Code: cli.ExitJobFailed, Err: errors.New("dead")}, 6},
		{errors.New("connection refused"), cli.ExitUnavailable},
	} {
		if got := cli.ExitCode(c.err); got != c.want {
			t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	// Distinct from each other and from 0–5.
	codes := map[int]bool{}
	for _, c := range []int{cli.ExitOK, cli.ExitNotFound, cli.ExitUsage, cli.ExitUnavailable, cli.ExitNotAuthorized,
		cli.ExitIDTaken, cli.ExitJobFailed, (&signalError{sig: os.Interrupt}).code(), (&signalError{sig: syscall.SIGTERM}).code()} {
		if codes[c] {
			t.Errorf("exit code %d used twice", c)
		}
		codes[c] = true
	}
	if c := (&signalError{sig: syscall.SIGTERM}).code(); c != 143 {
		t.Errorf("SIGTERM code %d, want 143", c)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "missing verb"},
		{[]string{"frobnicate"}, `unknown verb "frobnicate"`},
		{[]string{"batch"}, "missing batch verb"},
		{[]string{"batch", "explode"}, `unknown verb "explode" for batch`},
		{[]string{"batch", "list", "-o", "xml"}, `bad -o "xml"`},
		{[]string{"batch", "get", "--follow", "1"}, "batch get does not take --follow"},
		{[]string{"batch", "delete", "-o", "json", "1"}, "does not take -o"},
		{[]string{"batch", "get"}, "want one batch ID or NAME"},
		{[]string{"batch", "list", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"batch", "submit", "--file", "x.jar", "extra"}, "arguments after --"},
		{[]string{"batch", "submit", "--conf", "novalue", "--file", "x"}, "want KEY=VALUE"},
		{[]string{"batch", "submit", "--poll", "0s", "--file", "x"}, "bad --poll"},
		{[]string{"run", "1+1"}, "run needs --session"},
		{[]string{"batch", "submit", "--file", "x.jar"}, "missing --zk"},
		{[]string{"batch", "submit", "--endpoints", "127.0.0.1:1", "--user", "u"}, "needs a password"},
		{[]string{"batch", "submit", "--endpoints", "127.0.0.1:1", "--user", "u", "--bearer-token-file", "/x"}, "give one authentication method"},
	} {
		r := runCtl(t, c.args...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, c.want) || !strings.HasPrefix(r.stderr, "livyctl: ") ||
			!strings.HasSuffix(r.stderr, "(see livyctl -h)\n") || r.stdout != "" {
			t.Errorf("%q: %v, want exit 2 with %q", c.args, r, c.want)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	pw := writeFile(t, "pw", secret+"\nsecond line\n")
	tok := writeFile(t, "tok", "")
	for _, args := range [][]string{
		{"batch", "list", "--endpoints", "127.0.0.1:1", "--user", "u", "--password-file", pw},
		{"batch", "list", "--endpoints", "127.0.0.1:1", "--bearer-token-file", tok},
		{"batch", "list", "--endpoints", "127.0.0.1:1", "--zk-auth", secret},
	} {
		r := runCtl(t, args...)
		if r.code != cli.ExitUsage || strings.Contains(r.stderr+r.stdout, secret) {
			t.Errorf("%q: %v (want exit 2, no secret)", args, r)
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	_, fs := newFlags()
	r := runCtl(t, "help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("help: %v", r)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(r.stdout, flagName(f.Name)+" ") {
			t.Errorf("livyctl help lacks %s", flagName(f.Name))
		}
	})
	for _, v := range verbs {
		if !strings.Contains(r.stdout, v.title()) {
			t.Errorf("livyctl help lacks %s", v.title())
		}
		args := append(strings.Fields(v.title()), "-h")
		vr := runCtl(t, args...)
		if vr.code != 0 || !strings.HasPrefix(vr.stdout, "usage: livyctl [flags] "+v.title()) {
			t.Fatalf("%q: %v", args, vr)
		}
		for _, n := range append(append([]string{}, commonFlags...), v.flags...) {
			if !strings.Contains(vr.stdout, flagName(n)+" ") {
				t.Errorf("%s -h lacks %s", v.title(), flagName(n))
			}
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help", "batch", "submit"}, {"batch", "-h"}} {
		if r := runCtl(t, args...); r.code != 0 || !strings.HasPrefix(r.stdout, "usage: livyctl") {
			t.Errorf("%q: %v", args, r)
		}
	}
}
