package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/livyha/livyha/discovery
cpu: AMD EPYC
BenchmarkActive-2                   	41326470	        36.81 ns/op	       0 B/op	       0 allocs/op
BenchmarkActivePerSource/pr212-2    	37995686	        30.76 ns/op	       0 B/op	       0 allocs/op
BenchmarkColdStart-2           	       3	  15304551 ns/op	         3.437 bare-ms	 4.1 bare-defaults-ms	         2.789 ratio	 2.3 ratio-vs-defaults	         9.584 resolver-ms	 6323914 B/op	     437 allocs/op
BenchmarkRESTOverhead-2   	    3000	    292164 ns/op	         1.095 ratio
BenchmarkRESTOverhead-2   	    3000	    234872 ns/op	         1.080 ratio
BenchmarkRESTOverhead-2   	    3000	    367599 ns/op	         1.213 ratio
--- FAIL: BenchmarkX-2
PASS
`
	res := results{}
	var e env
	parse(strings.NewReader(out), res, &e)
	if e.cpu != "AMD EPYC" || e.goos != "linux" || e.goarch != "amd64" {
		t.Fatalf("env %+v", e)
	}
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"BenchmarkActive", "ns/op", 36.81},
		{"BenchmarkActive", "allocs/op", 0},
		{"BenchmarkActivePerSource/pr212", "ns/op", 30.76},
		{"BenchmarkColdStart", "ratio", 2.789},
		{"BenchmarkColdStart", "resolver-ms", 9.584},
		{"BenchmarkRESTOverhead", "ratio", 1.095}, // the median of 3
	} {
		if got, ok := res.get(c.name, c.unit); !ok || got != c.want {
			t.Errorf("%s %s = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	rows := table(res)
	if !strings.Contains(rows[0].result, "36.8 ns/op") || rows[0].met != "yes" {
		t.Errorf("first row %+v", rows[0])
	}
	for _, r := range rows {
		if strings.HasPrefix(r.what, "Memory") && r.result != missing {
			t.Errorf("memory row without results: %+v", r)
		}
	}
}
