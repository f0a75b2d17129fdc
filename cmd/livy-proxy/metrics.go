package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/livyclient"
)

// outcomes are the values of livy_proxy_requests_total's outcome label.
var outcomes = []string{
	"answered",         // Livy answered (any status below 500)
	"server_error",     // Livy answered 5xx
	"unavailable",      // no server could be reached within the wait (503)
	"ambiguous",        // sent, no answer: outcome unknown (502)
	"refused_redirect", // a redirect outside the cluster, or too many (502)
	"auth",             // the proxy's own credentials failed (502)
	"tls",              // a server's certificate is not trusted (502)
	"failed",           // any other failure (502)
	"too_large",        // the body is over --max-body (413)
	"canceled",         // the caller went away
}

// metrics are the proxy's Prometheus metrics, on their own registry.
type metrics struct {
	handler   http.Handler
	requests  *prometheus.CounterVec
	duration  prometheus.Histogram
	inFlight  prometheus.Gauge
	redirects *prometheus.CounterVec
	retries   prometheus.Counter
	failovers prometheus.Counter
	active    *prometheus.GaugeVec
	outageSum prometheus.Counter
	outageNow prometheus.Gauge

	mu          sync.Mutex
	outageStart time.Time // zero while requests succeed
	activeURL   string
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livy_proxy_requests_total", Help: "Requests proxied to Livy, by outcome.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livy_proxy_request_duration_seconds", Help: "Time to answer a proxied request, failovers included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livy_proxy_in_flight_requests", Help: "Requests being proxied now.",
		}),
		redirects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livy_proxy_redirects_total", Help: "307/308 answers of Livy servers, followed (to a member) or refused.",
		}, []string{"result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livy_proxy_retries_total", Help: "Failed attempts that were tried again (refused connections, 503s, failovers).",
		}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livy_proxy_failovers_total", Help: "Changes of the active server from one server to another.",
		}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livy_proxy_active_server", Help: "1 for the current active server (none while there is no active).",
		}, []string{"server"}),
		outageSum: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livy_proxy_outage_seconds_total", Help: "Time from a first retried failure to the next answer from Livy, summed.",
		}),
		outageNow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livy_proxy_last_outage_seconds", Help: "Length of the last outage (see livy_proxy_outage_seconds_total).",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.redirects, m.retries, m.failovers, m.active, m.outageSum, m.outageNow,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range outcomes {
		m.requests.WithLabelValues(o)
	}
	m.redirects.WithLabelValues("followed")
	m.redirects.WithLabelValues("refused")
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

// hooks are the HA transport's hooks feeding the metrics.
func (m *metrics) hooks() livyclient.Hooks {
	return livyclient.Hooks{
		Redirect: func(_, _ string, followed bool) {
			if followed {
				m.redirects.WithLabelValues("followed").Inc()
			} else {
				m.redirects.WithLabelValues("refused").Inc()
			}
		},
		Retry: func(string, string, int, error) {
			m.retries.Inc()
			m.mu.Lock()
			if m.outageStart.IsZero() {
				m.outageStart = time.Now()
			}
			m.mu.Unlock()
		},
	}
}

// outcome counts a finished request; an answer from Livy ends an outage.
func (m *metrics) outcome(o string) {
	m.requests.WithLabelValues(o).Inc()
	if o != "answered" && o != "server_error" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.outageStart.IsZero() {
		d := time.Since(m.outageStart).Seconds()
		m.outageSum.Add(d)
		m.outageNow.Set(d)
		m.outageStart = time.Time{}
	}
}

// watch follows the resolver's snapshots for the active-server metrics
// until ctx ends.
func (m *metrics) watch(ctx context.Context, r *discovery.Resolver) {
	for snap := range r.Subscribe(ctx) {
		cur := ""
		if srv, err := snap.Active(); err == nil {
			cur = srv.URL
		}
		m.setActive(cur)
	}
}

func (m *metrics) setActive(cur string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur == m.activeURL {
		return
	}
	if m.activeURL != "" {
		m.active.DeleteLabelValues(m.activeURL)
		if cur != "" {
			m.failovers.Inc()
		}
	}
	if cur != "" {
		m.active.WithLabelValues(cur).Set(1)
	}
	m.activeURL = cur
}
