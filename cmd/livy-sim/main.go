// Command livy-sim runs one simulated Apache Livy server (a livytest
// server) as a process, registered in ZooKeeper, for demos and failover
// drills (kill -9 included).
//
// Usage:
//
//	livy-sim --zk CONNECT [--root /livy] --id N [--listen 127.0.0.1:0]
//	    [--mode active-passive|multi-active|session-ha|active-active]
//	    [--basic-auth USER:PASS | --spnego-keytab FILE [--spnego-principal HTTP/HOST[@REALM]]]
//	    [--csrf] [--unfenced]
//	    [--step 50ms] [--session-timeout 2s] [--register-timeout 30s]
//	    [--leadership session|connection]
//	    [--thrift HOST:PORT [--thrift-auth NOSASL|NONE|HTTP]
//	     [--thrift-refusal close|opensession] [--hive-namespace NS]]
//	    [--profile livyha|stock|livy-0.7|livy-0.8|livy-0.9|stock+livy-0.X|livyha+livy-0.X] [--gc]
//	livy-sim --profile pr212 --livy-conf PATH [--zk CONNECT] [--root /livy]
//	    (--listen HOST:PORT | --ha-id ID) [--ha-server-ids a,b,... --ha-server-hostnames h1,h2,...]
//	    [--ha-key-prefix livy_ha] [--restart-window 10 steps] [--self-redirect-window 1 step]
//	    [--session-timeout 60s] [auth, --csrf, --step as above]
//
// Once registered it prints exactly one line on stdout:
//
//	livy-sim: id=N listening on http://127.0.0.1:PORT
//
// or, with --thrift,
//
//	livy-sim: id=N listening on http://127.0.0.1:PORT thrift=127.0.0.1:TPORT
//
// --thrift starts a HiveServer2 (Thrift) stand-in (thrift/hs2test) on that
// address (port 0: a free port) and publishes the address it actually got,
// with its transport mode (binary, or http with path "cliservice"), in the
// server record. It serves while the server is active; a passive one
// refuses as --thrift-refusal says: close (accept and close at once) or
// opensession (OpenSession fails with "This is a standby Livy instance").
// --thrift-auth: NOSASL (plain binary), NONE (binary, SASL PLAIN, any
// credentials) or HTTP (Thrift over HTTP POST to /cliservice). SELECT
// current_server() answers "livy-N".
//
// Leadership changes ("livy-sim: id=N is now active" / "... is now
// passive"; in session-ha mode "... now leads" / "... no longer leads")
// and warnings go to stderr. In active-passive mode the latch leader serves
// and the others answer 307 to it; in multi-active mode every server serves
// its own sessions (ids N*10_000_000+k); in session-ha mode too, but the
// owner of each session is recorded in ZooKeeper and the latch leader
// hands the sessions of a server that died (kill -9 included, once its
// ZooKeeper session expires) to the live ones; in active-active mode every
// server serves every session from the shared state store, and nobody
// redirects. State lives in ZooKeeper (Livy's state-store layout under the
// root), so a new active server serves every session the old one created.
// See the livytest package documentation for each mode's details.
//
// --leadership (livyha profile, elected modes) is the registrar's
// leadership policy: session (the default) keeps the active serving
// through ZooKeeper trouble — a ZooKeeper leader election, an outage
// shorter than about half the session timeout — until shortly before its
// ZooKeeper session could expire, which must happen before another server
// can win; connection makes it passive at the first disconnection
// (Curator's default policy, as PR #212's latch).
//
// --spnego-keytab requires Kerberos SPNEGO on every request, verified
// with the key of --spnego-principal (default: any HTTP/* principal) in
// that keytab, as Livy with livy.server.auth.type=kerberos does: 401
// "WWW-Authenticate: Negotiate" without a token, 403 for a token that does
// not verify (see livytest.Config.SPNEGOKeytab). The Kerberos
// configuration is not read: the keytab is all the server needs.
//
// --profile selects which real server the process plays (see
// livytest.Profile and docs/livy-wire.md §9–§10): livyha (the default:
// the modes above, livyha's registrar, fenced, kinder than any Livy);
// stock, or a bare release livy-0.7/livy-0.8/livy-0.9, which is upstream
// Livy with recovery from the ZooKeeper state store under --root: nothing
// registered, no redirect, every session recovered (recovering until its
// driver reconnects) when the process starts again, and Livy's session GC
// and heartbeat watchdog scaled by --step (one step = one Livy second;
// --gc turns them on in the livyha profile); stock+livy-0.X and
// livyha+livy-0.X combine an HA behaviour with a release's REST surface.
// --id is needed only in the livyha profile.
//
// --profile pr212 is Livy as PR #212 builds it: the server joins a Curator
// latch at /<--ha-key-prefix, default livy_ha>/leader with its string id,
// writes no server record, serves 0.7's REST surface, and, when it wins
// the latch, closes its port for --restart-window while it recovers every
// session (answering 307 to itself for --self-redirect-window before and
// after); a passive answers 307, after the authentication and CSRF checks,
// to the request URL with only the host swapped for the leader's
// configured hostname, or 500 when there is no usable leader; nothing
// fences a deposed active. The cluster is described by --livy-conf: when
// the file exists it is read (ZooKeeper, ids, hostnames, port, key prefix,
// the state store's prefix); otherwise it is written, atomically, from
// --ha-server-ids, --ha-server-hostnames, --listen's port (the same on
// every server), --zk, --root and --ha-key-prefix, so that
// discovery.NewResolver("livy-conf://PATH") and livy-find find the active
// through it. The server's id is --ha-id, else the id of --listen's host;
// it listens on --listen, else on its hostname and livy.server.port.
// --session-timeout defaults to Curator's 60s here (ZooKeeper caps it at
// its maxSessionTimeout). Its stdout line names the id: "livy-sim: id=ID
// listening on http://HOST:PORT"; stderr says "id=ID holds the latch
// (restarting the REST server, then active)" and "id=ID is now passive".
//
// --tls-cert and --tls-key (env LIVY_TLS_CERT, LIVY_TLS_KEY; PEM files of
// the certificate chain and its private key) make the server serve https
// only: its URL, the stdout line and the registered record say
// https://HOST:PORT, and a passive's 307 points at the active's https URL.
// Not with --profile pr212.
//
// SIGINT or SIGTERM deregisters (so another server takes over at once) and
// exits 0 — except in the pr212 profile, where, as PR #212's shutdown
// hook, it only stops the REST server: the latch node stays until the
// ZooKeeper session expires, and only then does another server take over.
// Exit status: 2 usage error; 3 ZooKeeper not reachable within
// --register-timeout; 1 any other failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/livytest"
	"github.com/livyha/livyha/thrift/hs2test"
)

const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnavailable = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process the default way
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// lockedWriter serialises writes from the leadership handler, the logger
// and run itself, so lines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// getenv is os.Getenv; a variable so that tests can replace it.
var getenv = os.Getenv

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	errw := &lockedWriter{w: stderr}
	printf := func(format string, a ...any) {
		fmt.Fprintf(errw, "livy-sim: "+format+"\n", a...)
	}
	fs := flag.NewFlagSet("livy-sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// --target/--zk/--root (and LIVY_TARGET, LIVY_ZK, LIVY_ZK_ROOT): the
	// canonical layout the server registers in; the Livy state store lives
	// under its root too.
	targets := cli.NewTargetFlags(fs, true)
	var (
		id              = fs.Int("id", 0, "server id `N` (livy.server.id; required)")
		listen          = fs.String("listen", "127.0.0.1:0", "listen `address`")
		mode            = fs.String("mode", "active-passive", "`mode`: active-passive, multi-active, session-ha or active-active")
		basicAuth       = fs.String("basic-auth", "", "require HTTP basic auth `user:pass`")
		spnegoKeytab    = fs.String("spnego-keytab", "", "require Kerberos SPNEGO, verified with the keys in this keytab `file`")
		spnegoPrincipal = fs.String("spnego-principal", "", "the server's own `principal` HTTP/<host>[@REALM] (with --spnego-keytab; default: any HTTP/* in the keytab)")
		csrf            = fs.Bool("csrf", false, "require X-Requested-By on non-GET/HEAD/OPTIONS requests")
		unfenced        = fs.Bool("unfenced", false, "let a deposed active still commit requests it is serving, as real Livy (PR #212) does")
		step            = fs.Duration("step", 50*time.Millisecond, "one simulated state-progression `step`")
		sessionTimeout  = fs.Duration("session-timeout", 2*time.Second, "ZooKeeper session `timeout`")
		thrift          = fs.String("thrift", "", "serve a HiveServer2 Thrift stand-in on `host:port` (port 0: any) and publish it")
		thriftAuth      = fs.String("thrift-auth", hs2test.AuthNoSASL, "Thrift `auth`: NOSASL, NONE (SASL PLAIN) or HTTP")
		thriftRefusal   = fs.String("thrift-refusal", "close", "how a passive server refuses Thrift clients (`mode`): close or opensession")
		hiveNS          = fs.String("hive-namespace", "", "also publish the Thrift endpoint in this Hive ZooKeeper `namespace` while active (unmodified Hive clients find only the active)")
		registerTimeout = fs.Duration("register-timeout", 30*time.Second, "exit 3 if not registered within this `duration`")
		leadership      = fs.String("leadership", "session", "livyha profile: when the active gives leadership up on ZooKeeper trouble: `session` (shortly before its ZooKeeper session could expire) or connection (at the first disconnection)")
	)
	pf := addProfileFlags(fs)
	serverTLS := cli.NewServerTLSFlags(fs)
	zkAuth := cli.NewZKAuthFlag(fs)
	zkTLS := cli.NewTLSFlags(fs, false)
	usage := func(format string, a ...any) int {
		printf(format+" (see livy-sim -h)", a...)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, "usage: livy-sim (--zk CONNECT | --target T) --id N [flags]\n\n"+targets.Usage()+"\nflags:\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		return usage("%s", err)
	}
	if err := pf.check(); err != nil {
		return usage("%s", err)
	}
	idSet := false
	fs.Visit(func(f *flag.Flag) { idSet = idSet || f.Name == "id" })
	if pf.pr212() && !pf.given("session-timeout") {
		*sessionTimeout = 60 * time.Second // Curator's default (ZooKeeper caps it at its maxSessionTimeout)
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected arguments %q", fs.Args())
	case !idSet && pf.livyha():
		return usage("missing --id")
	case *id < 0:
		return usage("bad --id %d (must be >= 0)", *id)
	case *step <= 0:
		return usage("bad --step %s (must be positive)", *step)
	case *sessionTimeout <= 0:
		return usage("bad --session-timeout %s (must be positive)", *sessionTimeout)
	case *registerTimeout <= 0:
		return usage("bad --register-timeout %s (must be positive)", *registerTimeout)
	}
	policy, err := discovery.ParseLeadershipPolicy(*leadership)
	if err != nil {
		return usage("bad --leadership %q (want session or connection)", *leadership)
	}
	if pf.given("leadership") && !pf.livyha() {
		return usage("--leadership exists only in the livyha profile")
	}
	m, err := discovery.ParseMode(*mode)
	if err != nil {
		return usage("--mode: %s", strings.TrimPrefix(err.Error(), "discovery: "))
	}
	if m != discovery.ActivePassive && !pf.livyha() {
		return usage("--mode %s exists only in the livyha profile", *mode)
	}
	target, err := targets.Resolve(getenv)
	if err != nil && !(pf.pr212() && pf.confExists()) { // pr212: ZooKeeper may come from --livy-conf
		return cli.Fail(errw, "livy-sim", err)
	}
	var refusal hs2test.Refusal
	switch strings.ToLower(*thriftRefusal) {
	case "close":
		refusal = hs2test.RefuseClose
	case "opensession":
		refusal = hs2test.RefuseOpenSession
	default:
		return usage("bad --thrift-refusal %q (want close or opensession)", *thriftRefusal)
	}
	tauth := strings.ToUpper(*thriftAuth)
	switch tauth {
	case hs2test.AuthNoSASL, hs2test.AuthNone, hs2test.AuthHTTP:
	default:
		return usage("bad --thrift-auth %q (want NOSASL, NONE or HTTP)", *thriftAuth)
	}
	if *thrift != "" {
		if _, _, err := net.SplitHostPort(*thrift); err != nil {
			return usage("bad --thrift %q: %s", *thrift, err)
		}
	}
	var auth *livytest.BasicAuth
	if *basicAuth != "" {
		user, pass, ok := strings.Cut(*basicAuth, ":")
		if !ok || user == "" {
			return usage("bad --basic-auth (want user:pass)")
		}
		auth = &livytest.BasicAuth{User: user, Password: pass}
	}
	switch {
	case *spnegoKeytab != "" && auth != nil:
		return usage("--basic-auth and --spnego-keytab exclude each other")
	case *spnegoPrincipal != "" && *spnegoKeytab == "":
		return usage("--spnego-principal needs --spnego-keytab")
	case *spnegoKeytab != "":
		if err := livytest.CheckSPNEGO(*spnegoKeytab, *spnegoPrincipal); err != nil {
			return usage("%s", strings.TrimPrefix(err.Error(), "livytest: "))
		}
	}
	tlsCert, tlsKey, err := serverTLS.Files(getenv)
	switch {
	case err != nil:
		return usage("%s", err)
	case tlsCert != "" && pf.pr212():
		return usage("--tls-cert is not supported with --profile pr212")
	}

	zkScheme, zkCred, withZKAuth, err := zkAuth.Value(getenv)
	if err != nil {
		return usage("%s", err)
	}
	zkTLSConfig, err := zkTLS.ZKTLS(getenv)
	if err != nil {
		return usage("%s", err)
	}

	// The Thrift listener starts first: its actual address goes into the
	// server record. Until the Livy server is registered it counts as
	// passive.
	var (
		live atomic.Pointer[livytest.Server]
		ts   *hs2test.Server
	)
	cfg := livytest.Config{
		ZK: target.Parsed.ZK.String(), Root: target.Parsed.Root, ID: *id, Addr: *listen, Mode: m,
		SessionTimeout: *sessionTimeout, Leadership: policy, Step: *step, BasicAuth: auth, CSRF: *csrf, Unfenced: *unfenced,
		SPNEGOKeytab: *spnegoKeytab, SPNEGOPrincipal: *spnegoPrincipal, ZKTLS: zkTLSConfig,
		Logger: slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnLeadership: func(active bool) {
			switch {
			case m == discovery.SessionHA && active:
				// Every session-HA server serves; the leader also
				// reassigns the sessions of servers that died.
				printf("id=%d now leads (reassigns the sessions of servers that leave)", *id)
			case m == discovery.SessionHA:
				printf("id=%d no longer leads", *id)
			case active:
				printf("id=%d is now active", *id)
			default:
				printf("id=%d is now passive", *id)
			}
		},
	}
	if withZKAuth {
		cfg.ZKAuth = &livytest.ZKAuth{Scheme: zkScheme, Auth: zkCred}
	}
	var lconf layout.LivyConf
	if pf.pr212() {
		zk := ""
		if len(target.Parsed.ZK.Servers) > 0 {
			zk = target.Parsed.ZK.String()
		}
		root := target.Parsed.Root
		if root == "" {
			root = discovery.DefaultRoot
		}
		lconf, err = pf.resolveConf(zk, strings.TrimPrefix(root, "/"), *listen, pf.given("listen"))
		if err != nil {
			return usage("%s", err)
		}
		if !pf.given("listen") {
			if *pf.haID == "" {
				return usage("--profile pr212 needs --ha-id or --listen HOST:PORT (the host names the server's id)")
			}
			cfg.Addr = "" // the hostname of --ha-id and livy.server.port
		}
		cfg.ZK = zk
		cfg.OnLeadership = func(leader bool) {
			if leader {
				printf("id=%s holds the latch (restarting the REST server, then active)", haName(pf, lconf, *listen))
			} else {
				printf("id=%s is now passive", haName(pf, lconf, *listen))
			}
		}
	}
	cfg.TLSCert, cfg.TLSKey = tlsCert, tlsKey
	pf.apply(&cfg, lconf)
	if *thrift != "" {
		var err error
		ts, err = hs2test.Start(hs2test.Config{
			Addr: *thrift, Auth: tauth, Refusal: refusal, Name: fmt.Sprintf("livy-%d", *id),
			Active: func() bool { s := live.Load(); return s != nil && s.IsActive() },
		})
		if err != nil {
			printf("cannot start the Thrift server: %s", err)
			return exitFailure
		}
		defer func() { _ = ts.Close() }()
		cfg.Thrift = ts.Addr()
		cfg.HiveNamespace = *hiveNS
		cfg.HiveAuth = map[string]string{hs2test.AuthNoSASL: "NOSASL", hs2test.AuthNone: "NONE", hs2test.AuthHTTP: "NONE"}[tauth]
		cfg.ThriftTransport = "binary"
		if tauth == hs2test.AuthHTTP {
			cfg.ThriftTransport, cfg.ThriftHTTPPath = "http", ts.Config().HTTPPath
		}
	}
	sctx, cancel := context.WithTimeout(ctx, *registerTimeout)
	srv, err := livytest.Start(sctx, cfg)
	cancel()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			printf("interrupted before registration (id=%d)", *id)
			return exitOK
		case errors.Is(err, discovery.ErrBadRecord), errors.Is(err, discovery.ErrBadConnectString),
			errors.Is(err, discovery.ErrBadPath), errors.Is(err, discovery.ErrBadOption):
			return usage("%s", err)
		case errors.Is(err, discovery.ErrUnavailable):
			printf("cannot register id=%d within %s: %s", *id, *registerTimeout, err)
			return exitUnavailable
		}
		printf("cannot start id=%d: %s", *id, err)
		return exitFailure
	}
	live.Store(srv)
	line := fmt.Sprintf("livy-sim: id=%d listening on %s", srv.ID(), srv.URL())
	if pf.pr212() {
		line = fmt.Sprintf("livy-sim: id=%s listening on %s", srv.HAID(), srv.URL())
	}
	if ts != nil {
		line += " thrift=" + ts.Addr()
	}
	fmt.Fprintln(stdout, line)

	<-ctx.Done()
	if err := srv.Close(); err != nil {
		printf("warning: %s", err)
	}
	if ts != nil {
		if err := ts.Close(); err != nil {
			printf("warning: %s", err)
		}
	}
	printf("id=%d stopped", *id)
	return exitOK
}
