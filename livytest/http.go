package livytest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/livyha/livyha/discovery"
)

const (
	contentTypeJSON = "application/json;charset=utf-8"
	contentTypeText = "text/plain;charset=utf-8"
	maxBody         = 10 << 20
	// redirectWait bounds how long a passive server waits for its resolver
	// to learn a usable leader (or owner) before answering 503.
	redirectWait = 500 * time.Millisecond
)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	c := &call{s: s, w: sw, raw: w, r: r}
	defer func() {
		if c.aborted {
			return // logged by abortIf
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.record(Request{Method: r.Method, Path: r.RequestURI, Header: r.Header.Clone(), Status: status})
	}()
	c.serve()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// call is one request being served.
type call struct {
	s       *Server
	w       http.ResponseWriter
	raw     http.ResponseWriter // the server's writer, for Hijack
	r       *http.Request
	method  string  // after X-HTTP-Method-Override
	user    *string // the authenticated user (Livy's remoteUser), if any
	aborted bool
}

func (c *call) serve() {
	s := c.s
	// The livyha profile: the standby filter runs first; a passive server
	// redirects every method and path without looking at credentials
	// (kinder than PR #212, whose filter comes after them: below). A
	// leader that is still recovering holds the request like a passive
	// that knows no other leader: it serves it once recovered, or answers
	// 503 after redirectWait.
	if s.reg != nil && s.cfg.Mode == discovery.ActivePassive && !s.serving() {
		if !c.redirectToLeader() {
			return
		}
		// Became active (and recovered) while waiting: serve.
	}
	if s.cfg.SPNEGOKeytab != "" {
		if !c.negotiate() {
			return
		}
	} else if a := s.cfg.BasicAuth; a != nil {
		u, p, ok := c.r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(a.User)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(a.Password)) != 1 {
			c.w.Header().Set("WWW-Authenticate", `Basic realm="livy"`)
			c.w.Header().Set("Content-Length", "0")
			c.w.WriteHeader(http.StatusUnauthorized)
			return
		}
		c.user = &u
	}
	if s.cfg.CSRF {
		switch c.r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if _, ok := c.r.Header["X-Requested-By"]; !ok {
				c.text(http.StatusBadRequest, "Missing Required Header for CSRF protection.")
				return
			}
		}
	}
	// The pr212 profile: DomainRedirectionFilter, added after the
	// authentication and CSRF filters (pr212.go).
	if s.pr != nil && !s.pr.isActive() {
		s.pr.standby(c)
		return
	}
	c.route()
}

func (c *call) route() {
	c.method = c.r.Method
	if c.method == http.MethodPost { // Scalatra's MethodOverride
		if o := c.r.Header.Get("X-HTTP-Method-Override"); o != "" {
			c.method = strings.ToUpper(o)
		} else if o := c.r.URL.Query().Get("_method"); o != "" {
			c.method = strings.ToUpper(o)
		}
	}
	if c.method == http.MethodHead {
		c.method = http.MethodGet
	}
	segs, ok := splitPath(c.r.URL.EscapedPath())
	if !ok {
		c.notFound()
		return
	}
	switch {
	case len(segs) == 0:
		if c.allow(http.MethodGet) {
			// Livy's root servlet redirects to the UI, on the scheme it
			// was asked on.
			scheme := "http"
			if c.r.TLS != nil {
				scheme = "https"
			}
			c.w.Header().Set("Location", scheme+"://"+c.r.Host+"/ui/")
			c.w.WriteHeader(http.StatusFound)
		}
	case segs[0] == "version" && len(segs) == 1:
		if c.allow(http.MethodGet) {
			c.json(http.StatusOK, versionView{Version: c.s.prof.surf.version, User: "<unknown>", Revision: "<unknown>",
				Branch: "<unknown>", Date: "<unknown>", URL: "<unknown>"})
		}
	case segs[0] == "batches":
		c.sessions(typeBatch, segs[1:])
	case segs[0] == "sessions":
		c.sessions(typeInteractive, segs[1:])
	default:
		c.notFound()
	}
}

type versionView struct {
	Version  string `json:"version"`
	User     string `json:"user"`
	Revision string `json:"revision"`
	Branch   string `json:"branch"`
	Date     string `json:"date"`
	URL      string `json:"url"`
}

// splitPath splits an escaped path into unescaped segments, ignoring one
// leading and one trailing slash.
func splitPath(p string) ([]string, bool) {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil, true
	}
	segs := strings.Split(p, "/")
	for i, sg := range segs {
		u, err := url.PathUnescape(sg)
		if err != nil || u == "" {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

// allow reports whether the method is one of allowed; if not it answers
// 405 with an Allow header, as Scalatra does.
func (c *call) allow(allowed ...string) bool {
	for _, m := range allowed {
		if c.method == m {
			return true
		}
	}
	c.w.Header().Set("Allow", strings.Join(allowed, ", "))
	c.w.WriteHeader(http.StatusMethodNotAllowed)
	return false
}

var acceptVersion = regexp.MustCompile(`(?s)^application/vnd\.livy\.v([^+]*).*$`)

func (c *call) sessions(typ string, segs []string) {
	if m := acceptVersion.FindStringSubmatch(c.r.Header.Get("Accept")); m != nil && m[1] != "0.1" {
		c.json(http.StatusNotAcceptable, "No value found for '"+m[1]+"'")
		return
	}
	if len(segs) == 0 {
		if !c.allow(http.MethodGet, http.MethodPost) {
			return
		}
		if c.method == http.MethodGet {
			c.list(typ)
		} else if typ == typeBatch {
			c.createBatch()
		} else {
			c.createInteractive()
		}
		return
	}
	id, rest := segs[0], segs[1:]
	var (
		allowed []string
		handle  func()
	)
	switch {
	case len(rest) == 0:
		allowed = []string{http.MethodGet, http.MethodDelete}
		handle = func() {
			if c.method == http.MethodGet {
				c.get(typ, id)
			} else {
				c.delete(typ, id)
			}
		}
	case len(rest) == 1 && rest[0] == "state":
		allowed, handle = []string{http.MethodGet}, func() { c.state(typ, id) }
	case len(rest) == 1 && rest[0] == "log":
		allowed, handle = []string{http.MethodGet}, func() { c.logs(typ, id) }
	case typ == typeInteractive && len(rest) == 1 && rest[0] == "statements":
		allowed = []string{http.MethodGet, http.MethodPost}
		handle = func() {
			if c.method == http.MethodGet {
				c.listStatements(id)
			} else {
				c.createStatement(id)
			}
		}
	case typ == typeInteractive && len(rest) == 2 && rest[0] == "statements":
		allowed, handle = []string{http.MethodGet}, func() { c.getStatement(id, rest[1]) }
	case typ == typeInteractive && len(rest) == 3 && rest[0] == "statements" && rest[2] == "cancel":
		allowed, handle = []string{http.MethodPost}, func() { c.cancelStatement(id, rest[1]) }
	case typ == typeInteractive && len(rest) == 1 && rest[0] == "completion":
		// In every release (InteractiveSessionServlet.scala@0.7:138-143,
		// @0.8:158-163, @0.9:182-187).
		allowed, handle = []string{http.MethodPost}, func() { c.completion(id) }
	default:
		c.notFound()
		return
	}
	if !c.allow(allowed...) {
		return
	}
	if c.redirectToOwner(typ, id) {
		return
	}
	if aerr := c.deniedDoAs(); aerr != nil && !(len(rest) == 1 && rest[0] == "state") {
		// Every route but …/state checks the effective user once it has
		// found the session (doWithSession, clientSessionView): 404 first.
		if _, ferr := c.s.lookup(typ, id); ferr != nil {
			aerr = ferr
		}
		c.fail(aerr)
		return
	}
	handle()
}

// ---- HA redirects ----

// redirectToLeader answers 307 to the leader, or 503 when none other than
// this server is known within redirectWait. It reports false when it
// answered, true when this server became active and recovered meanwhile
// and should serve the request itself (a passive whose latch node just
// came first, or a new leader that finished recovery).
func (c *call) redirectToLeader() bool {
	s := c.s
	me := s.cfg.ID
	became := c.redirectOr(func(snap *discovery.Snapshot) (discovery.Server, bool) {
		// A leader that is still recovering waits for itself, whatever
		// a (possibly stale) snapshot says.
		l, ok := snap.Leader()
		return l, ok && l.ID != me && !s.IsActive()
	}, "This is a standby Livy Instance. The redirect url is: ", s.serving, s.leadershipChanged)
	return became
}

// redirectToOwner answers 307 (or 503) in multi-active mode when the
// session id belongs to another server, and reports whether it answered.
// Names are per server, as in Livy: a name is looked up only among this
// server's own sessions, never redirected. Session-HA mode asks the
// ownership record first (redirectToRecordedOwner).
func (c *call) redirectToOwner(typ, idOrName string) bool {
	s := c.s
	if !s.st.multi || !allDigits(idOrName) {
		return false
	}
	id, ok := javaParseInt(idOrName)
	if !ok {
		return false // the handler answers 400
	}
	if s.sessHA {
		return c.redirectToRecordedOwner(typ, idOrName, id)
	}
	owner := id / discovery.SessionIDBlock
	if owner == s.cfg.ID {
		return false
	}
	c.redirect(func(snap *discovery.Snapshot) (discovery.Server, bool) {
		return snap.ServerByID(owner)
	}, "This Livy server does not own session "+idOrName+". The redirect url is: ")
	return true
}

// redirect answers 307 to the server pick chooses, with the request's
// path and query on that server's scheme://host:port; 503 when no such
// server is known within redirectWait.
func (c *call) redirect(pick func(*discovery.Snapshot) (discovery.Server, bool), bodyPrefix string) {
	c.redirectOr(pick, bodyPrefix, nil, nil)
}

// redirectOr is redirect that also stops waiting, answering nothing and
// returning true, once done() holds; changed tells when to re-check it.
func (c *call) redirectOr(pick func(*discovery.Snapshot) (discovery.Server, bool), bodyPrefix string,
	done func() bool, changed func() <-chan struct{}) bool {
	srv, ok, became := c.s.awaitServer(c.r.Context(), pick, done, changed)
	if became {
		return true
	}
	if !ok {
		c.noActive()
		return false
	}
	c.redirectTo(srv, bodyPrefix)
	return false
}

// redirectTo answers 307 to the same path and query on srv, with the body
// bodyPrefix + the new URL (as PR #212's standby filter words it).
func (c *call) redirectTo(srv discovery.Server, bodyPrefix string) {
	u, err := url.Parse(srv.URL)
	if err != nil {
		c.noActive()
		return
	}
	uri := c.r.RequestURI
	if !strings.HasPrefix(uri, "/") {
		uri = c.r.URL.RequestURI()
	}
	loc := u.Scheme + "://" + u.Host + uri
	c.w.Header().Set("Location", loc)
	c.text(http.StatusTemporaryRedirect, bodyPrefix+loc)
}

// noActive is the 503 of a server that knows no server to send the
// request to.
func (c *call) noActive() {
	c.json(http.StatusServiceUnavailable, msgBody{Msg: "no active Livy server"})
}

// awaitServer waits up to redirectWait for pick to find a server in the
// resolver's snapshot (ok), or for done to hold (became).
func (s *Server) awaitServer(ctx context.Context, pick func(*discovery.Snapshot) (discovery.Server, bool),
	done func() bool, changed func() <-chan struct{}) (srv discovery.Server, ok, became bool) {
	if s.res == nil {
		return discovery.Server{}, false, false
	}
	timer := time.NewTimer(redirectWait)
	defer timer.Stop()
	for {
		var ch <-chan struct{}
		if changed != nil {
			ch = changed()
		}
		if done != nil && done() {
			return discovery.Server{}, false, true
		}
		snap := s.res.Snapshot()
		if snap.Ready() {
			if srv, ok := pick(snap); ok {
				return srv, true, false
			}
		}
		select {
		case <-snap.Changed():
		case <-ch:
		case <-timer.C:
			return discovery.Server{}, false, false
		case <-ctx.Done():
			return discovery.Server{}, false, false
		}
	}
}

// lockForWrite takes s.mu for a mutation and reports whether the caller
// holds it (and must call unlock); when it reports false it has answered.
//
// Fenced (the default, see Config.Unfenced), an active-passive server
// re-checks under s.mu that it is still the active one, and one that lost
// leadership since the request came in redirects instead of writing —
// without holding s.mu while it waits, so that recovery can proceed.
// Unfenced, a deposed server writes anyway, as Livy does. A fenced
// session-HA server that is closing answers 503: once it has deregistered,
// the leader may hand its sessions to a server that recovers them from the
// store, and a commit after that would be lost. Active-active mutations
// take no lock: they are version-checked writes to the shared store.
func (c *call) lockForWrite() (unlock func(), ok bool) {
	s := c.s
	if s.shared {
		return func() {}, true
	}
	fenced := !s.cfg.Unfenced && s.reg != nil
	for {
		s.mu.Lock()
		switch {
		case !fenced || s.cfg.Mode == discovery.MultiActive:
			return s.mu.Unlock, true
		case s.cfg.Mode == discovery.SessionHA:
			if !s.closed.Load() {
				return s.mu.Unlock, true
			}
			s.mu.Unlock()
			c.noActive()
			return nil, false
		case s.serving():
			return s.mu.Unlock, true
		}
		s.mu.Unlock()
		if !c.redirectToLeader() {
			return nil, false
		}
		// Active again meanwhile: check again under the lock.
	}
}

// abortBeforeCommit runs the AbortBeforeCommit seam; when it asks for it,
// the connection is closed without a response and nothing is written.
func (c *call) abortBeforeCommit() bool { return c.abortIf(c.s.cfg.AbortBeforeCommit) }

// abortAfterCommit runs the AbortAfterCommit seam; when it asks for it, the
// connection is closed without a response.
func (c *call) abortAfterCommit() bool { return c.abortIf(c.s.cfg.AbortAfterCommit) }

// abortIf closes the connection without a response when f asks for it.
func (c *call) abortIf(f func(*http.Request) bool) bool {
	if f == nil || !f(c.r) {
		return false
	}
	// Logged before the connection closes, so that it comes before any
	// request the client sends once it sees the connection closed.
	c.aborted = true
	c.s.record(Request{Method: c.r.Method, Path: c.r.RequestURI, Header: c.r.Header.Clone()})
	conn, _, err := http.NewResponseController(c.raw).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // already logged
	}
	_ = conn.Close()
	return true
}

// ---- responses ----

func (c *call) json(status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		_ = json.NewEncoder(&b).Encode("java.lang.RuntimeException: livytest: " + err.Error())
	}
	body := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	h := c.w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

func (c *call) text(status int, s string) {
	h := c.w.Header()
	h.Set("Content-Type", contentTypeText)
	h.Set("Content-Length", strconv.Itoa(len(s)))
	c.w.WriteHeader(status)
	_, _ = io.WriteString(c.w, s)
}

func (c *call) fail(e *apiError) { c.json(e.status, e.body) }

func (c *call) notFound() { c.text(http.StatusNotFound, "Not Found") }

func storeError(err error) *apiError {
	return errString(http.StatusInternalServerError, "java.lang.RuntimeException: livytest: state store: "+err.Error())
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// queryInt reads an optional integer query parameter with Java's
// Integer.parseInt rules.
func (c *call) queryInt(name string, def int) (int, *apiError) {
	vs, ok := c.r.URL.Query()[name]
	if !ok || len(vs) == 0 {
		return def, nil
	}
	v, ok := javaParseInt(vs[0])
	if !ok {
		return 0, numberFormat(vs[0])
	}
	return v, nil
}

func (c *call) body() ([]byte, *apiError) {
	b, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		return nil, errString(http.StatusBadRequest, "livytest: reading request body: "+err.Error())
	}
	if len(b) > maxBody {
		return nil, errString(http.StatusRequestEntityTooLarge, "livytest: request body too large")
	}
	return b, nil
}

// clamp returns the bounds of Scala's view(from, until) on n elements.
func clamp(n, from, until int) (int, int) {
	if from < 0 {
		from = 0
	}
	if until > n {
		until = n
	}
	if from > until {
		return 0, 0
	}
	return from, until
}
