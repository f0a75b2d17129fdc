package livyclient_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/livyclient"
)

// BenchmarkRESTOverhead measures GET /version through livyclient (resolver
// lookup, HA transport, typed decoding) against plain net/http to the known
// active server, interleaved in one run; it reports both medians and their
// ratio (docs/design.md target: ≤ 1.10).
func BenchmarkRESTOverhead(b *testing.B) {
	connect, root, servers := cluster(b, 2, discovery.ActivePassive, nil)
	c, _ := client(b, connect, root, discovery.ActivePassive)
	plain := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	activeURL := servers[0].URL() + "/version"
	ctx := context.Background()
	plainGet := func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, activeURL, nil)
		req.Header.Set("Accept", "application/json")
		resp, err := plain.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var v livyclient.VersionInfo
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode, err)
		}
	}
	haGet := func() {
		if _, err := c.Version(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ { // warm both connection pools
		plainGet()
		haGet()
	}
	var tp, th []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		plainGet()
		t1 := time.Now()
		haGet()
		t2 := time.Now()
		tp, th = append(tp, t1.Sub(t0)), append(th, t2.Sub(t1))
	}
	b.StopTimer()
	mp, mh := median(tp), median(th)
	b.ReportMetric(float64(mp.Nanoseconds()), "plain-median-ns")
	b.ReportMetric(float64(mh.Nanoseconds()), "livyclient-median-ns")
	b.ReportMetric(float64(mh)/float64(mp), "ratio")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
