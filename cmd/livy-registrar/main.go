// Command livy-registrar publishes one Livy server in ZooKeeper (the livyha
// canonical layout) and keeps it published until it is stopped. Run it as a
// sidecar next to each Livy server.
//
// Usage:
//
//	livy-registrar --zk CONNECT [--root /livy] --id N --url URL
//	    [--thrift HOST:PORT] [--thrift-transport binary|http]
//	    [--thrift-http-path PATH] [--version V] [--elect]
//	    [--leadership session|connection]
//	    [--session-timeout 10s] [--register-timeout 30s]
//	    [--health-url URL [--health-interval 1s] [--health-failures 1]]
//	livy-registrar --target zk://CONNECT?root=/livy --id N --url URL ...
//
// Target flags (flags over environment; see internal/cli):
//
//	--target T            the canonical layout to publish in (env LIVY_TARGET): a
//	                      ZooKeeper connect string or zk://host:port[,...][/chroot]?root=PATH;
//	                      other layouts (layout=, livy-conf://, static://) and mode=
//	                      are usage errors
//	--zk CONNECT          ZooKeeper connect string "host:port[,host:port...][/chroot]"
//	                      (env LIVY_ZK); --zk or --target is required
//	--root PATH           root of the layout (env LIVY_ZK_ROOT, else /livy; for a
//	                      --target without root=, or the same root)
//
// Other flags:
//
//	--id N                server id (livy.server.id; required)
//	--url URL             base URL of the Livy REST endpoint, http(s)://host:port[/base]
//	                      (required)
//	--thrift HOST:PORT    Livy Thrift (JDBC) endpoint, if any
//	--thrift-transport M  binary or http (Thrift transport mode)
//	--thrift-http-path P  Thrift HTTP path (with --thrift-transport http)
//	--version V           free-form server version
//	--elect               join the leader latch (active-passive mode)
//	--leadership P        with --elect, when leadership goes on ZooKeeper trouble:
//	                      session (default) keeps it while the ZooKeeper session may
//	                      be alive — through a disconnection, until shortly before
//	                      the session could expire, which must happen before anyone
//	                      else can win; connection gives it up at the first
//	                      disconnection (Curator's default policy)
//	--session-timeout D   ZooKeeper session timeout (default 10s): how long a
//	                      crashed host stays registered
//	--register-timeout D  give up (exit 3) if not registered within D (default 30s)
//	--health-url URL      publish the server only while GET URL gets an HTTP
//	                      answer below 500; when it fails, the nodes are
//	                      withdrawn at once (clients fail over) and published
//	                      again when it passes
//	--health-interval D   how often to check, and each check's timeout (1s)
//	--health-failures N   consecutive failures before withdrawing (1)
//	--ca-file PATH        PEM CA bundle for an https --health-url's certificate,
//	                      instead of the system roots (env LIVY_CA_FILE)
//	--zk-tls              talk to ZooKeeper over TLS: the connect string names its
//	                      secureClientPorts (env LIVY_ZK_TLS=true)
//	--zk-ca-file PATH     PEM CA bundle for ZooKeeper's certificates; implies
//	                      --zk-tls (env LIVY_ZK_CA_FILE)
//
// It prints one line on stderr when registered, one on each leadership
// change and one when it has deregistered, e.g.
//
//	livy-registrar: registered id=1 url=http://h1:8998 node=/livy/servers/serverUri=h1:8998;version=unknown;sequence=0000000003
//	livy-registrar: id=1 is now leader
//	livy-registrar: id=1 is no longer leader
//	livy-registrar: deregistered id=1
//
// Warnings from the discovery package (connection trouble, re-registration
// after a session expiry) are logged on stderr with log/slog.
//
// On SIGINT or SIGTERM it deletes its nodes, so a graceful stop fails over at
// once, and exits 0. -h or --help prints the usage text on stdout and exits
// 0. Exit status (internal/cli): 0 stopped by a signal; 2 usage error (bad
// or missing flag, bad URL, target, connect string or root); 3 ZooKeeper not
// reachable within --register-timeout; 4 ZooKeeper denied access. Errors are
// one line on stderr starting with "livy-registrar: ".
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/cli"
)

const name = "livy-registrar"

const usageHead = `usage: livy-registrar (--zk CONNECT | --target T) --id N --url URL [flags]

`

const usageTail = `
server flags:
  --id N                 server id (livy.server.id; required)
  --url URL              base URL of the Livy REST endpoint, http(s)://host:port[/base] (required)
  --thrift HOST:PORT     Livy Thrift (JDBC) endpoint, if any
  --thrift-transport M   Thrift transport mode: binary or http
  --thrift-http-path P   Thrift HTTP path (with --thrift-transport http)
  --version V            free-form server version
  --elect                join the leader latch (active-passive mode)
  --leadership P         with --elect, when leadership goes on ZooKeeper trouble: session (default) keeps it
                         while the ZooKeeper session may be alive (until shortly before it could expire, which
                         comes before anyone else can win); connection gives it up at the first disconnection
  --takeover             register even if another live session holds this id (a restart after a crash);
                         without it a taken id exits 5

ZooKeeper and health flags:
  --session-timeout D    ZooKeeper session timeout (default 10s): how long a crashed host stays registered
  --register-timeout D   exit 3 if not registered within D (default 30s)
  --health-url URL       publish the server only while GET URL gets an HTTP answer below 500
                         (e.g. http://127.0.0.1:8998/version); withdrawn at once when it fails
  --health-interval D    how often to check --health-url, and each check's timeout (default 1s)
  --health-failures N    consecutive failed checks before the server is withdrawn (default 1)

On SIGINT or SIGTERM the server's nodes are deleted (a graceful failover) and it exits 0.

`

// usageText is the -h output.
var usageText = func() string {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return usageHead + cli.NewTargetFlags(fs, true).Usage() + cli.ZKAuthUsage + cli.TLSUsage(true) + usageTail + cli.ExitCodesHelp
}()

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

// httpHealth checks that the Livy server answers HTTP: any status below 500
// counts (a passive Livy answers 307, a secured one 401); a refused
// connection, a timeout or a 5xx does not. Redirects are not followed.
// tc (--ca-file), if not nil, verifies an https URL's certificate.
func httpHealth(u string, tc *tls.Config) func(context.Context) error {
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if tc != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		hc.Transport = tr
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return fmt.Errorf("%s answered %d", u, resp.StatusCode)
		}
		return nil
	}
}

// getenv is os.Getenv; a variable so that tests can replace it.
var getenv = os.Getenv

// lockedWriter serialises writes from the leadership handler, the logger and
// run itself, so lines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	errw := &lockedWriter{w: stderr}
	printf := func(format string, a ...any) {
		fmt.Fprintf(errw, name+": "+format+"\n", a...)
	}
	fail := func(err error) int { return cli.Fail(errw, name, err) }
	usage := func(format string, a ...any) int { return fail(cli.Usagef(format, a...)) }

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line below
	fs.Usage = func() {}
	targets := cli.NewTargetFlags(fs, true)
	zkAuth := cli.NewZKAuthFlag(fs)
	tlsFlags := cli.NewTLSFlags(fs, true)
	var (
		id              = fs.Int("id", 0, "server id `N` (livy.server.id; required)")
		rawURL          = fs.String("url", "", "base `URL` of the Livy REST endpoint (required)")
		thrift          = fs.String("thrift", "", "Thrift endpoint `host:port`")
		thriftTransport = fs.String("thrift-transport", "", "Thrift transport `mode`: binary or http")
		thriftHTTPPath  = fs.String("thrift-http-path", "", "Thrift HTTP `path`")
		version         = fs.String("version", "", "server `version`")
		elect           = fs.Bool("elect", false, "join the leader latch")
		leadership      = fs.String("leadership", "session", "with --elect, when leadership goes on ZooKeeper trouble: `session` or connection")
		takeover        = fs.Bool("takeover", false, "register even if another live session holds this id (a restart after a crash)")
		sessionTimeout  = fs.Duration("session-timeout", discovery.DefaultSessionTimeout, "ZooKeeper session `timeout`: how long a crashed host stays registered")
		registerTimeout = fs.Duration("register-timeout", 30*time.Second, "exit 3 if not registered within this `duration`")
		healthURL       = fs.String("health-url", "", "publish the server only while GET `URL` gets an HTTP answer below 500 (e.g. http://127.0.0.1:8998/version)")
		healthInterval  = fs.Duration("health-interval", time.Second, "how often to check --health-url (also each check's timeout)")
		healthFailures  = fs.Int("health-failures", 1, "consecutive failed checks before the server is withdrawn")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return cli.ExitOK
		}
		return usage("%s", err.Error())
	}
	idSet := false
	fs.Visit(func(f *flag.Flag) { idSet = idSet || f.Name == "id" })
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	target, err := targets.Resolve(getenv)
	if err != nil {
		return fail(err)
	}
	zkOpts, err := zkAuth.Options(getenv)
	if err != nil {
		return fail(err)
	}
	tlsOpts, err := tlsFlags.ZKOptions(getenv)
	if err != nil {
		return fail(err)
	}
	zkOpts = append(zkOpts, tlsOpts...)
	healthTLS, err := tlsFlags.RESTConfig(getenv)
	if err != nil {
		return fail(err)
	}
	switch {
	case !idSet:
		return usage("missing --id")
	case *rawURL == "":
		return usage("missing --url")
	case *sessionTimeout <= 0:
		return usage("bad --session-timeout %s (must be positive)", *sessionTimeout)
	case *registerTimeout <= 0:
		return usage("bad --register-timeout %s (must be positive)", *registerTimeout)
	}
	policy, err := discovery.ParseLeadershipPolicy(*leadership)
	if err != nil {
		return usage("bad --leadership %q (want session or connection)", *leadership)
	}
	rec := discovery.ServerRecord{
		ID:              *id,
		URL:             *rawURL,
		Thrift:          *thrift,
		ThriftTransport: *thriftTransport,
		ThriftHTTPPath:  *thriftHTTPPath,
		Version:         *version,
	}
	if err := rec.Validate(); err != nil {
		return fail(err)
	}
	if _, err := layout.ServerNodePrefix(rec); err != nil {
		return fail(err)
	}
	if *healthURL != "" {
		if u, err := url.Parse(*healthURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usage("bad --health-url %q (want http(s)://host:port/path)", *healthURL)
		}
		if *healthInterval <= 0 || *healthFailures < 1 {
			return usage("--health-interval must be positive and --health-failures at least 1")
		}
	}

	// Leadership lines are held back until the "registered" line is out:
	// Register may report leadership before it returns.
	var (
		mu         sync.Mutex
		registered bool
		pending    []bool
	)
	leaderLine := func(v bool) {
		if v {
			printf("id=%d is now leader", rec.ID)
		} else {
			printf("id=%d is no longer leader", rec.ID)
		}
	}
	onLeadership := func(v bool) {
		mu.Lock()
		defer mu.Unlock()
		if !registered {
			pending = append(pending, v)
			return
		}
		leaderLine(v)
	}

	logger := slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rctx, cancel := context.WithTimeout(ctx, *registerTimeout)
	ropts := []discovery.RegistrarOption{
		discovery.WithElection(*elect),
		discovery.WithLeadershipPolicy(policy),
		discovery.WithSessionTimeout(*sessionTimeout),
		discovery.WithLeadershipHandler(onLeadership),
		discovery.WithLogger(logger),
	}
	if *healthURL != "" {
		ropts = append(ropts, discovery.WithHealthCheck(httpHealth(*healthURL, healthTLS), *healthInterval, *healthFailures))
	}
	for _, z := range zkOpts {
		ropts = append(ropts, z)
	}
	if *takeover {
		ropts = append(ropts, discovery.WithTakeover(true))
	}
	g, err := discovery.Register(rctx, target.String, rec, ropts...)
	cancel()
	if err != nil {
		code := cli.ExitCode(err)
		switch {
		case code == cli.ExitUsage:
			return fail(err)
		case ctx.Err() != nil:
			printf("interrupted before registration (id=%d)", rec.ID)
			return cli.ExitOK
		case errors.Is(err, discovery.ErrUnavailable):
			return fail(&cli.ExitError{Code: code, Err: fmt.Errorf("cannot register id=%d within %s: %w", rec.ID, *registerTimeout, err)})
		}
		return fail(&cli.ExitError{Code: code, Err: fmt.Errorf("cannot register id=%d: %w", rec.ID, err)})
	}

	mu.Lock()
	printf("registered id=%d url=%s node=%s", rec.ID, rec.URL, g.RecordPath())
	last := false // leadership lines are printed only for real changes
	for _, v := range pending {
		if v != last {
			leaderLine(v)
			last = v
		}
	}
	registered = true
	mu.Unlock()

	<-ctx.Done()
	if err := g.Close(); err != nil {
		printf("warning: %s", cli.OneLine(err.Error()))
	}
	printf("deregistered id=%d", rec.ID)
	return cli.ExitOK
}
