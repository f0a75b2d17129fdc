// Command livyctl submits and watches Spark batches and runs code in
// interactive sessions of a highly-available Livy cluster, through
// livyclient: it finds the active server as livy-find does (ZooKeeper, a
// PR #212 livy.conf or a static list), follows 307s with the credentials
// re-applied per hop, and rides out failovers.
//
// Usage:
//
//	livyctl [flags] batch submit|create [request flags] [-- ARG...]
//	livyctl [flags] batch get|log|delete ID|NAME
//	livyctl [flags] batch list
//	livyctl [flags] session create [request flags]
//	livyctl [flags] session get|delete ID|NAME
//	livyctl [flags] session list
//	livyctl [flags] run --session ID|NAME [--kind K] CODE|-
//	livyctl help [GROUP [VERB]]
//
// Verbs:
//
//	batch submit   create a batch, print its id and name on stderr at once,
//	               follow its log on stdout until it finishes, and exit with
//	               its final state: 0 success, 6 dead/killed/error
//	batch create   create a batch and print it (-o table|json|yaml)
//	batch get      print one batch; a NAME works in place of the id
//	batch list     print the batches (--from, --size)
//	batch log      print the batch's whole log (or --from N --size M as
//	               Livy pages it); with --follow, follow it until the batch
//	               finishes, starting at line --from (default 0)
//	batch delete   kill and delete the batch
//	session ...    the same for interactive sessions (create --wait waits
//	               until the session is idle)
//	run            run CODE (or stdin with "-") in a session, wait for the
//	               result and print its text/plain output; a failed statement
//	               prints ename: evalue and the traceback on stderr, exit 6
//
// # Exactly once, across failovers
//
// Every create carries a unique name: --name (or the request file's name)
// when given, else a generated "livyctl-<16 hex digits>". A create whose
// answer is lost in a failover is looked up by that name, not sent again.
// submit follows the log by asking GET /batches/{id}/log?from=N&size=100
// with N the number of lines already printed (Livy's from defaults to the
// tail and size to 100, and a server may answer fewer lines, so it asks
// again until it has the total): a failover in between loses no line and
// prints none twice. Interrupted (SIGINT, SIGTERM) or past --timeout, it
// stops waiting, leaves the batch running and says how to resume exactly
// where it stopped: livyctl batch log --follow --from N NAME.
//
// # Requests
//
// A batch or session request comes from flags, or from a JSON or YAML file
// (-f req.yaml, - for stdin) with Livy's field names (file, className,
// args, jars, pyFiles, files, archives, driverMemory, driverCores,
// executorMemory, executorCores, numExecutors, queue, name, proxyUser,
// conf; sessions: kind, heartbeatTimeoutInSecond, ttl, idleTimeout). A
// field Livy does not know is an error naming it. Flags override the
// file's fields; --conf k=v entries are merged over the file's conf.
// Arguments after "--" are appended to the batch's args.
//
// # Output
//
// get, list and create print a table (aligned columns ID, NAME, STATE,
// APPID, …) or, with -o json or -o yaml, Livy's JSON objects (list: Livy's
// {"from","total","sessions"} answer). Progress (state changes, elapsed
// time) goes to stderr when stderr is a terminal, or with --verbose.
// Errors are one line on stderr starting with "livyctl: ".
//
// # Flags
//
// The target, ZooKeeper and TLS flags and their environment variables are
// livy-find's (internal/cli): --target, --zk, --root, --mode, --layout,
// --livy-conf, --endpoints, --hive-namespace, --zk-auth, --ca-file,
// --zk-tls, --zk-ca-file. Authentication to Livy: --user with
// --password-file or $LIVY_PASSWORD (HTTP Basic), --bearer-token-file
// (or --token-file), --spnego (or --ccache: the credential cache) or
// --keytab with --principal (Kerberos SPNEGO), --krb5-conf. Secrets are never printed. --timeout bounds the
// whole command (default: none), --poll sets how often waits poll (default
// 1s). "livyctl help" and "livyctl VERB -h" list every flag.
//
// # Exit status
//
//	0    ok (submit, log --follow: the batch succeeded)
//	1    not found (no such batch, session or statement; no active server)
//	2    usage error, or Livy rejected the request (400, 409)
//	3    Livy or ZooKeeper unreachable, or --timeout passed
//	4    not authorized (401/403, no Kerberos ticket, ZooKeeper ACL)
//	6    the job failed (batch or session dead, killed or error; a failed statement)
//	130  interrupted by SIGINT, 143 by SIGTERM (the job is left running)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/livyha/livyha/internal/cli"
)

const name = "livyctl"

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigc
		signal.Stop(sigc) // a second signal kills the process the default way
		cancel(&signalError{sig: s})
	}()
	st := &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, tty: isTerminal(os.Stderr)}
	code := run(ctx, os.Args[1:], st)
	cancel(nil)
	os.Exit(code)
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// signalError is the cancellation cause of a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string {
	return "interrupted by " + sigName(e.sig)
}

func sigName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// code is 128 + the signal's number.
func (e *signalError) code() int {
	if n, ok := e.sig.(syscall.Signal); ok {
		return cli.ExitSignal + int(n)
	}
	return cli.ExitSignal + int(syscall.SIGINT)
}

// stdio is the command's standard streams; tty says whether err is a
// terminal (progress is shown there).
type stdio struct {
	in       io.Reader
	out, err io.Writer
	tty      bool
}

// getenv is os.Getenv; a variable so that tests can replace it.
var getenv = os.Getenv

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, st *stdio) int {
	inv, err := parse(args)
	if err != nil {
		if inv != nil && inv.help {
			fmt.Fprint(st.out, helpText(inv.verb))
			return cli.ExitOK
		}
		return cli.Fail(st.err, name, err)
	}
	if inv.help {
		fmt.Fprint(st.out, helpText(inv.verb))
		return cli.ExitOK
	}
	o := inv.opts
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.timeout,
			fmt.Errorf("--timeout %s passed: %w", o.timeout, context.DeadlineExceeded))
		defer cancel()
	}
	e := &cmdEnv{ctx: ctx, o: o, st: st, fs: inv.fs, start: time.Now()}
	err = inv.verb.run(e, inv.args)
	if err == nil {
		return cli.ExitOK
	}
	if ctx.Err() != nil {
		// Interrupted or timed out: say so (not the request's error,
		// which only echoes the cancellation) and how to go on.
		cause := context.Cause(ctx)
		msg := cause.Error()
		if e.resume != "" {
			msg += "; " + e.resume
		}
		fmt.Fprintln(st.err, name+": "+cli.OneLine(msg))
		var se *signalError
		if errors.As(cause, &se) {
			return se.code()
		}
		return cli.ExitCode(cause)
	}
	return cli.Fail(st.err, name, err)
}

// cmdEnv is what a verb runs with.
type cmdEnv struct {
	ctx   context.Context
	o     *options
	st    *stdio
	fs    *flag.FlagSet
	start time.Time
	// resume says what the job is and how to pick it up again, for the
	// message of an interrupted or timed-out wait ("" when nothing is
	// left running).
	resume string
}

// progress prints a progress line on stderr when it is a terminal, or
// with --verbose.
func (e *cmdEnv) progress(format string, args ...any) {
	if !e.st.tty && !e.o.verbose {
		return
	}
	fmt.Fprintf(e.st.err, "%s: %s (%.1fs)\n", name, fmt.Sprintf(format, args...), time.Since(e.start).Seconds())
}

// note prints an informational line on stderr.
func (e *cmdEnv) note(format string, args ...any) {
	fmt.Fprintln(e.st.err, name+": "+cli.OneLine(fmt.Sprintf(format, args...)))
}

// given reports whether flag n was set on the command line.
func (e *cmdEnv) given(n string) bool {
	set := false
	e.fs.Visit(func(f *flag.Flag) { set = set || f.Name == n })
	return set
}

// idOrName is a positional ID|NAME: all digits is an id.
type idOrName struct {
	id   int
	name string
}

func (k idOrName) String() string {
	if k.name != "" {
		return k.name
	}
	return fmt.Sprint(k.id)
}

func parseKey(what string, args []string) (idOrName, error) {
	if len(args) != 1 {
		return idOrName{}, cli.Usagef("want one %s ID or NAME, got %d arguments", what, len(args))
	}
	s := strings.TrimSpace(args[0])
	if s == "" {
		return idOrName{}, cli.Usagef("empty %s ID or NAME", what)
	}
	if isDigits(s) {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 0 {
			return idOrName{}, cli.Usagef("bad %s id %q", what, s)
		}
		return idOrName{id: n}, nil
	}
	return idOrName{id: -1, name: s}, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
