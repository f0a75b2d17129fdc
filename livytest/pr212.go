package livytest

// ---- the pr212 profile: Livy as PR #212 (LIVY-11) builds it ----
//
// Source: apache/incubator-livy refs/pull/212/head (cbdaaafa), files
// server/src/main/scala/org/apache/livy/server/{LivyServer,
// CuratorElectorService,DomainRedirectionFilter}.scala; Curator 2.7.1
// (its pom), read at apache-curator-2.7.0/2.8.0.
//
//   - Startup (LivyServer.main @PR212:459-470, CuratorElectorService.start
//     :107-120): init() builds both session managers, which recover every
//     stored session (SessionManager.scala@PR212:86-94); start() recovers
//     them again and starts Jetty (LivyServer.scala@PR212:340-358) — all
//     before the Curator client and the latch start, so until then a
//     request gets 500 (Curator: "instance must be started before calling
//     this method"). Then the server joins LeaderLatch(client,
//     "/<livy.server.ha.key-prefix>/leader", <its id>) (@PR212:70-81),
//     here discovery.JoinPR212Latch.
//   - currentState starts Standby. isLeader → transitionToActive:
//     server.restart() = stop() (Jetty stops: connections refused, requests
//     in flight cut) + start() (recover every session again, Jetty starts),
//     and only then Active (@PR212:127-137; LivyServer.scala@PR212:409-424).
//     In between the server holds the latch but is not active, so its
//     filter redirects to itself. notLeader → Standby at once, nothing
//     else: no restart, no fence (@PR212:139-148).
//   - DomainRedirectionFilter (@PR212:52-80), added after the
//     authentication, CSRF and access filters (LivyServer.scala@PR212:
//     257-338): when not Active, every method and path gets 307 with
//     Location = getRequestURL() with only the host replaced by the
//     leader's configured hostname, re-encoded by Spring's
//     UriComponentsBuilder, then "?" + the raw query; body "This is a
//     standby Livy Instance. The redirect url is: <url>" written with
//     println (a trailing "\n"), and no Content-Type. The leader's host is
//     leaderHostnames(leaderIds indexOf getLeader().getId) with no guard
//     (@PR212:101-105): with no participant Curator returns a Participant
//     with id "" (Participant.java@2.7.0:40-43), indexOf gives -1 and the
//     filter throws — Jetty's error page, 500. Never 503.
//   - SIGTERM: the shutdown hook runs stop() (@PR212:350-354), which stops
//     Jetty and, in HA mode, not even the state store's ZooKeeper client
//     (:414-416); nothing closes the latch, so its node lives until the
//     ZooKeeper session expires (Curator's default session timeout is 60s,
//     CuratorFrameworkFactory.java@2.7.0:46, capped by the server's
//     maxSessionTimeout).
//
// Differences, all documented in docs/livy-wire.md §10: the server reads
// the leader from a discovery.Resolver's snapshot (watches) where Curator
// reads ZooKeeper on every request; its own latch (discovery.Registrar)
// keeps leadership across a reconnect within the session where Curator 2.7
// gives it up and re-joins at the end of the queue (LeaderLatch.java@2.7.0:
// 591-622); a recovery that fails on a ZooKeeper error is retried (Livy's
// restart would stop there); one that fails on duplicate names is not.

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
)

// Livy's state-store keys, as PR212LivyConf writes them.
const (
	keyRecoveryMode   = "livy.server.recovery.mode"
	keyStateStore     = "livy.server.recovery.state-store"
	keyZooKeeperURL   = "livy.server.zookeeper.url"
	keyZKStatePrefix  = "livy.server.recovery.zk-state-store.key-prefix"
	keyCSRF           = "livy.server.csrf-protection.enabled"
	pr212StandbyText  = "This is a standby Livy Instance. The redirect url is: "
	curatorNotStarted = "java.lang.IllegalStateException: instance must be started before calling this method"
	noParticipant     = "java.lang.ArrayIndexOutOfBoundsException: -1"
)

// PR212Cluster describes a PR #212 cluster for PR212LivyConf.
type PR212Cluster struct {
	// ZK is livy.server.ha.zookeeper-url (and livy.server.zookeeper.url,
	// the state store's).
	ZK string
	// IDs and Hosts are livy.server.ha.server-ids and
	// livy.server.ha.server-hostnames (same length, same order).
	IDs, Hosts []string
	// Port is livy.server.port, the same on every server.
	Port int
	// KeyPrefix is livy.server.ha.key-prefix ("": PR #212's livy_ha).
	KeyPrefix string
	// StatePrefix is livy.server.recovery.zk-state-store.key-prefix
	// ("": Livy's livy).
	StatePrefix string
}

// PR212LivyConf returns the livy.conf of a PR #212 cluster: HA on, the
// latch's ZooKeeper, ids, hostnames and key prefix, the port, and session
// recovery from the ZooKeeper state store (what PR #212 recovers from at
// each takeover). Marshal it with LivyConf.Marshal; layout.PR212ConfigFrom
// and the livy-conf: discovery source read it.
func PR212LivyConf(c PR212Cluster) layout.LivyConf {
	conf := layout.LivyConf{
		layout.PR212KeyMode:         layout.PR212ModeOn,
		layout.PR212KeyZooKeeperURL: c.ZK,
		layout.PR212KeyServerIDs:    strings.Join(c.IDs, ","),
		layout.PR212KeyHostnames:    strings.Join(c.Hosts, ","),
		layout.LivyKeyServerPort:    strconv.Itoa(c.Port),
		keyRecoveryMode:             "recovery",
		keyStateStore:               "zookeeper",
		keyZooKeeperURL:             c.ZK,
	}
	if c.KeyPrefix != "" {
		conf[layout.PR212KeyKeyPrefix] = c.KeyPrefix
	}
	if c.StatePrefix != "" {
		conf[keyZKStatePrefix] = c.StatePrefix
	}
	return conf
}

// pr212 is a pr212-profile server's HA state.
type pr212 struct {
	s     *Server
	conf  layout.PR212Config
	id    string // this server's participant id
	host  string // its configured hostname
	addr  string // host:port it listens on
	latch string // ZooKeeper connect string of the latch (with chroot)

	res *discovery.Resolver
	reg atomic.Pointer[discovery.Registrar] // nil until the latch is joined

	active atomic.Bool // currentState == Active
	want   atomic.Bool // the latest leadership notification
	stuck  atomic.Bool // a takeover failed for good: Jetty stays stopped
	wake   chan struct{}

	// The REST server ("Jetty"), replaced at every restart.
	httpMu  sync.Mutex
	hs      *http.Server
	hsDone  chan struct{}
	stopped bool // Close began: never listen again

	restarts atomic.Int64
}

func (p *pr212) isActive() bool { return p.active.Load() }

// startPR212 is Start for the pr212 profile.
func (s *Server) startPR212(ctx context.Context) (*Server, error) {
	cfg := &s.cfg
	if cfg.LivyConf == nil {
		return nil, errors.New("livytest: the pr212 profile needs Config.LivyConf (see PR212LivyConf)")
	}
	conf := cfg.LivyConf
	if _, ok := conf[layout.PR212KeyZooKeeperURL]; !ok && cfg.ZK != "" {
		conf = cloneConf(conf)
		conf[layout.PR212KeyZooKeeperURL] = cfg.ZK
	}
	pc, err := layout.PR212ConfigFrom(conf)
	if err != nil {
		return nil, fmt.Errorf("livytest: %w", err)
	}
	if pc.Scheme != "http" {
		return nil, errors.New("livytest: the pr212 profile serves http only (livy.keystore is set)")
	}
	zkConnect := cfg.ZK
	if zkConnect == "" {
		zkConnect = pc.ZooKeeper
	}
	cs, err := discovery.ParseConnectString(zkConnect)
	if err != nil {
		return nil, fmt.Errorf("livytest: %w", err)
	}
	p := &pr212{s: s, conf: pc, wake: make(chan struct{}, 1), latch: zkConnect}
	// The server's id: Config.HAID, else the id of the hostname it
	// listens on (PR #212: server-ids(server-hostnames indexOf the
	// canonical hostname), CuratorElectorService.scala@PR212:92-99).
	p.id = cfg.HAID
	if p.id == "" {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("livytest: pr212: give Config.HAID or an Addr host:port whose host is in %s", layout.PR212KeyHostnames)
		}
		for _, id := range pc.IDs {
			if pc.Hosts[id] == host {
				p.id = id
				break
			}
		}
		if p.id == "" {
			return nil, fmt.Errorf("livytest: pr212: host %q is not in %s (%s)", host, layout.PR212KeyHostnames, strings.Join(hostsOf(pc), ","))
		}
	}
	host, ok := pc.Hosts[p.id]
	if !ok {
		return nil, fmt.Errorf("livytest: pr212: id %q is not in %s (%s)", p.id, layout.PR212KeyServerIDs, strings.Join(pc.IDs, ","))
	}
	p.host = host
	if cfg.Addr == "" {
		cfg.Addr = net.JoinHostPort(host, strconv.Itoa(pc.Port))
	}
	p.addr = cfg.Addr
	if sp, ok := conf[keyZKStatePrefix]; ok {
		base, err := layout.CleanPath("/" + strings.Trim(sp, "/"))
		if err != nil || base == "/" {
			return nil, fmt.Errorf("livytest: bad %s %q", keyZKStatePrefix, sp)
		}
		s.st.base = base + "/v1"
	}
	if cfg.RestartWindow <= 0 {
		cfg.RestartWindow = 10 * cfg.Step
	}
	if cfg.SelfRedirectWindow <= 0 {
		cfg.SelfRedirectWindow = cfg.Step
	}
	s.pr = p

	var cleanup []func()
	fail := func(err error) (*Server, error) {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		return nil, err
	}
	kvz, err := dialKV(cs, cfg, s.log)
	if err != nil {
		return nil, err
	}
	s.st.kv = kvz
	cleanup = append(cleanup, kvz.Close)
	q := url.Values{}
	q.Set("layout", "pr212")
	q.Set("ids", strings.Join(pc.IDs, ","))
	q.Set("hosts", strings.Join(hostsOf(pc), ","))
	q.Set("port", strconv.Itoa(pc.Port))
	q.Set("namespace", pc.KeyPrefix)
	ropts := []discovery.ResolverOption{discovery.WithSessionTimeout(cfg.SessionTimeout), discovery.WithLogger(s.log)}
	for _, o := range cfg.zkOptions() {
		ropts = append(ropts, o)
	}
	res, err := discovery.NewResolver("zk://"+cs.String()+"?"+q.Encode(), ropts...)
	if err != nil {
		return fail(fmt.Errorf("livytest: %w", err))
	}
	p.res = res
	cleanup = append(cleanup, func() { _ = res.Close() })

	// init() and start(): recover, then Jetty, all before the latch.
	s.activeSince.Store(time.Now().UnixMilli())
	s.mu.Lock()
	recs, err := s.recoverStore()
	s.mu.Unlock()
	var dup *duplicateAtRecovery
	if errors.As(err, &dup) {
		return fail(fmt.Errorf("livytest: recovery: %w", err))
	}
	if err != nil {
		return fail(fmt.Errorf("livytest: %w: recovery: %w", discovery.ErrUnavailable, err))
	}
	s.mem.replace(recs)
	s.ready.Store(true)
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fail(fmt.Errorf("livytest: %w", err))
	}
	p.addr = ln.Addr().String() // a port 0 is fixed now, for the restarts
	s.url = "http://" + advertised(ln.Addr())
	p.serve(ln)
	cleanup = append(cleanup, func() { p.stopHTTP(0) })
	if _, err := res.Wait(ctx); err != nil {
		return fail(fmt.Errorf("livytest: %w", err))
	}

	s.bg.Add(1)
	go p.loop()
	cleanup = append(cleanup, func() { s.stopRecovery(); s.bg.Wait() })
	lopts := []discovery.RegistrarOption{discovery.WithSessionTimeout(cfg.SessionTimeout), discovery.WithLogger(s.log)}
	for _, o := range cfg.zkOptions() {
		lopts = append(lopts, o)
	}
	reg, err := discovery.JoinPR212Latch(ctx, p.latch, pc.KeyPrefix, p.id, append(lopts,
		// Curator 2.7's LeaderLatch gives leadership up on SUSPENDED.
		discovery.WithLeadershipPolicy(discovery.LeadOnConnection),
		discovery.WithLeadershipHandler(p.onLeadership))...)
	if err != nil {
		return fail(fmt.Errorf("livytest: %w", err))
	}
	p.reg.Store(reg)
	cleanup = append(cleanup, reg.Abandon)
	// A server that won the latch at start returns once its restart is
	// over, so that the caller finds it active.
	for reg.IsLeader() && !p.active.Load() && !p.stuck.Load() {
		ch := s.leadershipChanged()
		if !reg.IsLeader() || p.active.Load() || p.stuck.Load() {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fail(fmt.Errorf("livytest: %w: takeover: %w", discovery.ErrUnavailable, ctx.Err()))
		}
	}
	s.startTimers()
	s.log.Info("livytest: server started", "profile", s.prof.name, "ha-id", p.id, "url", s.url)
	return s, nil
}

func hostsOf(pc layout.PR212Config) []string {
	out := make([]string, len(pc.IDs))
	for i, id := range pc.IDs {
		out[i] = pc.Hosts[id]
	}
	return out
}

func cloneConf(c layout.LivyConf) layout.LivyConf {
	out := make(layout.LivyConf, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// HAID returns the server's PR #212 participant id ("" in other profiles).
func (s *Server) HAID() string {
	if s.pr == nil {
		return ""
	}
	return s.pr.id
}

// Restarts returns how many takeovers (PR #212's restarts of the REST
// server) the server has completed; 0 outside the pr212 profile.
func (s *Server) Restarts() int {
	if s.pr == nil {
		return 0
	}
	return int(s.pr.restarts.Load())
}

// onLeadership is the latch's handler (it must not block): it records the
// news and wakes the loop, which plays Curator's listener thread.
func (p *pr212) onLeadership(v bool) {
	p.want.Store(v)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	if f := p.s.cfg.OnLeadership; f != nil {
		f(v)
	}
	p.s.log.Info("livytest: PR #212 latch", "ha-id", p.id, "leader", v)
}

// loop handles leadership changes one at a time, as Curator calls
// isLeader/notLeader on one thread: a notLeader that arrives during a
// restart takes effect after it.
func (p *pr212) loop() {
	s := p.s
	defer s.bg.Done()
	for {
		select {
		case <-s.quit:
			return
		case <-p.wake:
		}
		for !s.closed.Load() {
			if !p.want.Load() {
				if p.active.Swap(false) {
					s.log.Info("livytest: PR #212 standby", "ha-id", p.id)
					s.signalLeadership()
				}
				break
			}
			if p.active.Load() || p.stuck.Load() {
				break
			}
			p.restart()
		}
	}
}

// sleep waits d or until the server closes; it reports false on close.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return !s.closed.Load()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.quit:
		return false
	}
}

// restart is transitionToActive: server.restart(), then Active.
func (p *pr212) restart() {
	s := p.s
	w := s.cfg.SelfRedirectWindow
	s.log.Info("livytest: PR #212 takeover: restarting", "ha-id", p.id)
	if !s.sleep(w) { // the latch is ours, Jetty not stopped yet: 307 to itself
		return
	}
	p.stopHTTP(0) // LivyServer.stop(): connections refused from here
	// Jetty's stop, then start(): recoverSessions and Jetty's start.
	if !s.sleep(s.cfg.RestartWindow) {
		return
	}
	backoff := 20 * time.Millisecond
	for {
		s.activeSince.Store(time.Now().UnixMilli())
		s.mu.Lock()
		recs, err := s.recoverStore()
		if err == nil {
			s.mem.replace(recs)
		}
		s.mu.Unlock()
		if err == nil {
			break
		}
		var dup *duplicateAtRecovery
		if errors.As(err, &dup) {
			// register throws: restart() ends here, Jetty stays stopped
			// while the node holds the latch.
			s.log.Error("livytest: PR #212 takeover failed; the REST server stays stopped", "ha-id", p.id, "err", err)
			p.stuck.Store(true)
			s.signalLeadership()
			return
		}
		s.log.Warn("livytest: PR #212 recovery failed; retrying", "ha-id", p.id, "err", err)
		if !s.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, time.Second)
	}
	for !p.listen() {
		if !s.sleep(50 * time.Millisecond) {
			return
		}
	}
	if !s.sleep(w) { // Jetty up, currentState still Standby: 307 to itself
		return
	}
	p.active.Store(true)
	p.restarts.Add(1)
	s.signalLeadership()
	s.log.Info("livytest: PR #212 takeover complete; active", "ha-id", p.id,
		"batches", len(s.mem.list(typeBatch)), "sessions", len(s.mem.list(typeInteractive)))
}

// listen starts the REST server again on its address; false if the port
// cannot be bound yet (or the server is closing).
func (p *pr212) listen() bool {
	p.httpMu.Lock()
	stopped := p.stopped
	p.httpMu.Unlock()
	if stopped {
		return true
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.s.log.Warn("livytest: PR #212 restart: cannot listen yet", "addr", p.addr, "err", err)
		return false
	}
	p.serve(ln)
	return true
}

func (p *pr212) serve(ln net.Listener) {
	p.httpMu.Lock()
	defer p.httpMu.Unlock()
	if p.stopped {
		_ = ln.Close()
		return
	}
	hs := p.s.newHTTPServer()
	done := make(chan struct{})
	p.hs, p.hsDone = hs, done
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
}

// stopHTTP stops the REST server: with grace, requests in flight get that
// long (Jetty's stop timeout); without, they are cut.
func (p *pr212) stopHTTP(grace time.Duration) {
	p.httpMu.Lock()
	hs, done := p.hs, p.hsDone
	p.hs, p.hsDone = nil, nil
	p.httpMu.Unlock()
	if hs == nil {
		return
	}
	if grace > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		if err := hs.Shutdown(ctx); err != nil {
			_ = hs.Close()
		}
		cancel()
	} else {
		_ = hs.Close()
	}
	<-done
}

// closePR212 is Close in the pr212 profile: PR #212's SIGTERM.
func (s *Server) closePR212() {
	p := s.pr
	s.stopRecovery()
	p.httpMu.Lock()
	p.stopped = true
	p.httpMu.Unlock()
	// The shutdown hook's stop(): Jetty stops (setStopTimeout(1000),
	// WebServer.scala@PR212:34).
	p.stopHTTP(time.Second)
	var errs []error
	if reg := p.reg.Load(); reg != nil {
		reg.Abandon() // the latch stays until the session expires
	}
	if err := p.res.Close(); err != nil {
		errs = append(errs, err)
	}
	s.st.kv.Close()
	s.bg.Wait()
	s.closeErr = errors.Join(errs...)
	s.log.Info("livytest: server stopped (PR #212 SIGTERM: latch left to expire)", "ha-id", p.id)
}

// standby is DomainRedirectionFilter for a server that is not Active.
func (p *pr212) standby(c *call) {
	leader, exc := p.leaderHost()
	if exc != "" {
		c.jettyError(http.StatusInternalServerError, exc)
		return
	}
	loc := pr212Location(c.r, leader)
	body := pr212StandbyText + loc + "\n" // PrintWriter.println
	h := c.w.Header()
	h["Content-Type"] = nil // none set; keep Go from sniffing one
	h.Set("Location", loc)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusTemporaryRedirect)
	_, _ = c.w.Write([]byte(body))
}

// leaderHost is getActiveHostname: the configured hostname of the latch
// leader, or the exception the filter would throw.
func (p *pr212) leaderHost() (string, string) {
	reg := p.reg.Load()
	if reg == nil {
		return "", curatorNotStarted
	}
	if reg.IsLeader() {
		return p.host, "" // the latch is ours, the restart not over: itself
	}
	l, ok := p.res.Snapshot().Leader()
	if !ok {
		return "", noParticipant
	}
	h, ok := p.conf.Hosts[l.Name]
	if !ok {
		return "", noParticipant
	}
	return h, ""
}

// pr212Location is the filter's redirect URL: Jetty's getRequestURL()
// (scheme, Host header's name and port — omitted when it is the scheme's
// default — and the raw path), its host replaced through Spring's
// UriComponentsBuilder.fromHttpUrl(...).host(h).toUriString(), which
// collapses "//" in the path and percent-encodes, as a not yet encoded
// path, every byte that is not a path character (so "%" becomes "%25");
// then "?" and the raw query string when the request had one.
func pr212Location(r *http.Request, host string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	port := ""
	if _, pt, err := net.SplitHostPort(r.Host); err == nil {
		port = pt
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	path, query, hasQuery := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(path, "/") {
		path, query, hasQuery = r.URL.EscapedPath(), r.URL.RawQuery, r.URL.RawQuery != "" || r.URL.ForceQuery
	}
	for strings.Contains(path, "//") {
		path = strings.ReplaceAll(path, "//", "/")
	}
	h := host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	loc := scheme + "://" + h
	if port != "" {
		loc += ":" + port
	}
	loc += springEncodePath(path)
	if hasQuery {
		loc += "?" + query
	}
	return loc
}

// springEncodePath is HierarchicalUriComponents' PATH encoding: bytes
// other than pchar and "/" become %XX (uppercase).
func springEncodePath(p string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || c == ':' || c == '@' || isUnreserved(c) || strings.IndexByte("!$&'()*+,;=", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// jettyError answers as Jetty 9.3 does when a filter throws: status,
// "Connection: close", Cache-Control, and its default HTML error page with
// the exception (ServletHandler sends the error; ErrorHandler shows stacks
// by default). Inferred from Jetty's ErrorHandler, not observed.
func (c *call) jettyError(status int, exception string) {
	reason := http.StatusText(status)
	if status == http.StatusInternalServerError {
		reason = "Server Error"
	}
	uri := c.r.URL.EscapedPath()
	var b strings.Builder
	b.WriteString("<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n")
	fmt.Fprintf(&b, "<title>Error %d %s</title>\n</head>\n<body>", status, html.EscapeString(reason))
	fmt.Fprintf(&b, "<h2>HTTP ERROR %d</h2>\n<p>Problem accessing %s. Reason:\n<pre>    %s</pre></p>", status, html.EscapeString(uri), html.EscapeString(reason))
	fmt.Fprintf(&b, "<h3>Caused by:</h3><pre>%s\n\tat org.apache.livy.server.CuratorElectorService.getActiveHostname(CuratorElectorService.scala:103)\n\tat org.apache.livy.server.DomainRedirectionFilter.doFilter(DomainRedirectionFilter.scala:64)\n</pre>\n", html.EscapeString(exception))
	b.WriteString("<hr><a href=\"http://eclipse.org/jetty\">Powered by Jetty:// 9.3.24.v20180605</a><hr/>\n\n</body>\n</html>\n")
	body := b.String()
	h := c.w.Header()
	h.Set("Content-Type", "text/html;charset=iso-8859-1")
	h.Set("Cache-Control", "must-revalidate,no-cache,no-store")
	h.Set("Connection", "close")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write([]byte(body))
}
