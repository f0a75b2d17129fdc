package livytest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
)

// Config configures a Server. The zero value is a standalone server on a
// random loopback port.
type Config struct {
	// ZK is the ZooKeeper connect string (a chroot is allowed). Empty: a
	// standalone server (always active, state in memory, no HA).
	ZK string
	// Root is the discovery root (default discovery.DefaultRoot, "/livy").
	Root string
	// StatePrefix is Livy's state-store key prefix
	// (livy.server.recovery.zk-state-store.key-prefix). Default: Root
	// without the leading "/", so records live at <Root>/v1/batch/<id>,
	// <Root>/v1/interactive/<id> and the counters at
	// <Root>/v1/{batch,interactive}/state.
	StatePrefix string
	// ID is the server id (livy.server.id).
	ID int
	// Addr is the listen address (default "127.0.0.1:0").
	Addr string
	// Mode is discovery.ActivePassive (default), discovery.MultiActive,
	// discovery.SessionHA or discovery.ActiveActive (see the package
	// documentation). It matters only with ZK, and only in the livyha
	// profile (the others are active-passive or have no HA at all).
	Mode discovery.Mode
	// Profile selects the REST surface and HA behaviour of a real server
	// (ProfileLivyHA by default; see Profile and the package
	// documentation).
	Profile Profile
	// LivyConf is the cluster's livy.conf in the pr212 profile: the
	// server ids and hostnames (livy.server.ha.server-ids,
	// livy.server.ha.server-hostnames), livy.server.port, the key prefix
	// of the latch and, when ZK is empty, livy.server.ha.zookeeper-url.
	// layout.ParseLivyConf reads one; PR212LivyConf writes one.
	LivyConf layout.LivyConf
	// HAID is this server's entry of livy.server.ha.server-ids (pr212).
	// Empty: the id whose hostname is Addr's host, as PR #212 picks the
	// id of its own canonical hostname. Addr defaults to that hostname and
	// livy.server.port.
	HAID string
	// RestartWindow (pr212) is how long a server that won the latch keeps
	// its REST port closed while it "restarts" (PR #212 stops Jetty,
	// recovers and starts it again); default 10 steps.
	RestartWindow time.Duration
	// SelfRedirectWindow (pr212) is how long, before the REST port closes
	// and again after it reopens, a server that holds the latch but is not
	// active yet answers 307 to itself; default 1 step.
	SelfRedirectWindow time.Duration
	// Timeouts are Livy's session GC and heartbeat watchdog, scaled by
	// Step (see Timeouts).
	Timeouts Timeouts
	// SessionTimeout is the ZooKeeper session timeout (default 2s). PR
	// #212 uses Curator's default, 60s, which ZooKeeper caps at its
	// maxSessionTimeout (40s by default): set it to reproduce PR #212's
	// failover time, which is this timeout (the pr212 profile keeps the
	// latch on Close, as PR #212 keeps it on SIGTERM).
	SessionTimeout time.Duration
	// ZKAuth, when set, is sent on every ZooKeeper session the server
	// opens (state store, registrar, resolver), e.g. digest
	// "livy:secret"; the nodes it creates are then creator-all +
	// world-read, so that clients without credentials still find the
	// servers but cannot change or forge their nodes.
	ZKAuth *ZKAuth
	// ZKTLS, when set, makes the server talk TLS to ZooKeeper (ZK must
	// then name the servers' secureClientPorts).
	ZKTLS *tls.Config
	// Leadership is the registrar's leadership policy in the livyha
	// profile (default discovery.LeadWhileSession: the active keeps
	// serving through ZooKeeper trouble shorter than its session's lease;
	// discovery.LeadOnConnection: it turns passive at the first
	// disconnection). The pr212 profile always plays Curator 2.7's
	// LeaderLatch, which gives leadership up at the first disconnection.
	Leadership discovery.LeadershipPolicy
	// Step is one state-progression step (default 50ms): a batch is
	// starting for 2 steps, running until step 6, then success (or dead
	// when its file name contains "fail"); an interactive session starts
	// for 2 steps; a statement waits 1 step and runs 1 step.
	Step time.Duration
	// BasicAuth, when set, is required on every request (else 401).
	BasicAuth *BasicAuth
	// SPNEGOKeytab, when set, makes the server require Kerberos SPNEGO
	// ("Authorization: Negotiate <token>") on every request, as Livy with
	// livy.server.auth.type = kerberos (Hadoop's AuthenticationFilter and
	// KerberosAuthenticationHandler) does: no Negotiate header gives 401
	// with "WWW-Authenticate: Negotiate"; a token that does not verify
	// (minted for another principal, expired, replayed, skewed) gives 403
	// with the reason. Tokens are verified with the key of SPNEGOPrincipal
	// in this keytab file (read again when the file changes). The client
	// principal's short name (alice for alice@<the server's realm>; the
	// full principal for other realms) becomes the remote user, as
	// BasicAuth's user does. BasicAuth is ignored when this is set. See
	// spnego.go.
	SPNEGOKeytab string
	// SPNEGOPrincipal is the server's own principal, HTTP/<its host>[@REALM]
	// (livy.server.auth.kerberos.principal). Only tokens for it are
	// accepted. Empty: any HTTP/* principal with a key in SPNEGOKeytab
	// (Hadoop's "*").
	SPNEGOPrincipal string
	// TLSCert and TLSKey, when set, are PEM files (the certificate chain
	// and its private key) the server serves https with, and only https:
	// its URL is then https://…, which is what it registers. TLSConfig,
	// when set, is used instead (it must carry a certificate). Not in the
	// pr212 profile. See tls.go.
	TLSCert, TLSKey string
	TLSConfig       *tls.Config
	// CSRF enables livy.server.csrf-protection: methods other than GET,
	// HEAD and OPTIONS need an X-Requested-By header.
	CSRF bool
	// Impersonation is livy.impersonation.enabled (default false): a
	// create's proxyUser — the doAs query parameter if there is one, else
	// the body's proxyUser — must be the authenticated user or the user
	// must be one of SuperUsers (every request passes when none is
	// authenticated), else 403 "User '<user>' not allowed to impersonate
	// 'Some(<target>)'."; the job's proxyUser is that target, or the
	// owner. A doAs that is not allowed also makes every request that
	// checks access (views, lists with something in them, logs,
	// statements, completion, DELETE; not …/state) answer 403
	// (SessionServlet.scala@0.9:168-190,213-237; AccessManager.scala@0.9:
	// 73-80,108-127; BatchSession.scala@0.9:66;
	// InteractiveSession.scala@0.9:95; the views' effectiveUser,
	// InteractiveSessionServlet.scala@0.9:79-86; the same in 0.7 and 0.8). Without it proxyUser and doAs are
	// ignored and every view's proxyUser is null, as in Livy.
	Impersonation bool
	// SuperUsers is livy.superusers ("*": everyone).
	SuperUsers []string
	// Thrift is an optional host:port published in the server record.
	Thrift string
	// ThriftTransport ("binary" or "http"; empty: unknown/binary) and
	// ThriftHTTPPath are published with Thrift.
	ThriftTransport, ThriftHTTPPath string
	// HiveNamespace, when set (with Thrift, in active-passive mode),
	// publishes the Thrift endpoint in that Hive namespace in Hive's own
	// format while this server is active (discovery.WithHiveRecord), so
	// unmodified Hive clients find only the active server. HiveAuth is the
	// hive.server2.authentication published there (default NONE).
	HiveNamespace, HiveAuth string
	// Logger receives the server's logs; silent by default.
	Logger *slog.Logger
	// OnLeadership, if set, is called (from a discovery goroutine; it must
	// not block) each time the server wins (true) or loses (false) the
	// leader latch: in active-passive mode, where having won it serves
	// REST requests once it has recovered the state store (see
	// Server.IsActive), and in session-HA mode, where the leader serves as
	// every server does and also reassigns the sessions of servers that
	// died.
	OnLeadership func(active bool)

	// Unfenced removes a safety net real Livy does not have (livyha
	// profile; the other profiles never fence). By default
	// (false) a server re-checks, just before each mutation (create,
	// statement, cancel, delete), that it is still the active one, and
	// redirects instead if it lost leadership since the request came in
	// (in session-HA mode: that it is not closing and, for an existing
	// session, that the ownership record still names it).
	// That default is KINDER THAN LIVY: PR #212 has no such fence, so a
	// deposed active that has not noticed yet (GC pause, partition, a
	// request already in flight) still creates jobs, which the new active
	// (having recovered earlier) does not know. With Unfenced a deposed
	// server does the same. A test that claims "no duplicates across a
	// failover" should also be run with Unfenced where that is meaningful.
	Unfenced bool

	// AbortBeforeCommit is a test seam. It is called for a create (POST
	// /batches, POST /sessions, POST /sessions/{id}/statements) once the
	// request has been accepted and its body parsed, before the server
	// takes an id, re-checks leadership (see Unfenced) or writes anything;
	// returning true makes the server close the connection without
	// answering and without committing (a crash before the commit). A
	// callback that blocks holds the request there, like a server stalled
	// between accepting a request and committing it.
	AbortBeforeCommit func(r *http.Request) bool
	// AbortAfterCommit is a test seam. It is called after a create (POST
	// /batches, POST /sessions, POST /sessions/{id}/statements) has been
	// committed to the state store and before the response is written;
	// returning true makes the server close the connection without
	// answering (a crash between commit and reply).
	AbortAfterCommit func(r *http.Request) bool
}

// BasicAuth holds the credentials a server requires.
type BasicAuth struct{ User, Password string }

// Request is one request a Server received.
type Request struct {
	Method string
	Path   string // path and query, as sent
	Header http.Header
	Status int // status written; 0 if the connection was aborted
}

// Server is a running stand-in for one Livy server.
type Server struct {
	cfg         Config
	log         *slog.Logger
	url         string
	incarnation string
	st          *store
	reg         *discovery.Registrar // nil when standalone
	res         *discovery.Resolver  // nil when standalone
	hs          *http.Server
	serveDone   chan struct{}

	// sessHA: session-HA mode over ZooKeeper (ownership records, see
	// ownership.go); shared: active-active mode over ZooKeeper (the store
	// is the only authority, see shared.go). Both false when standalone.
	sessHA, shared bool
	own            ownership

	// prof is the parsed Config.Profile; lc: the server plays Livy's
	// session lifecycle (every profile but livyha; lifecycle.go); pr: the
	// PR #212 HA state (pr212.go), nil in the other profiles.
	prof profileSpec
	lc   bool
	pr   *pr212
	act  activity // last activity and heartbeat of interactive sessions (lifecycle.go)

	activeSince atomic.Int64 // Unix ms when the server last became active

	lmu      sync.Mutex
	lchanged chan struct{} // closed (and replaced) on every leadership change and recovery
	closed   atomic.Bool   // set under recMu

	// mu serialises mutations (memory + state store) and recovery.
	mu  sync.Mutex
	mem memory // the sessions this server knows (see memory)

	recMu sync.Mutex
	term  uint64      // leadership changes so far (under recMu)
	ready atomic.Bool // recovery done for the current term (set under recMu)
	quit  chan struct{}
	bg    sync.WaitGroup // recovery goroutines

	reqMu sync.Mutex
	reqs  []Request

	closeOnce sync.Once
	closeErr  error
}

// Start starts a server: it listens, connects to ZooKeeper, registers
// through discovery.Register (joining the leader latch in active-passive
// mode) and returns once registered and serving. It fails when ctx ends
// first; an unreachable ZooKeeper gives an error wrapping
// discovery.ErrUnavailable.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Root == "" {
		cfg.Root = discovery.DefaultRoot
	}
	root, err := layout.CleanPath(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("livytest: root: %w", err)
	}
	cfg.Root = root
	if cfg.StatePrefix == "" {
		cfg.StatePrefix = strings.TrimPrefix(root, "/")
		if cfg.StatePrefix == "" {
			cfg.StatePrefix = "livy"
		}
	}
	base, err := layout.CleanPath("/" + strings.Trim(cfg.StatePrefix, "/"))
	if err != nil || base == "/" {
		return nil, fmt.Errorf("livytest: bad state prefix %q", cfg.StatePrefix)
	}
	spec, err := parseProfile(cfg.Profile)
	if err != nil {
		return nil, err
	}
	if spec.ha != haLivyHA && cfg.Mode != discovery.ActivePassive {
		return nil, fmt.Errorf("livytest: mode %v exists only in the livyha profile (profile %s)", cfg.Mode, spec.name)
	}
	if cfg.Addr == "" && spec.ha != haPR212 {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 2 * time.Second
	}
	if cfg.Step <= 0 {
		cfg.Step = 50 * time.Millisecond
	}
	switch cfg.Mode {
	case discovery.ActivePassive, discovery.MultiActive, discovery.SessionHA, discovery.ActiveActive:
	default:
		return nil, fmt.Errorf("livytest: unknown mode %v", cfg.Mode)
	}
	// LIVY-698 ids (multi-active, session HA) carry the server id.
	prefixed := cfg.Mode == discovery.MultiActive || cfg.Mode == discovery.SessionHA
	if cfg.ID < 0 || (prefixed && cfg.ID > (1<<31-1)/discovery.SessionIDBlock) {
		return nil, fmt.Errorf("livytest: bad server id %d", cfg.ID)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(discardHandler{})
	}

	s := &Server{
		cfg:         cfg,
		log:         logger,
		incarnation: newIncarnation(),
		serveDone:   make(chan struct{}),
		quit:        make(chan struct{}),
		st:          &store{base: base + "/v1", id: cfg.ID, multi: cfg.ZK != "" && prefixed},
		sessHA:      cfg.ZK != "" && cfg.Mode == discovery.SessionHA,
		shared:      cfg.ZK != "" && cfg.Mode == discovery.ActiveActive,
		own:         ownership{wake: make(chan struct{}, 1), watched: make(map[string]bool)},
		prof:        spec,
		lc:          spec.ha != haLivyHA,
	}
	s.st.livy = s.lc
	tlsCfg, err := serverTLS(cfg, spec)
	if err != nil {
		return nil, err
	}
	if spec.ha == haPR212 {
		return s.startPR212(ctx)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("livytest: %w", err)
	}
	s.url = "http://" + advertised(ln.Addr())
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		s.url = "https://" + advertised(ln.Addr())
	}
	var cleanup []func()
	fail := func(err error) (*Server, error) {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		_ = ln.Close()
		return nil, err
	}

	if cfg.ZK == "" {
		s.st.kv = newMemKV()
		s.activeSince.Store(time.Now().UnixMilli())
		s.ready.Store(true)
	} else if spec.ha == haStock {
		// Upstream Livy with livy.server.recovery.mode = recovery and the
		// ZooKeeper state store: nothing is registered; the session
		// managers recover every stored session before Jetty starts
		// (LivyServer.scala@0.9:158-163 → SessionManager.scala@0.9:93).
		cs, err := discovery.ParseConnectString(cfg.ZK)
		if err != nil {
			return fail(fmt.Errorf("livytest: %w", err))
		}
		kvz, err := dialKV(cs, &cfg, logger)
		if err != nil {
			return fail(err)
		}
		s.st.kv = kvz
		cleanup = append(cleanup, kvz.Close)
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
	} else {
		cs, err := discovery.ParseConnectString(cfg.ZK)
		if err != nil {
			return fail(fmt.Errorf("livytest: %w", err))
		}
		kvz, err := dialKV(cs, &cfg, logger)
		if err != nil {
			return fail(err)
		}
		s.st.kv = kvz
		cleanup = append(cleanup, s.bg.Wait, kvz.Close) // run in reverse
		common := append(cfg.zkOptions(),
			discovery.WithRoot(cfg.Root),
			discovery.WithSessionTimeout(cfg.SessionTimeout),
			discovery.WithLogger(logger))
		var opts []discovery.ResolverOption
		for _, o := range common {
			opts = append(opts, o)
		}
		res, err := discovery.NewResolver(cfg.ZK, append(opts, discovery.WithMode(cfg.Mode))...)
		if err != nil {
			return fail(fmt.Errorf("livytest: %w", err))
		}
		s.res = res
		cleanup = append(cleanup, func() { _ = res.Close() })
		switch cfg.Mode {
		case discovery.MultiActive, discovery.SessionHA:
			// Every server is active: recover before serving, as Livy
			// does at start (LIVY-698 servers each own their sessions;
			// with session HA, those whose record names this server).
			s.activeSince.Store(time.Now().UnixMilli())
			recs, err := s.recoverStore()
			if err != nil {
				return fail(fmt.Errorf("livytest: %w: recovery: %w", discovery.ErrUnavailable, err))
			}
			s.mem.replace(recs)
			s.ready.Store(true)
		case discovery.ActiveActive:
			// Nothing to recover: every request reads the store.
			s.activeSince.Store(time.Now().UnixMilli())
			s.ready.Store(true)
		}
		rec := discovery.ServerRecord{ID: cfg.ID, URL: s.url, Thrift: cfg.Thrift,
			ThriftTransport: cfg.ThriftTransport, ThriftHTTPPath: cfg.ThriftHTTPPath, Version: spec.surf.version}
		var ropts []discovery.RegistrarOption
		for _, o := range common {
			ropts = append(ropts, o)
		}
		// Active-passive servers elect the active one; session-HA servers
		// elect the one that reassigns the sessions of dead servers
		// (LIVY-698: "one of livy server is elected as leader of cluster").
		ropts = append(ropts,
			discovery.WithElection(cfg.Mode == discovery.ActivePassive || cfg.Mode == discovery.SessionHA),
			discovery.WithLeadershipPolicy(cfg.Leadership),
			discovery.WithLeadershipHandler(s.onLeadership))
		if cfg.HiveNamespace != "" && cfg.Mode == discovery.ActivePassive {
			ropts = append(ropts, discovery.WithHiveRecord(cfg.HiveNamespace, discovery.HiveRecord{Auth: cfg.HiveAuth}))
		}
		reg, err := discovery.Register(ctx, cfg.ZK, rec, ropts...)
		if err != nil {
			return fail(fmt.Errorf("livytest: %w", err))
		}
		s.reg = reg
		cleanup = append(cleanup, func() { s.stopRecovery(); _ = reg.Close() })
		if s.sessHA {
			s.bg.Add(1)
			go s.ownershipLoop()
		}
		if _, err := res.Wait(ctx); err != nil {
			return fail(fmt.Errorf("livytest: %w", err))
		}
		// A leader serves only once it has recovered: wait for that.
		// (Recovery starts when the leadership handler runs.)
		for reg.IsLeader() && !s.ready.Load() {
			ch := s.leadershipChanged()
			if !reg.IsLeader() || s.ready.Load() {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return fail(fmt.Errorf("livytest: %w: recovery: %w", discovery.ErrUnavailable, ctx.Err()))
			}
		}
	}

	s.hs = s.newHTTPServer()
	go func() {
		defer close(s.serveDone)
		_ = s.hs.Serve(ln)
	}()
	s.startTimers()
	s.log.Info("livytest: server started", "id", cfg.ID, "url", s.url, "mode", cfg.Mode.String(),
		"profile", spec.name, "standalone", cfg.ZK == "")
	return s, nil
}

func (s *Server) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}

// NewServer starts a server for a test and closes it in t.Cleanup; it
// calls t.Fatal if the server cannot start.
func NewServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("livytest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// URL returns the server's base URL, "http://127.0.0.1:port".
func (s *Server) URL() string { return s.url }

// ID returns the server id.
func (s *Server) ID() int { return s.cfg.ID }

// IsActive reports whether the server is an active one: the latch leader
// in active-passive mode; always in the other modes and standalone; never
// after Close. An active-passive leader answers REST requests only
// once it has also recovered the state store, which it does each time it
// wins the latch (Start returns after that when it wins at start); until
// then it holds them (see Config and the package documentation). In the
// pr212 profile it is PR #212's "currentState == Active": set once the
// restart after winning the latch is over, cleared as soon as the latch
// is lost.
func (s *Server) IsActive() bool {
	switch {
	case s.closed.Load():
		return false
	case s.pr != nil:
		return s.pr.isActive()
	case s.reg == nil || s.cfg.Mode != discovery.ActivePassive:
		return true
	}
	return s.reg.IsLeader()
}

// serving reports whether the server answers REST requests as the active
// one: active and, in active-passive mode, recovered.
func (s *Server) serving() bool {
	if s.reg == nil || s.cfg.Mode != discovery.ActivePassive {
		return !s.closed.Load()
	}
	return s.IsActive() && s.ready.Load()
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// Close stops the server: it stops serving as active, lets a mutation
// already being committed finish, deregisters (its znodes are deleted at
// once, so another server takes over without waiting for a session
// timeout), stops the HTTP server (waiting at most 2s for requests in
// flight) and closes its ZooKeeper sessions. It is idempotent.
//
// In the pr212 profile Close is PR #212's SIGTERM instead: the shutdown
// hook stops Jetty (LivyServer.scala@PR212:350-354,409-418) and nothing
// releases the latch, so its node stays until the ZooKeeper session
// expires (discovery.Registrar.Abandon); another server takes over only
// then.
func (s *Server) Close() error {
	if s.pr != nil {
		s.closeOnce.Do(s.closePR212)
		return s.closeErr
	}
	s.closeOnce.Do(func() {
		s.stopRecovery()
		var errs []error
		if s.reg != nil {
			s.mu.Lock() // a commit in flight lands before the takeover
			if err := s.reg.Close(); err != nil {
				errs = append(errs, err)
			}
			s.mu.Unlock()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.hs.Shutdown(ctx); err != nil {
			_ = s.hs.Close()
		}
		cancel()
		<-s.serveDone
		if s.res != nil {
			if err := s.res.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		s.st.kv.Close()
		s.bg.Wait()
		s.closeErr = errors.Join(errs...)
		s.log.Info("livytest: server closed", "id", s.cfg.ID)
	})
	return s.closeErr
}

// leadershipChanged returns a channel closed at the next leadership change.
func (s *Server) leadershipChanged() <-chan struct{} {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.lchanged == nil {
		s.lchanged = make(chan struct{})
	}
	return s.lchanged
}

// signalLeadership wakes everything waiting in leadershipChanged.
func (s *Server) signalLeadership() {
	s.lmu.Lock()
	if s.lchanged != nil {
		close(s.lchanged)
	}
	s.lchanged = make(chan struct{})
	s.lmu.Unlock()
}

// stopRecovery marks the server closed and stops recovery goroutines from
// being started.
func (s *Server) stopRecovery() {
	s.recMu.Lock()
	if !s.closed.Load() {
		s.closed.Store(true)
		close(s.quit)
	}
	s.recMu.Unlock()
	s.signalLeadership()
}

// onLeadership is the registrar's leadership handler. Each change starts a
// new term; winning the latch starts recovery, and the server serves REST
// requests as the active one only once recovery for that term is complete
// (recoverFor). In session-HA mode leadership changes nothing the server
// serves: the leader only also reassigns orphaned sessions, so a change
// just wakes the ownership loop.
func (s *Server) onLeadership(v bool) {
	if s.cfg.Mode == discovery.SessionHA {
		s.own.poke()
		if s.cfg.OnLeadership != nil {
			s.cfg.OnLeadership(v)
		}
		s.signalLeadership()
		s.log.Info("livytest: session-HA leadership changed", "id", s.cfg.ID, "leader", v)
		return
	}
	s.recMu.Lock()
	s.term++
	s.ready.Store(false)
	if v && !s.closed.Load() {
		s.activeSince.Store(time.Now().UnixMilli())
		s.bg.Add(1)
		go s.recoverFor(s.term)
	}
	s.recMu.Unlock()
	if s.cfg.OnLeadership != nil {
		s.cfg.OnLeadership(v)
	}
	s.signalLeadership()
	s.log.Info("livytest: leadership changed", "id", s.cfg.ID, "leader", v)
}

func (s *Server) record(r Request) {
	s.reqMu.Lock()
	s.reqs = append(s.reqs, r)
	s.reqMu.Unlock()
}

// advertised turns a listen address into a dialable host:port.
func advertised(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func newIncarnation() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randomAlnum(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
