// Package readme keeps README.md honest. Every ```go block of the README
// is preceded by "<!-- example: NAME -->" and appears verbatim between
// "//readme:begin NAME" and "//readme:end" in a Go file of this directory
// tree: whole programs in livyclient/, thrift/ and find/, and the README's
// test (TestBatchAcrossFailover) below. The tests here check that pairing
// both ways, run the programs (against in-process stand-ins and, when
// ZooKeeper is installed, against livy-sim servers), check that the flags
// the README gives to livy-find, livy-sim, livy-registrar, livy-proxy and livyctl exist, and that
// the JSON keys it documents are what livy-find prints.
package readme

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/manual"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

const readmePath = "../../README.md"

var tmpDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "livyha-readme-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = d
	code := m.Run()
	os.RemoveAll(d)
	testutil.RemoveBinaries()
	os.Exit(code)
}

//readme:begin manual
func TestBatchAcrossFailover(t *testing.T) {
	ctx := context.Background()
	a := livytest.NewServer(t, livytest.Config{}) // two in-process Livy servers
	b := livytest.NewServer(t, livytest.Config{})

	src := manual.New(discovery.State{Servers: []discovery.Server{manual.Server("a", a.URL())}, Leader: "a"})
	r, err := discovery.NewResolverFromSource(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := livyclient.New(livyclient.WithResolver(r))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	submit := func() *livyclient.Batch { // the code under test
		batch, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "local:///opt/jobs/pi.py"})
		if err != nil {
			t.Fatal(err)
		}
		if batch, err = c.Batches.Wait(ctx, batch.ID); err != nil {
			t.Fatal(err)
		}
		return batch
	}
	submit() // on a
	// The failover: b is now the only server, and active.
	src.Update(discovery.State{Servers: []discovery.Server{manual.Server("b", b.URL())}, Leader: "b"})
	if batch := submit(); batch.State != livyclient.StateSuccess {
		t.Fatalf("batch on b: %s", batch.State)
	}

	posts := func(s *livytest.Server) (n int) {
		for _, req := range s.Requests() {
			if req.Method == "POST" && req.Path == "/batches" {
				n++
			}
		}
		return n
	}
	if posts(a) != 1 || posts(b) != 1 {
		t.Errorf("POST /batches: %d on a, %d on b; want 1 each", posts(a), posts(b))
	}
}

//readme:end

// ---- README structure ------------------------------------------------------

// block is a fenced code block of the README.
type block struct {
	lang, name string // name: from a preceding <!-- example: NAME -->
	line       int    // 1-based line of the opening fence
	text       string
}

// readme holds the README's lines, fenced blocks and code lines.
type readme struct {
	lines  []string
	blocks []block
	// code holds every line of shell code: fenced blocks other than go,
	// indented blocks, and inline code spans in prose, with their line
	// numbers.
	code []codeLine
}

type codeLine struct {
	line int
	text string
	// cmd is the command a leading --flag belongs to: inline code in the
	// prose of the livy-find and livy-registrar sections.
	cmd string
}

var (
	exampleComment = regexp.MustCompile(`^<!-- example: ([a-z0-9-]+) -->$`)
	inlineCode     = regexp.MustCompile("`([^`]+)`")
)

func readREADME(t *testing.T) *readme {
	t.Helper()
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	rd := &readme{lines: strings.Split(string(data), "\n")}
	var cur *block
	var body []string
	prevIndented := false
	section := ""
	for i, l := range rd.lines {
		n := i + 1
		if cur == nil && strings.HasPrefix(l, "## ") {
			section = ""
			for _, c := range commands {
				if strings.HasPrefix(l, "## "+c+" ") {
					section = c
				}
			}
		}
		if cur != nil {
			if strings.HasPrefix(l, "```") {
				cur.text = strings.Join(body, "\n") + "\n"
				rd.blocks = append(rd.blocks, *cur)
				if cur.lang != "go" {
					for j, b := range body {
						rd.code = append(rd.code, codeLine{cur.line + 1 + j, b, ""})
					}
				}
				cur, body = nil, nil
				continue
			}
			body = append(body, l)
			continue
		}
		if strings.HasPrefix(l, "```") {
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(l, "```")), line: n}
			for j := i - 1; j >= 0; j-- {
				if p := strings.TrimSpace(rd.lines[j]); p != "" {
					if m := exampleComment.FindStringSubmatch(p); m != nil {
						cur.name = m[1]
					}
					break
				}
			}
			continue
		}
		// Indented code blocks (4 spaces after a blank line, or inside a
		// list item, 8): treat any line indented by 4+ spaces that follows
		// a blank or another indented line as code.
		indented := strings.HasPrefix(l, "    ") && strings.TrimSpace(l) != ""
		if indented && (prevIndented || i == 0 || strings.TrimSpace(rd.lines[i-1]) == "") {
			rd.code = append(rd.code, codeLine{n, strings.TrimSpace(l), ""})
			prevIndented = true
			continue
		}
		prevIndented = indented && prevIndented
		if strings.Count(l, "`")%2 != 0 {
			t.Errorf("README.md:%d: inline code broken across lines; keep each span on one line (the flag check reads lines)", n)
		}
		for _, m := range inlineCode.FindAllStringSubmatch(l, -1) {
			rd.code = append(rd.code, codeLine{n, m[1], section})
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: unterminated code fence", cur.line)
	}
	return rd
}

// region is a //readme:begin NAME ... //readme:end part of a Go file.
type region struct {
	name, file string
	line       int
	text       string
}

func readRegions(t *testing.T) []region {
	t.Helper()
	var regions []region
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var cur *region
		var body []string
		for i, l := range strings.Split(string(data), "\n") {
			switch {
			case strings.HasPrefix(l, "//readme:begin "):
				if cur != nil {
					t.Errorf("%s:%d: //readme:begin inside the region %q", path, i+1, cur.name)
				}
				cur, body = &region{name: strings.TrimSpace(strings.TrimPrefix(l, "//readme:begin ")), file: path, line: i + 1}, nil
			case strings.HasPrefix(l, "//readme:end"):
				if cur == nil {
					t.Errorf("%s:%d: //readme:end without //readme:begin", path, i+1)
					continue
				}
				// The blank line gofmt wants before the end marker is not
				// part of the region.
				for len(body) > 0 && strings.TrimSpace(body[len(body)-1]) == "" {
					body = body[:len(body)-1]
				}
				cur.text = strings.Join(body, "\n") + "\n"
				regions = append(regions, *cur)
				cur = nil
			case cur != nil:
				body = append(body, l)
			}
		}
		if cur != nil {
			t.Errorf("%s:%d: //readme:begin %s without //readme:end", path, cur.line, cur.name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return regions
}

// TestREADMEGoBlocks: each ```go block of the README is a named example
// region here, verbatim, and each region is a README block.
func TestREADMEGoBlocks(t *testing.T) {
	rd := readREADME(t)
	regions := map[string]region{}
	for _, r := range readRegions(t) {
		if o, dup := regions[r.name]; dup {
			t.Errorf("%s:%d: example %q also at %s:%d", r.file, r.line, r.name, o.file, o.line)
		}
		regions[r.name] = r
	}
	seen := map[string]bool{}
	for _, b := range rd.blocks {
		if b.lang != "go" {
			continue
		}
		if b.name == "" {
			t.Errorf("README.md:%d: a ```go block without a preceding <!-- example: NAME --> line", b.line)
			continue
		}
		if seen[b.name] {
			t.Errorf("README.md:%d: example %q appears twice", b.line, b.name)
		}
		seen[b.name] = true
		r, ok := regions[b.name]
		if !ok {
			t.Errorf("README.md:%d: example %q has no //readme:begin %s region in examples/readme", b.line, b.name, b.name)
			continue
		}
		if b.text != r.text {
			t.Errorf("README.md:%d: example %q differs from %s:%d: %s", b.line, b.name, r.file, r.line, firstDiff(b.text, r.text))
		}
	}
	for name, r := range regions {
		if !seen[name] {
			t.Errorf("%s:%d: example %q is in no ```go block of README.md", r.file, r.line, name)
		}
	}
	if len(seen) == 0 {
		t.Error("README.md has no ```go blocks")
	}
}

func firstDiff(readme, example string) string {
	a, b := strings.Split(readme, "\n"), strings.Split(example, "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y || i >= len(a) || i >= len(b) {
			return fmt.Sprintf("block line %d:\n\tREADME:  %q\n\texample: %q", i+1, x, y)
		}
	}
	return "(no difference)"
}

// ---- binaries ---------------------------------------------------------------

var build struct {
	once sync.Once
	err  error
	out  string
}

// bin returns the path of a command built from the module: livy-find,
// livy-sim, livy-registrar, or one of this directory's programs
// (livyclient, thrift, find).
func bin(t *testing.T, name string) string {
	t.Helper()
	build.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(goTool, "build", "-o", tmpDir+string(filepath.Separator),
			"../../cmd/livy-find", "../../cmd/livy-sim", "../../cmd/livy-registrar", "../../cmd/livy-proxy", "../../cmd/livyctl",
			"./livyclient", "./thrift", "./find")
		out, err := cmd.CombinedOutput()
		build.err, build.out = err, string(out)
	})
	if build.err != nil {
		t.Fatalf("go build: %v\n%s", build.err, build.out)
	}
	return filepath.Join(tmpDir, name)
}

type result struct {
	stdout, stderr string
	err            error
}

// run runs a built command with the environment env added, bounded by d.
func run(t *testing.T, d time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, name), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{stdout.String(), stderr.String(), err}
}

// cleanEnv is the test's environment without the variables livyha's
// commands and programs read.
func cleanEnv() []string { return testutil.HermeticEnv() }

// ---- flags -----------------------------------------------------------------

var commands = []string{"livy-find", "livy-sim", "livy-registrar", "livy-proxy", "livyctl"}

// flagUses returns, per command, the flags the README's code gives it, with
// the README line of each use.
func flagUses(rd *readme) map[string]map[string][]int {
	uses := map[string]map[string][]int{}
	for _, c := range commands {
		uses[c] = map[string][]int{}
	}
	prev := ""
	for _, cl := range rd.code {
		// A stack of the commands of nested $(...) substitutions.
		stack := []string{cl.cmd}
		newCommand := true
		if strings.HasPrefix(cl.text, "[-") {
			// a usage text's continuation line
			stack[0], newCommand = prev, false
		}
		// Brackets and parentheses of a usage text ("[--a | --b]",
		// "(--zk C | --target T)"): a | inside them is no pipe.
		groups := 0
		for _, tok := range strings.Fields(cl.text) {
			if strings.HasPrefix(tok, "#") {
				break
			}
			for strings.Contains(tok, "$(") {
				_, after, _ := strings.Cut(tok, "$(")
				stack = append(stack, "")
				tok, newCommand = after, true
			}
			groups += strings.Count(tok, "[") + strings.Count(tok, "(")
			closes := strings.Count(tok, ")") + strings.Count(tok, "]")
			word := strings.Trim(tok, `"'()[]`)
			switch {
			case groups == 0 && (word == "|" || word == ";" || word == "&&" || word == "||" || word == "&" || word == "do" || word == "then"):
				newCommand = true
			case groups > 0 && word == "|":
			case newCommand && strings.HasPrefix(word, "--") && len(word) > 2 && len(stack) == 1 && cl.cmd != "":
				// inline "--flag X" in the prose of a command's section
				newCommand = false
				f, _, _ := strings.Cut(word, "=")
				uses[cl.cmd][f] = append(uses[cl.cmd][f], cl.line)
			case newCommand && strings.Contains(word, "=") && !strings.HasPrefix(word, "-"):
				// an environment assignment before the command word
			case newCommand:
				base := filepath.Base(word)
				stack[len(stack)-1] = ""
				if slices.Contains(commands, base) {
					stack[len(stack)-1] = base
				}
				newCommand = strings.HasSuffix(tok, ";")
			case strings.HasPrefix(word, "--") && len(word) > 2:
				if c := stack[len(stack)-1]; c != "" {
					f, _, _ := strings.Cut(word, "=")
					f = strings.TrimRight(f, ",.:;")
					uses[c][f] = append(uses[c][f], cl.line)
				}
			}
			// A closer ends a group if one is open, else a $(...).
			for ; closes > 0 && groups > 0; closes-- {
				groups--
			}
			for ; closes > 0 && len(stack) > 1; closes-- {
				stack = stack[:len(stack)-1]
			}
			if strings.HasSuffix(tok, ";") {
				newCommand = true
			}
		}
		prev = stack[0]
	}
	return uses
}

// TestREADMEFlags: every --flag the README gives livy-find, livy-sim or
// livy-registrar is in that command's -h.
func TestREADMEFlags(t *testing.T) {
	rd := readREADME(t)
	uses := flagUses(rd)
	for _, c := range commands {
		h := run(t, time.Minute, nil, c, "-h")
		help := h.stdout + h.stderr
		if !strings.Contains(help, "usage") {
			t.Fatalf("%s -h printed no usage: %v\n%s", c, h.err, help)
		}
		if len(uses[c]) == 0 {
			t.Errorf("README.md gives no flags to %s (is the parser broken?)", c)
		}
		var checked []string
		for f, lines := range uses[c] {
			checked = append(checked, f)
			name := strings.TrimPrefix(f, "--")
			re := regexp.MustCompile(`(^|[\s\[(])--?` + regexp.QuoteMeta(name) + `([\s=\])]|$)`)
			if !re.MatchString(help) {
				t.Errorf("README.md:%s: %s %s: not in `%s -h`", joinInts(lines), c, f, c)
			}
		}
		slices.Sort(checked)
		t.Logf("%s: %s", c, strings.Join(checked, " "))
	}
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func TestFlagUsesParser(t *testing.T) {
	rd := &readme{code: []codeLine{
		{1, `curl --location-trusted -u "alice:$P" "$(livy-find --zk z active)/batches" --max-time 3`, ""},
		{2, `livy-sim --zk 127.0.0.1:2181 --id $id > /tmp/x 2>&1 &`, ""},
		{3, `for id in 1 2 3; do livy-registrar --elect; done`, ""},
		{4, `LIVY_TARGET=x bin/livy-find --format json servers # --not-a-flag`, ""},
		{5, `go run ./examples/failover --sim bin/livy-sim`, ""},
		{6, `--timeout D`, "livy-find"},
		{7, `curl -L`, "livy-find"},
		{8, `--health-url`, ""},
		{9, `livy-registrar (--zk CONNECT | --target T) [--root /livy]`, ""},
		{10, `[--thrift-transport binary|http] [--elect]`, ""},
		{11, `livy-find servers | head -1; echo "$(livy-find active)" | livy-sim --csrf`, ""},
	}}
	got := flagUses(rd)
	want := map[string]map[string][]int{
		"livy-find":      {"--format": {4}, "--timeout": {6}, "--zk": {1}},
		"livy-sim":       {"--csrf": {11}, "--id": {2}, "--zk": {2}},
		"livy-registrar": {"--elect": {3, 10}, "--root": {9}, "--target": {9}, "--thrift-transport": {10}, "--zk": {9}},
	}
	for _, c := range commands {
		if fmt.Sprint(got[c]) != fmt.Sprint(want[c]) {
			t.Errorf("%s: got %v, want %v", c, got[c], want[c])
		}
	}
}

// ---- JSON keys -------------------------------------------------------------

// jsonKeys returns the README's table of livy-find JSON keys: subcommand →
// keys in order.
func jsonKeys(t *testing.T, rd *readme) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	in := false
	for _, l := range rd.lines {
		switch {
		case strings.HasPrefix(l, "| subcommand | JSON keys"):
			in = true
		case in && strings.HasPrefix(l, "|---"):
		case in && strings.HasPrefix(l, "|"):
			cells := strings.Split(strings.Trim(l, "|"), "|")
			if len(cells) != 2 {
				t.Fatalf("README JSON keys row %q: want 2 cells", l)
			}
			var ks []string
			for _, m := range inlineCode.FindAllStringSubmatch(cells[1], -1) {
				ks = append(ks, m[1])
			}
			for _, m := range inlineCode.FindAllStringSubmatch(cells[0], -1) {
				keys[m[1]] = ks
			}
		case in:
			in = false
		}
	}
	if len(keys) == 0 {
		t.Fatal(`README.md has no "| subcommand | JSON keys" table`)
	}
	return keys
}

// objectKeys returns the keys of each JSON object in out (an object, an
// array of objects, or several of either), in order.
func objectKeys(t *testing.T, out string) [][]string {
	t.Helper()
	var objs [][]string
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("bad JSON %q: %v", out, err)
		}
		elems := []json.RawMessage{v}
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("[")) {
			elems = nil
			if err := json.Unmarshal(v, &elems); err != nil {
				t.Fatalf("bad JSON array %q: %v", v, err)
			}
		}
		for _, e := range elems {
			keys, err := keysOf(e)
			if err != nil {
				t.Fatalf("not a JSON object %q: %v", e, err)
			}
			objs = append(objs, keys)
		}
	}
	return objs
}

// keysOf returns the keys of one JSON object, in order.
func keysOf(obj []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("want an object, got %v (%v)", tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// checkJSON runs livy-find SUB --format json and compares each object's
// keys with the README's.
func checkJSON(t *testing.T, want map[string][]string, env []string, sub ...string) {
	t.Helper()
	args := append(append([]string(nil), sub...), "--format", "json")
	res := run(t, 30*time.Second, env, "livy-find", args...)
	if res.err != nil {
		t.Errorf("livy-find %s: %v\n%s", strings.Join(args, " "), res.err, res.stderr)
		return
	}
	wk, ok := want[sub[0]]
	if !ok {
		t.Errorf("README.md documents no JSON keys for livy-find %s", sub[0])
		return
	}
	objs := objectKeys(t, res.stdout)
	if len(objs) == 0 {
		t.Errorf("livy-find %s printed no JSON object: %q", strings.Join(args, " "), res.stdout)
	}
	for _, got := range objs {
		if !slices.Equal(got, wk) {
			t.Errorf("livy-find %s: keys %v, README.md documents %v", strings.Join(args, " "), got, wk)
		}
	}
}

func TestObjectKeys(t *testing.T) {
	got := objectKeys(t, `[{"a":1,"b":{"x":"y"},"c":[1,{"z":2}],"d":"e"},{"f":null}]`)
	if fmt.Sprint(got) != "[[a b c d] [f]]" {
		t.Fatalf("got %v", got)
	}
}

// ---- programs without ZooKeeper --------------------------------------------

// The README's programs and livy-find against an in-process Livy stand-in
// (a static:// target), with Basic auth.
func TestProgramsStatic(t *testing.T) {
	rd := readREADME(t)
	srv := livytest.NewServer(t, livytest.Config{Step: 5 * time.Millisecond,
		BasicAuth: &livytest.BasicAuth{User: "alice", Password: "secret"}})
	target := "static://" + strings.TrimPrefix(srv.URL(), "http://")
	env := []string{"LIVY_TARGET=" + target, "LIVY_USER=alice", "LIVY_PASSWORD=secret"}

	res := run(t, time.Minute, env, "livyclient")
	if res.err != nil {
		t.Fatalf("livyclient: %v\n%s%s", res.err, res.stdout, res.stderr)
	}
	if want := "batch 0 success\nstatement 0 ok res0: Int = 2\n"; res.stdout != want {
		t.Errorf("livyclient printed %q, want %q", res.stdout, want)
	}

	lines := startFind(t, env)
	for _, want := range []string{"active: " + srv.URL(), "session 10000001: " + srv.URL()} {
		if got := next(t, lines); got != want {
			t.Errorf("find printed %q, want %q", got, want)
		}
	}

	keys := jsonKeys(t, rd)
	for _, sub := range [][]string{{"active"}, {"session", "1"}, {"batch", "1"}, {"servers"}} {
		checkJSON(t, keys, env, sub...)
	}
	if got := objectKeys(t, firstLine(t, env, "livy-find", "watch", "--format", "json")); len(got) != 1 || !slices.Equal(got[0], keys["watch"]) {
		t.Errorf("livy-find watch --format json: keys %v, README.md documents %v", got, keys["watch"])
	}
}

// firstLine starts a long-running command, returns the first line it
// prints, and stops it with SIGINT.
func firstLine(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin(t, name), args...)
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := zktest.StartProc(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Signal(syscall.SIGINT, 5*time.Second)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		return l
	case <-time.After(20 * time.Second):
		t.Fatalf("%s %s printed nothing for 20s", name, strings.Join(args, " "))
	}
	return ""
}

// startFind starts the find program and returns its stdout lines; it is
// stopped with SIGINT at the end of the test and must exit 0.
func startFind(t *testing.T, env []string) <-chan string {
	t.Helper()
	cmd := exec.Command(bin(t, "find"))
	cmd.Env = append(cleanEnv(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := zktest.StartProc(cmd)
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.Signal(syscall.SIGINT, 10*time.Second)
		if !cmd.ProcessState.Success() {
			t.Errorf("find after SIGINT: %v\n%s", cmd.ProcessState, stderr.String())
		}
	})
	return lines
}

func next(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("find exited")
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("find printed nothing for 20s")
	}
	return ""
}

// ---- with ZooKeeper: the local cluster -------------------------------------

type sim struct {
	*testutil.Proc
	id          int
	url, thrift string
}

var listening = regexp.MustCompile(`^livy-sim: id=(\d+) listening on (\S+) thrift=(\S+)$`)

// startSim starts livy-sim as "Local cluster by hand" does, on free ports.
func startSim(t *testing.T, zk string, id int) *sim {
	t.Helper()
	p := testutil.StartSim(t, "--zk", zk, "--id", fmt.Sprint(id),
		"--listen", "127.0.0.1:0", "--thrift", "127.0.0.1:0", "--thrift-auth", "NONE")
	m := listening.FindStringSubmatch(p.Line)
	if m == nil {
		t.Fatalf("livy-sim %d printed %q", id, p.Line)
	}
	return &sim{Proc: p.Proc, id: id, url: m[2], thrift: m[3]}
}

// TestLocalCluster runs the README's programs and livy-find against three
// livy-sim servers, as "Local cluster by hand" does, with a failover.
func TestLocalCluster(t *testing.T) {
	rd := readREADME(t)
	zk := zktest.Start(t, 1).ConnectString()
	sims := map[string]*sim{}
	for id := 1; id <= 3; id++ {
		s := startSim(t, zk, id)
		sims[s.url] = s
	}
	env := []string{"LIVY_TARGET=" + zk}

	res := run(t, 30*time.Second, env, "livy-find", "active")
	if res.err != nil {
		t.Fatalf("livy-find active: %v\n%s", res.err, res.stderr)
	}
	active := sims[strings.TrimSpace(res.stdout)]
	if active == nil {
		t.Fatalf("livy-find active printed %q, not a livy-sim", res.stdout)
	}

	keys := jsonKeys(t, rd)
	for _, sub := range [][]string{{"active"}, {"session", "1"}, {"batch", "1"}, {"servers"}, {"thrift"}, {"jdbc-url"}, {"probe"}} {
		checkJSON(t, keys, env, sub...)
	}

	if res := run(t, time.Minute, env, "livyclient"); res.err != nil || !strings.HasPrefix(res.stdout, "batch 0 success\n") {
		t.Errorf("livyclient: %v\n%s%s", res.err, res.stdout, res.stderr)
	}
	if res := run(t, time.Minute, env, "thrift"); res.err != nil || res.stdout != "SELECT 1 -> 1\n" {
		t.Errorf("thrift: %v\n%s%s", res.err, res.stdout, res.stderr)
	}

	lines := startFind(t, env)
	if got, want := next(t, lines), "active: "+active.url; got != want {
		t.Fatalf("find printed %q, want %q", got, want)
	}
	next(t, lines) // session 10000001: ...
	active.Signal(syscall.SIGTERM, 5*time.Second)
	got := next(t, lines)
	if s := sims[strings.TrimPrefix(got, "active: ")]; s == nil || s == active {
		t.Fatalf("after SIGTERM of the active, find printed %q", got)
	}
	if res := run(t, time.Minute, env, "thrift"); res.err != nil || res.stdout != "SELECT 1 -> 1\n" {
		t.Errorf("thrift after the failover: %v\n%s%s", res.err, res.stdout, res.stderr)
	}
}

// The README's "Deployments" targets parse.
func TestREADMETargets(t *testing.T) {
	rd := readREADME(t)
	var n int
	in := false
	for i, l := range rd.lines {
		if strings.HasPrefix(l, "## ") {
			in = l == "## Deployments"
		}
		if !in || !strings.HasPrefix(l, "|") {
			continue
		}
		for _, m := range inlineCode.FindAllStringSubmatch(l, -1) {
			s := m[1]
			if !strings.Contains(s, "://") && !regexp.MustCompile(`^[a-z0-9.]+:\d+(,|/|$)`).MatchString(s) {
				continue
			}
			n++
			if _, err := discovery.ParseTarget(s); err != nil {
				t.Errorf("README.md:%d: target %q: %v", i+1, s, err)
			}
		}
	}
	if n < 10 {
		t.Errorf("found only %d targets in the Deployments table", n)
	}
}
