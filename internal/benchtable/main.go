// Command benchtable runs the repository's benchmarks (make bench) and
// prints their results as one Markdown table, preceded by a line naming
// the machine and one naming the command; BENCHMARKS.md keeps the latest.
//
// It runs `go test -run '^$' -bench … -benchmem` once per package and
// setting (see runs), reads the benchmark lines of the output — the custom
// metrics the benchmarks report with b.ReportMetric are in them — and
// takes, for a benchmark run with -count > 1, the median of each metric.
// The go test commands and their times go to stderr; the table to stdout.
// A failing go test ends it with status 1; a target missed does not.
//
//	go run ./internal/benchtable [-go go]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A run is one go test invocation.
type run struct {
	pkg   string
	bench string // the -bench pattern
	args  []string
}

var runs = []run{
	{"./discovery/", "^Benchmark(Active|Owner|OwnerSessionHA|OwnerSessionHAParallel|ActivePerSource|StaticActive)$", []string{"-count", "3"}},
	{"./discovery/", "^BenchmarkColdStart$", []string{"-benchtime", "300x"}},
	{"./discovery/", "^BenchmarkLeaderChange200$", []string{"-benchtime", "7x"}},
	{"./discovery/", "^BenchmarkMemoryPerResolver$", []string{"-benchtime", "3x"}},
	{"./livyclient/", "^BenchmarkRESTOverhead$", []string{"-benchtime", "3000x", "-count", "3"}},
	{"./thrift/", "^BenchmarkConnect$", []string{"-benchtime", "300x", "-count", "5"}},
	{"./cmd/livy-proxy/", "^BenchmarkProxyOverhead$", []string{"-benchtime", "3000x", "-count", "3"}},
	{"./cmd/livy-proxy/", "^BenchmarkProxyMemory$", []string{"-benchtime", "3x"}},
}

func (r run) argv() []string {
	return append([]string{"test", "-run", "^$", "-bench", r.bench, "-benchmem"}, append(r.args, r.pkg)...)
}

// shellQuote renders argv for a reader to paste into a shell.
func shellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if strings.ContainsAny(a, "^$|()*?[] '\"\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// results maps a benchmark's name (without the -GOMAXPROCS suffix) to the
// metrics of each of its lines (unit → value).
type results map[string][]map[string]float64

// env is what go test prints before the benchmark lines.
type env struct{ goos, goarch, cpu string }

// parse reads go test -bench output.
func parse(r io.Reader, res results, e *env) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, kv := range []struct {
			prefix string
			dst    *string
		}{{"goos: ", &e.goos}, {"goarch: ", &e.goarch}, {"cpu: ", &e.cpu}} {
			if v, ok := strings.CutPrefix(line, kv.prefix); ok {
				*kv.dst = strings.TrimSpace(v)
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				m = nil
				break
			}
			m[f[i+1]] = v
		}
		if m != nil {
			res[name] = append(res[name], m)
		}
	}
}

// get returns the median of a benchmark's metric over its lines.
func (res results) get(name, unit string) (float64, bool) {
	var vs []float64
	for _, m := range res[name] {
		if v, ok := m[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	return vs[len(vs)/2], true
}

// max returns the largest value of a benchmark's metric over its lines.
func (res results) max(name, unit string) (float64, bool) {
	var vs []float64
	for _, m := range res[name] {
		if v, ok := m[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	return slices.Max(vs), true
}

type row struct{ what, result, target, met string }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

const missing = "not run (see stderr)"

// table builds the rows from the results.
func table(res results) []row {
	var rows []row
	warm := []struct{ name, what string }{
		{"BenchmarkActive", "Warm `Active()`, canonical layout (active-passive)"},
		{"BenchmarkOwner", "Warm `Owner()`, canonical layout (multi-active)"},
		{"BenchmarkOwnerSessionHA", "Warm `Owner()`, SessionHA (cached owner record)"},
		{"BenchmarkOwnerSessionHAParallel", "Warm `Owner()`, SessionHA, all cores"},
		{"BenchmarkActivePerSource/pr212", "Warm `Active()`, PR #212 layout"},
		{"BenchmarkActivePerSource/pr189", "Warm `Active()`, PR #189 layout"},
		{"BenchmarkActivePerSource/pr276", "Warm `Active()`, PR #276 layout"},
		{"BenchmarkActivePerSource/hive", "Warm `Active()`, Hive layout"},
		{"BenchmarkStaticActive", "Warm `Active()`, static server list"},
	}
	for _, w := range warm {
		ns, ok1 := res.get(w.name, "ns/op")
		allocs, ok2 := res.max(w.name, "allocs/op")
		r := row{what: w.what, target: "≤ 100 ns, 0 allocs", result: missing, met: "—"}
		if ok1 && ok2 {
			r.result = fmt.Sprintf("%.1f ns/op, %g allocs/op", ns, allocs)
			r.met = yesNo(ns <= 100 && allocs == 0)
		}
		rows = append(rows, r)
	}

	r := row{what: "Cold start to the first `Active()` vs a bare go-zookeeper session + one Children list, same buffer sizes (medians)", target: "≤ 1.5×", result: missing, met: "—"}
	if rm, ok := res.get("BenchmarkColdStart", "resolver-ms"); ok {
		bm, _ := res.get("BenchmarkColdStart", "bare-ms")
		ratio, _ := res.get("BenchmarkColdStart", "ratio")
		dm, _ := res.get("BenchmarkColdStart", "bare-defaults-ms")
		dr, _ := res.get("BenchmarkColdStart", "ratio-vs-defaults")
		r.result = fmt.Sprintf("%.2f ms vs %.2f ms: %.2f× (vs %.2f ms with go-zookeeper's default buffers: %.2f×)", rm, bm, ratio, dm, dr)
		r.met = yesNo(ratio <= 1.5)
	}
	rows = append(rows, r)

	r = row{what: "One leader change seen by 200 resolvers (3 registrars; medians)", target: "reported", result: missing, met: "—"}
	if reqs, ok := res.get("BenchmarkLeaderChange200", "zk-requests"); ok {
		per, _ := res.get("BenchmarkLeaderChange200", "zk-requests/resolver")
		conv, _ := res.get("BenchmarkLeaderChange200", "converge-ms")
		p50, _ := res.get("BenchmarkLeaderChange200", "p50-resolver-ms")
		r.result = fmt.Sprintf("%.0f ZooKeeper requests (%.1f per resolver); all 200 on the new leader after %.0f ms (median resolver %.0f ms)", reqs, per, conv, p50)
	}
	rows = append(rows, r)

	r = row{what: "REST overhead: `GET /version` through livyclient vs plain net/http (medians)", target: "≤ 1.10×", result: missing, met: "—"}
	if ratio, ok := res.get("BenchmarkRESTOverhead", "ratio"); ok {
		lc, _ := res.get("BenchmarkRESTOverhead", "livyclient-median-ns")
		pl, _ := res.get("BenchmarkRESTOverhead", "plain-median-ns")
		r.result = fmt.Sprintf("%.3f× (%.0f µs vs %.0f µs)", ratio, lc/1000, pl/1000)
		r.met = yesNo(ratio <= 1.10)
	}
	rows = append(rows, r)

	r = row{what: "Thrift connect: `thrift.ConnectHive` vs gohive direct and gohive `ConnectZookeeper` (medians)", target: "≤ 1.2× direct; ≤ 1× ConnectZookeeper", result: missing, met: "—"}
	if d, ok := res.get("BenchmarkConnect", "livyha/direct"); ok {
		zl, _ := res.get("BenchmarkConnect", "livyha/zk-leader")
		za, _ := res.get("BenchmarkConnect", "livyha/zk-all")
		us := func(u string) float64 { v, _ := res.get("BenchmarkConnect", u); return v }
		r.result = fmt.Sprintf("%.2f× direct (%.0f µs vs %.0f µs); %.2f× ConnectZookeeper leader record (%.0f µs), %.2f× all-servers namespace (%.0f µs)",
			d, us("livyha-µs"), us("direct-µs"), zl, us("gohive-zk-leader-µs"), za, us("gohive-zk-all-µs"))
		r.met = yesNo(d <= 1.2 && zl <= 1 && za <= 1)
	}
	rows = append(rows, r)

	r = row{what: "livy-proxy overhead: `GET /version` through the proxy vs directly to the known active (medians)", target: "≤ 1.10×", result: missing, met: "—"}
	if ratio, ok := res.get("BenchmarkProxyOverhead", "ratio"); ok {
		px, _ := res.get("BenchmarkProxyOverhead", "proxy-median-ns")
		d, _ := res.get("BenchmarkProxyOverhead", "direct-median-ns")
		r.result = fmt.Sprintf("%.2f× (%.0f µs vs %.0f µs: +%.0f µs per request)", ratio, px/1000, d/1000, (px-d)/1000)
		r.met = yesNo(ratio <= 1.10)
	}
	rows = append(rows, r)

	r = row{what: "livy-proxy memory with 100 requests in flight (heap in use added; goroutines per request)", target: "reported", result: missing, met: "—"}
	if mib, ok := res.get("BenchmarkProxyMemory", "heap-MiB-100-in-flight"); ok {
		g, _ := res.get("BenchmarkProxyMemory", "proxy-goroutines-per-request")
		r.result = fmt.Sprintf("%.1f MiB, %.1f goroutines per request", mib, g)
		r.met = "—"
	}
	rows = append(rows, r)

	r = row{what: "Memory per idle resolver (heap after GC, 50 resolvers)", target: "≤ 1 MiB", result: missing, met: "—"}
	if mib, ok := res.get("BenchmarkMemoryPerResolver", "MiB/resolver"); ok {
		bare, _ := res.get("BenchmarkMemoryPerResolver", "MiB/bare-zk-conn")
		g, _ := res.get("BenchmarkMemoryPerResolver", "goroutines/resolver")
		r.result = fmt.Sprintf("%.2f MiB, %.0f goroutines (a bare go-zookeeper connection: %.2f MiB)", mib, g, bare)
		r.met = yesNo(mib <= 1)
	}
	rows = append(rows, r)
	return rows
}

func render(w io.Writer, e env, goVersion, goCmd string, rows []row) {
	cpu := e.cpu
	if cpu == "" {
		cpu = "unknown CPU"
	}
	fmt.Fprintf(w, "Machine: %s, %d CPUs (nproc), %s/%s, %s; %s\n", cpu, runtime.NumCPU(), e.goos, e.goarch, goVersion, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(w, "Command: `make bench` (`go run ./internal/benchtable`)\n\n")
	fmt.Fprintln(w, "| Measure | Result | Target | Met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.what, r.result, r.target, r.met)
	}
	fmt.Fprintf(w, "\nIt ran:\n\n")
	for _, r := range runs {
		fmt.Fprintf(w, "    %s %s\n", goCmd, shellQuote(r.argv()))
	}
}

func main() {
	goCmd := flag.String("go", "go", "the go command")
	flag.Parse()

	gv, err := exec.Command(*goCmd, "env", "GOVERSION").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %s env GOVERSION: %v\n", *goCmd, err)
		os.Exit(1)
	}
	res := results{}
	var e env
	failed := false
	start := time.Now()
	for _, r := range runs {
		argv := r.argv()
		fmt.Fprintf(os.Stderr, "benchtable: %s %s\n", *goCmd, shellQuote(argv))
		t0 := time.Now()
		var out bytes.Buffer
		cmd := exec.Command(*goCmd, argv...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		fmt.Fprintf(os.Stderr, "benchtable:   %.1fs\n", time.Since(t0).Seconds())
		if err != nil {
			failed = true
			fmt.Fprintf(os.Stderr, "benchtable: %v; its output:\n%s\n", err, out.String())
		}
		if strings.Contains(out.String(), "--- SKIP") {
			fmt.Fprintf(os.Stderr, "benchtable: skipped:\n%s\n", out.String())
		}
		parse(&out, res, &e)
	}
	fmt.Fprintf(os.Stderr, "benchtable: all benchmarks in %.0fs\n", time.Since(start).Seconds())
	render(os.Stdout, e, strings.TrimSpace(string(gv)), *goCmd, table(res))
	if failed {
		os.Exit(1)
	}
}
