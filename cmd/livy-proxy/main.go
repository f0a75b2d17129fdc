// Command livy-proxy is a local (or sidecar) reverse proxy that gives
// clients not written in Go — sparkmagic, Airflow's LivyHook, pylivy, curl
// — the high availability of livyclient: it finds the active Livy server
// (or a session's owner) through the same targets as livy-find, follows
// passive servers' 307s with credentials re-sent only to cluster members,
// waits through failovers, and makes creates duplicate-safe.
//
// Usage:
//
//	livy-proxy [flags]
//
// Every request except /livy-proxy/health and /metrics is passed to the
// cluster through livyclient's HA transport: /version, /sessions…,
// /batches…, /ui…. Point a client at http://127.0.0.1:8998 (the default
// --listen) as if it were a Livy server.
//
// Creates: a POST /batches or /sessions whose JSON object has no "name"
// gets a generated unique one (livyha-<16 hex digits>; --generate-names=false
// turns that off), and goes through livyclient's duplicate-safe create:
// after an ambiguous failure (no answer, or a 5xx, during a failover) the
// job is looked up by its name before anything is created again. Its
// answer is 201 with Livy's view and Location: /batches/<id>.
//
// Statements: a POST /sessions/{id}/statements made while the session is
// starting or recovering after a failover (Livy answers 500 "Session is in
// state recovering" and runs nothing) is held until the session can run
// it, as livyclient's Statements.Run does.
//
// Credentials: by default the caller's own headers (Basic or Bearer
// Authorization, cookies) are forwarded, to cluster members only. With
// --user (and --password-file), --bearer-token-file (--token-file),
// --spnego (--ccache) or --keytab, the proxy
// authenticates itself instead (SPNEGO: a fresh token per server, minted
// for HTTP/<that server's host>) and drops the caller's Authorization and
// Cookie headers. A caller's SPNEGO token cannot be forwarded usefully: it
// is minted for the proxy's host (HTTP/localhost), not for a Livy server;
// use --keytab for Kerberized clusters. Anyone who can reach --listen acts
// with the proxy's credentials: keep it on loopback or behind a firewall.
//
// Answers: Location headers naming a cluster member are rewritten to
// paths on the proxy; bodies are streamed. Request bodies are kept in
// memory to be re-sent after a redirect or a failover, up to --max-body
// (over it: 413). Errors the proxy makes are Livy-shaped, {"msg": "..."}:
// 503 when no server answered within --max-wait, 502 when a request was
// sent but not answered (the text says whether it may have taken effect)
// or a server redirected outside the cluster.
//
// Endpoints of its own:
//
//	GET /livy-proxy/health  200 {"status":"ok","active":URL,...} while an
//	                        active server is known, else 503
//	GET /metrics            Prometheus text format: livy_proxy_requests_total
//	                        {outcome}, livy_proxy_retries_total,
//	                        livy_proxy_redirects_total{result},
//	                        livy_proxy_failovers_total, livy_proxy_active_server
//	                        {server}, livy_proxy_outage_seconds_total,
//	                        livy_proxy_last_outage_seconds, latency, Go runtime
//
// SIGTERM or SIGINT stops accepting connections and waits up to
// --drain-timeout for the requests in flight (also those waiting through a
// failover); then it exits 0.
//
// Exit status: 0 after a drained stop; 2 usage error; 3 the listen address
// cannot be used.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/livyclient"
)

const name = "livy-proxy"

// getenv is os.Getenv; a variable so that tests can replace it.
var getenv = os.Getenv

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// EnvListen is --listen's environment variable.
const EnvListen = "LIVY_PROXY_LISTEN"

type options struct {
	targets       *cli.TargetFlags
	zkAuth        *cli.ZKAuthFlag
	tls           *cli.TLSFlags
	serve         *cli.ServerTLSFlags
	auth          *cli.AuthFlags
	listen        string
	maxBody       int64
	maxWait       time.Duration
	drain         time.Duration
	generateNames bool
	logLevel      string
}

func newFlags() (*options, *flag.FlagSet) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o := &options{targets: cli.NewTargetFlags(fs, false)}
	o.zkAuth = cli.NewZKAuthFlag(fs)
	o.tls = cli.NewTLSFlags(fs, true)
	o.serve = cli.NewServerTLSFlags(fs)
	o.auth = cli.NewAuthFlags(fs)
	fs.StringVar(&o.listen, "listen", "", "address to serve on (env "+EnvListen+"; default 127.0.0.1:8998)")
	fs.Int64Var(&o.maxBody, "max-body", 8<<20, "largest request body kept for re-sending, in bytes")
	fs.DurationVar(&o.maxWait, "max-wait", livyclient.DefaultPolicy().MaxElapsed, "how long a request may wait through a failover")
	fs.DurationVar(&o.drain, "drain-timeout", 30*time.Second, "how long SIGTERM waits for requests in flight")
	fs.BoolVar(&o.generateNames, "generate-names", true, "give creates without a name a unique one (duplicate-safe creates)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error (on stderr)")
	return o, fs
}

const usageText = `usage: livy-proxy [flags]

A reverse proxy that gives any Livy client (sparkmagic, Airflow, curl) the
high availability of livyclient: owner routing, 307s followed with
credentials for cluster members only, waiting through failovers and
duplicate-safe creates. Its own endpoints: /livy-proxy/health, /metrics.

Serving:
  --listen ADDR        host:port to serve on (env ` + EnvListen + `; default 127.0.0.1:8998)
` + cli.ServerTLSUsage + `  --max-body N         largest request body kept to re-send it, bytes (default 8388608;
                       larger ones get 413)
  --max-wait D         how long one request may wait through a failover (default 1m15s)
  --drain-timeout D    on SIGTERM, how long to wait for requests in flight (default 30s)
  --generate-names     give a create without a name a unique one (default true; =false off)
  --log-level L        debug, info (default), warn or error, on stderr

The cluster (as livy-find):
%s` + cli.ZKAuthUsage + `%s
Credentials: by default the caller's own Authorization and cookies are
forwarded, to cluster members only; with any of these the proxy uses its
own and drops the caller's.
` + cli.AuthUsage

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int { return cli.Fail(stderr, name, err) }
	o, fs := newFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, usageText, o.targets.Usage(), cli.TLSUsage(true))
			return cli.ExitOK
		}
		return fail(cli.Usagef("%s", err.Error()))
	}
	if fs.NArg() > 0 {
		if fs.Arg(0) == "help" {
			fmt.Fprintf(stdout, usageText, o.targets.Usage(), cli.TLSUsage(true))
			return cli.ExitOK
		}
		return fail(cli.Usagef("unexpected argument %q (livy-proxy takes flags only)", fs.Arg(0)))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fail(cli.Usagef("bad --log-level %q (want debug, info, warn or error)", o.logLevel))
	}
	switch {
	case o.maxBody <= 0:
		return fail(cli.Usagef("bad --max-body %d (must be positive)", o.maxBody))
	case o.maxWait <= 0:
		return fail(cli.Usagef("bad --max-wait %s (must be positive)", o.maxWait))
	case o.drain < 0:
		return fail(cli.Usagef("bad --drain-timeout %s", o.drain))
	}
	listen := o.listen
	if listen == "" {
		listen = getenv(EnvListen)
	}
	if listen == "" {
		listen = "127.0.0.1:8998"
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	tgt, err := o.targets.Resolve(getenv)
	if err != nil {
		return fail(err)
	}
	ropts, err := cli.ResolverOptions(o.zkAuth, o.tls, getenv)
	if err != nil {
		return fail(err)
	}
	restTLS, err := o.tls.RESTConfig(getenv)
	if err != nil {
		return fail(err)
	}
	certFile, keyFile, err := o.serve.Files(getenv)
	if err != nil {
		return fail(err)
	}
	authn, closeAuth, err := o.auth.Authenticator(getenv)
	if err != nil {
		return fail(err)
	}
	defer closeAuth()

	ropts = append(ropts, discovery.WithLogger(log))
	r, err := discovery.NewResolver(tgt.String, ropts...)
	if err != nil {
		return fail(err)
	}
	defer r.Close()

	m := newMetrics()
	policy := livyclient.DefaultPolicy()
	policy.MaxElapsed = o.maxWait
	copts := []livyclient.Option{
		livyclient.WithResolver(r),
		livyclient.WithRetry(policy),
		livyclient.WithGeneratedNames(o.generateNames),
		livyclient.WithHooks(m.hooks()),
		livyclient.WithLogger(log),
		// The callers' own X-Requested-By goes through; this is only for
		// callers without one (curl), as Livy's CSRF filter needs it.
		livyclient.WithRequestedBy(name),
	}
	if restTLS != nil {
		copts = append(copts, livyclient.WithTLSConfig(restTLS))
	}
	if authn != nil {
		copts = append(copts, livyclient.WithAuth(authn))
	}
	c, err := livyclient.New(copts...)
	if err != nil {
		return fail(err)
	}
	defer c.Close()

	// Listen once the cluster is known (or after a bounded wait: the
	// proxy also starts while ZooKeeper is down, and answers 503 until
	// it can read it).
	sctx, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	if _, err := r.Wait(sctx); err != nil && ctx.Err() == nil {
		log.Warn("livy-proxy: no cluster view yet; serving anyway", "err", err)
	}
	cancelWait()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fail(&cli.ExitError{Code: cli.ExitUnavailable, Err: fmt.Errorf("listen on %s: %w", listen, err)})
	}
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go m.watch(wctx, r)

	p := newProxy(c, r.Snapshot, m, o.maxBody, authn != nil, log)
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if certFile != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "livy-proxy: listening on %s://%s (target %s)\n", scheme, ln.Addr(), tgt.String)
	served := make(chan error, 1)
	go func() {
		if certFile != "" {
			served <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return fail(&cli.ExitError{Code: cli.ExitUnavailable, Err: err})
	case <-ctx.Done():
	}
	log.Info("livy-proxy: stopping; draining requests in flight", "timeout", o.drain)
	sctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("livy-proxy: requests still in flight at the drain timeout", "err", err)
		_ = srv.Close()
	}
	<-served
	fmt.Fprintln(stdout, "livy-proxy: stopped")
	return cli.ExitOK
}
