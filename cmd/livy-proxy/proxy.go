package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/livyclient"
)

// Paths the proxy answers itself; everything else goes to Livy.
const (
	healthPath  = "/livy-proxy/health"
	metricsPath = "/metrics"
)

// proxy is the HTTP handler: Livy's API over the HA transport.
type proxy struct {
	client  *livyclient.Client
	view    func() *discovery.Snapshot // the resolver's current snapshot
	rp      *httputil.ReverseProxy
	m       *metrics
	maxBody int64
	// ownCreds: the proxy authenticates with its own credentials, so the
	// caller's Authorization and Cookie headers are dropped.
	ownCreds bool
	log      *slog.Logger
}

func newProxy(c *livyclient.Client, view func() *discovery.Snapshot, m *metrics, maxBody int64, ownCreds bool, log *slog.Logger) *proxy {
	p := &proxy{client: c, view: view, m: m, maxBody: maxBody, ownCreds: ownCreds, log: log}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      c.Transport(),
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		// Answers of unknown length (chunked) are flushed at every write
		// by ReverseProxy itself; sized ones go out in one piece.
		FlushInterval: 0,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return p
}

// ServeHTTP implements http.Handler.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case healthPath:
		p.health(w, r)
		return
	case metricsPath:
		p.m.handler.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	p.m.inFlight.Inc()
	defer p.m.inFlight.Dec()
	defer func() { p.m.duration.Observe(time.Since(start).Seconds()) }()

	// Livy's requests are small JSON documents; the body is kept (up to
	// maxBody) so that the transport can send it again after a redirect or
	// a failover.
	body, err := readBounded(r.Body, p.maxBody)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			p.m.outcome("too_large")
			livyError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("livy-proxy: request body over %d bytes (the proxy keeps bodies to re-send them on a failover; see --max-body)", p.maxBody))
			return
		}
		p.m.outcome("canceled")
		livyError(w, http.StatusBadRequest, "livy-proxy: reading the request body: "+err.Error())
		return
	}
	if coll := createColl(r); coll != "" && isJSONObject(body) {
		p.create(w, r, coll, body)
		return
	}
	if id, ok := statementPost(r); ok && isJSONObject(body) {
		p.statement(w, r, id, body)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if len(body) == 0 {
		r.Body, r.GetBody = http.NoBody, nil
	}
	p.rp.ServeHTTP(w, r)
}

// rewrite sends the request to the cluster: the HA transport picks the
// server, whatever host the URL names.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	in := pr.In
	pr.Out.URL = &url.URL{Scheme: "http", Host: "livy", Path: in.URL.Path, RawPath: in.URL.RawPath, RawQuery: in.URL.RawQuery}
	pr.Out.Host = ""
	p.scrub(pr.Out.Header)
}

// scrub removes what must not reach Livy: the caller's credentials when
// the proxy uses its own.
func (p *proxy) scrub(h http.Header) {
	if p.ownCreds {
		h.Del("Authorization")
		h.Del("Cookie")
	}
}

// modifyResponse points Locations that name a cluster member back at the
// proxy and counts the answer.
func (p *proxy) modifyResponse(resp *http.Response) error {
	if loc := resp.Header.Get("Location"); loc != "" {
		resp.Header.Set("Location", p.selfURL(resp.Request, loc))
	}
	if resp.StatusCode >= 500 {
		p.m.outcome("server_error")
	} else {
		p.m.outcome("answered")
	}
	return nil
}

// selfURL rewrites an absolute URL on a cluster member (Livy's redirect
// of GET / to its UI, …) to a path on the proxy; relative ones and other
// hosts are left alone.
func (p *proxy) selfURL(out *http.Request, loc string) string {
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return loc
	}
	snap := p.view()
	member := snap != nil && snap.IsMember(u.Host)
	if !member && out != nil && out.URL != nil && out.URL.Host == u.Host {
		member = true // the server that answered
	}
	if !member {
		return loc
	}
	rel := &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery, Fragment: u.Fragment}
	if rel.Path == "" {
		rel.Path = "/"
	}
	return rel.String()
}

// errorHandler answers for a request that got no answer from Livy.
func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code, outcome, msg := classify(r.Context(), err)
	p.m.outcome(outcome)
	if outcome == "canceled" {
		return // the caller went away
	}
	p.log.Warn("livy-proxy: request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	livyError(w, code, msg)
}

// classify maps a transport error to the proxy's answer.
func classify(ctx context.Context, err error) (code int, outcome, msg string) {
	msg = "livy-proxy: " + err.Error()
	switch {
	case ctx.Err() != nil:
		return 499, "canceled", msg
	case errors.Is(err, livyclient.ErrAmbiguous):
		return http.StatusBadGateway, "ambiguous", msg + " (the request may have taken effect: check before repeating it)"
	case errors.Is(err, livyclient.ErrUntrustedRedirect), errors.Is(err, livyclient.ErrTooManyRedirects):
		return http.StatusBadGateway, "refused_redirect", msg
	case errors.Is(err, livyclient.ErrKerberos):
		return http.StatusBadGateway, "auth", msg
	case errors.Is(err, livyclient.ErrUntrustedCertificate):
		return http.StatusBadGateway, "tls", msg
	case errors.Is(err, discovery.ErrNoLeader), errors.Is(err, discovery.ErrNoServers),
		errors.Is(err, discovery.ErrNoOwner), errors.Is(err, discovery.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "gave up after"):
		return http.StatusServiceUnavailable, "unavailable", msg
	}
	return http.StatusBadGateway, "failed", msg
}

// create is POST /batches or /sessions with a JSON object: the SDK's
// duplicate-safe create (a generated unique name when the request has
// none; after an ambiguous failure the job is looked up by that name
// before anything is created again).
func (p *proxy) create(w http.ResponseWriter, r *http.Request, coll string, body []byte) {
	ctx := p.callerContext(r)
	var (
		view json.RawMessage
		err  error
	)
	if coll == "batches" {
		view, err = p.client.Batches.CreateJSON(ctx, body)
	} else {
		view, err = p.client.Sessions.CreateJSON(ctx, body)
	}
	p.created(w, r, "/"+coll+"/", view, err)
}

// statement is POST /sessions/{id}/statements with a JSON object: the
// SDK's Run, which waits while the session is starting or recovering
// after a failover (Livy answers 500 "Session is in state recovering"
// then, and runs nothing) instead of failing the caller.
func (p *proxy) statement(w http.ResponseWriter, r *http.Request, id int, body []byte) {
	view, err := p.client.Statements.RunJSON(p.callerContext(r), id, body)
	p.created(w, r, "/sessions/"+strconv.Itoa(id)+"/statements/", view, err)
}

// callerContext carries the caller's headers (less hop-by-hop ones and,
// with the proxy's own credentials, theirs) and query (doAs) onto every
// request livyclient sends for this call.
func (p *proxy) callerContext(r *http.Request) context.Context {
	return livyclient.WithRequestEditor(r.Context(), func(out *http.Request) {
		for k, vs := range r.Header {
			if forwardable(k) {
				out.Header[k] = vs
			}
		}
		p.scrub(out.Header)
		if r.URL.RawQuery != "" { // doAs and friends
			out.URL.RawQuery = r.URL.RawQuery
		}
	})
}

// created answers a create made through livyclient: 201 with Livy's view
// and Location prefix+id, or the error.
func (p *proxy) created(w http.ResponseWriter, r *http.Request, prefix string, view json.RawMessage, err error) {
	coll := strings.Trim(prefix, "/")
	var le *livyclient.Error
	switch {
	case err == nil:
		p.m.outcome("answered")
		var id struct {
			ID *int `json:"id"`
		}
		if json.Unmarshal(view, &id) == nil && id.ID != nil {
			w.Header().Set("Location", prefix+strconv.Itoa(*id.ID))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(view)
	case errors.As(err, &le):
		// Livy answered with an error: pass its status and message on.
		if le.StatusCode >= 500 {
			p.m.outcome("server_error")
		} else {
			p.m.outcome("answered")
		}
		livyError(w, le.StatusCode, le.Message)
	default:
		code, outcome, msg := classify(r.Context(), err)
		p.m.outcome(outcome)
		if outcome == "canceled" {
			return
		}
		var ce *livyclient.CreateError
		if errors.As(err, &ce) && ce.Name != "" && outcome == "ambiguous" {
			msg += fmt.Sprintf(" — look it up with GET /%s/%s", coll, url.PathEscape(ce.Name))
		}
		p.log.Warn("livy-proxy: create failed", "path", r.URL.Path, "status", code, "err", err)
		livyError(w, code, msg)
	}
}

// health is GET /livy-proxy/health: 200 with the active server while one
// is known, else 503.
func (p *proxy) health(w http.ResponseWriter, _ *http.Request) {
	type answer struct {
		Status  string `json:"status"`
		Active  string `json:"active,omitempty"`
		Mode    string `json:"mode,omitempty"`
		Servers int    `json:"servers"`
		Version uint64 `json:"snapshot_version"`
		Error   string `json:"error,omitempty"`
	}
	snap := p.view()
	a := answer{Status: "ok"}
	code := http.StatusOK
	if snap == nil {
		a.Status, a.Error, code = "starting", "no cluster view yet", http.StatusServiceUnavailable
	} else {
		a.Mode, a.Servers, a.Version = snap.Mode.String(), len(snap.Servers), snap.Version
		if srv, err := snap.Active(); err != nil {
			a.Status, a.Error, code = "no_active", err.Error(), http.StatusServiceUnavailable
		} else {
			a.Active = srv.URL
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}

// statementPost returns the session id of POST /sessions/{id}/statements.
func statementPost(r *http.Request) (int, bool) {
	if r.Method != http.MethodPost {
		return 0, false
	}
	rest, ok := strings.CutPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/sessions/")
	if !ok {
		return 0, false
	}
	id, ok := strings.CutSuffix(rest, "/statements")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(id)
	if err != nil || n < 0 || id[0] == '+' {
		return 0, false
	}
	return n, true
}

// createColl returns "batches" or "sessions" for a create request.
func createColl(r *http.Request) string {
	if r.Method != http.MethodPost {
		return ""
	}
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/batches":
		return "batches"
	case "/sessions":
		return "sessions"
	}
	return ""
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// forwardable reports whether a caller's header goes on to Livy with a
// create (the client sets Content-Type, Accept and the length itself;
// Accept-Encoding is the transport's, which decompresses what it asked
// for; hop-by-hop headers end here).
func forwardable(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Content-Type", "Content-Length", "Accept", "Accept-Encoding", "Host",
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect":
		return false
	}
	return true
}

var errTooLarge = errors.New("request body too large")

// readBounded reads r up to limit bytes; more is errTooLarge.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	if r == nil || r == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// livyError writes an error the way Livy does: {"msg": "..."}.
func livyError(w http.ResponseWriter, code int, msg string) {
	if code == 499 {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"msg": msg})
}
