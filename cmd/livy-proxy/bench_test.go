package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livyha/livyha/livytest"
)

// BenchmarkProxyOverhead compares GET /version through livy-proxy with the
// same request sent directly to the known active (a livytest server), over
// keep-alive connections; it reports both medians and their ratio.
func BenchmarkProxyOverhead(b *testing.B) {
	srv := livytest.NewServer(b, livytest.Config{})
	p := startProxy(b, "--endpoints", srv.URL(), "--log-level", "error")
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	get := func(url string) {
		resp, err := hc.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		var v map[string]any
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode, err)
		}
	}
	direct, proxied := srv.URL()+"/version", p.url+"/version"
	for i := 0; i < 50; i++ {
		get(direct)
		get(proxied)
	}
	var td, tp []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		get(direct)
		t1 := time.Now()
		get(proxied)
		t2 := time.Now()
		td, tp = append(td, t1.Sub(t0)), append(tp, t2.Sub(t1))
	}
	b.StopTimer()
	md, mp := median(td), median(tp)
	b.ReportMetric(float64(md.Nanoseconds()), "direct-median-ns")
	b.ReportMetric(float64(mp.Nanoseconds()), "proxy-median-ns")
	b.ReportMetric(float64(mp)/float64(md), "ratio")
	p.stop()
}

// BenchmarkProxyMemory holds 100 requests in flight through the proxy at
// once (a Livy stand-in that answers only when all 100 have arrived) and
// reports the heap and goroutines the proxy needs for them.
func BenchmarkProxyMemory(b *testing.B) {
	const clients = 100
	var (
		mu      sync.Mutex
		arrived int
		full    = make(chan struct{})
		release = make(chan struct{})
	)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			mu.Lock()
			arrived++
			if arrived == clients {
				close(full)
			}
			mu.Unlock()
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"0.9.0-incubating"}`))
	}))
	defer slow.Close()
	p := startProxy(b, "--endpoints", slow.URL, "--log-level", "error")
	defer p.stop()
	var heapMiB, goroutines float64
	for i := 0; i < b.N; i++ {
		mu.Lock()
		arrived, full, release = 0, make(chan struct{}), make(chan struct{})
		mu.Unlock()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hc := &http.Client{Transport: &http.Transport{}} // one connection per client
				resp, err := hc.Get(p.url + "/slow")
				if err == nil {
					resp.Body.Close()
				}
				hc.CloseIdleConnections()
			}()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		select {
		case <-full:
		case <-ctx.Done():
			b.Fatal("the requests did not all arrive")
		}
		cancel()
		var during runtime.MemStats
		runtime.ReadMemStats(&during)
		// The clients' and the stand-in's goroutines are in this process
		// too: 2 per client (its request, its connection) and 1 per
		// connection of the stand-in; the rest are the proxy's.
		goroutines = float64(runtime.NumGoroutine() - g0 - 3*clients)
		heapMiB = float64(int64(during.HeapInuse)-int64(before.HeapInuse)) / (1 << 20)
		close(release)
		wg.Wait()
	}
	b.ReportMetric(heapMiB, "heap-MiB-100-in-flight")
	b.ReportMetric(goroutines/clients, "proxy-goroutines-per-request")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
