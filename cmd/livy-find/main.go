// Command livy-find finds Livy servers registered in ZooKeeper, for shell
// scripts and operators.
//
// Usage:
//
//	livy-find [flags] active
//	livy-find [flags] session ID
//	livy-find [flags] servers
//	livy-find [flags] watch
//
// Subcommands:
//
//	active      print the active server: the latch leader; in multi-active
//	            mode without a latch, one live server chosen at random
//	session ID  print the server owning Livy session ID (the active server in
//	            active-passive mode; server ID/10000000 in multi-active mode)
//	thrift      print host:port of the active server's Thrift (JDBC) endpoint
//	jdbc-url    print a Hive JDBC URL for it, with the published transport
//	            settings (jdbc:hive2://host:port/default[;transportMode=http;httpPath=P])
//	servers     print every registered server, the leader first, one per line
//	            (a JSON array with --format json); skipped znodes are reported
//	            on stderr as "livy-find: skipped <path>: <reason>"
//	watch       print the active server, then again each time it changes,
//	            until SIGINT or SIGTERM; while there is none, say so on stderr
//	help        print this help on stdout
//
// Flags (before or after the subcommand):
//
//	--zk CONNECT    ZooKeeper connect string "host:port[,host:port...][/chroot]"
//	                (default $LIVY_ZK; required)
//	--root PATH     root of the livyha layout (default $LIVY_ZK_ROOT, else /livy)
//	--mode MODE     active-passive (default) or multi-active
//	--timeout D     how long to wait for ZooKeeper (default 10s); in watch mode
//	                it bounds only the first read
//	--format F      url (default): the server's base URL;
//	                hostport: its host:port;
//	                json: {"id","url","thrift","version","leader"} per server
//
// Exit status: 0 found; 1 nothing found (no servers, no leader, no owner);
// 2 usage error (unknown subcommand, bad flag or value, bad connect string or
// root, missing --zk); 3 ZooKeeper unreachable or timed out. Errors are
// printed on stderr as one line starting with "livy-find: ". -h, --help and
// "help" print this help on stdout and exit 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
)

const (
	exitOK          = 0
	exitNotFound    = 1
	exitUsage       = 2
	exitUnavailable = 3
)

const usageText = `usage: livy-find [flags] active|session ID|thrift|jdbc-url|servers|watch|help

  active      the active server (multi-active mode without a latch: a random live server)
  thrift      host:port of the active server's Thrift (JDBC) endpoint
  jdbc-url    a Hive JDBC URL for that endpoint, with its published transport settings
  session ID  the server owning Livy session ID
  servers     every server, the leader first
  watch       the active server, printed again on every change, until interrupted

flags (before or after the subcommand):
  --zk CONNECT   ZooKeeper connect string host:port[,host:port...][/chroot] (default $LIVY_ZK)
  --root PATH    layout root (default $LIVY_ZK_ROOT, else /livy)
  --mode MODE    active-passive (default) | multi-active
  --timeout D    wait at most D for ZooKeeper (default 10s; watch: first read only)
  --format F     url (default) | hostport | json

exit status: 0 found, 1 nothing found, 2 usage error, 3 ZooKeeper unreachable
`

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

// getenv is os.Getenv; a variable so that tests can replace it.
var getenv = os.Getenv

type options struct {
	zk      string
	root    string
	mode    discovery.Mode
	timeout time.Duration
	format  string
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parseArgs parses flags placed anywhere around the subcommand and its
// arguments; getenv supplies the environment defaults. It returns the
// subcommand and its positional arguments.
func parseArgs(args []string, getenv func(string) string) (options, string, []string, error) {
	fs := flag.NewFlagSet("livy-find", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	root := getenv("LIVY_ZK_ROOT")
	if root == "" {
		root = discovery.DefaultRoot
	}
	var o options
	var mode string
	fs.StringVar(&o.zk, "zk", getenv("LIVY_ZK"), "ZooKeeper connect string")
	fs.StringVar(&o.root, "root", root, "layout root")
	fs.StringVar(&mode, "mode", discovery.ActivePassive.String(), "active-passive or multi-active")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "ZooKeeper timeout")
	fs.StringVar(&o.format, "format", "url", "url, hostport or json")

	// Parse, take the first non-flag argument, parse the rest again, and so
	// on: flags may come before or after the subcommand and its arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, "", nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}

	var err error
	if o.mode, err = discovery.ParseMode(mode); err != nil {
		return o, "", nil, usageErrorf("bad --mode %q (want active-passive or multi-active)", mode)
	}
	switch o.format {
	case "url", "hostport", "json":
	default:
		return o, "", nil, usageErrorf("bad --format %q (want url, hostport or json)", o.format)
	}
	if o.timeout <= 0 {
		return o, "", nil, usageErrorf("bad --timeout %s (must be positive)", o.timeout)
	}
	if len(pos) == 0 {
		return o, "", nil, usageErrorf("missing subcommand (active, session ID, servers, watch)")
	}
	return o, pos[0], pos[1:], nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "livy-find: "+oneLine(err))
		return code
	}
	o, cmd, cmdArgs, err := parseArgs(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "livy-find: %s (see livy-find -h)\n", oneLine(err))
		return exitUsage
	}

	sessionID := -1
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	case "active", "servers", "watch", "thrift", "jdbc-url":
		if len(cmdArgs) > 0 {
			return fail(exitUsage, usageErrorf("%s takes no arguments, got %q", cmd, cmdArgs))
		}
	case "session":
		if len(cmdArgs) != 1 {
			return fail(exitUsage, usageErrorf("usage: livy-find session ID"))
		}
		n, err := strconv.Atoi(cmdArgs[0])
		if err != nil || n < 0 {
			return fail(exitUsage, usageErrorf("bad session id %q (want a non-negative integer)", cmdArgs[0]))
		}
		sessionID = n
	default:
		return fail(exitUsage, usageErrorf("unknown subcommand %q (want active, session, servers or watch)", cmd))
	}
	if strings.TrimSpace(o.zk) == "" {
		return fail(exitUsage, usageErrorf("missing --zk (or $LIVY_ZK)"))
	}
	if _, err := discovery.ParseConnectString(o.zk); err != nil {
		return fail(exitUsage, err)
	}
	if _, err := layout.CleanPath(o.root); err != nil {
		return fail(exitUsage, fmt.Errorf("--root: %w", err))
	}

	r, err := discovery.NewResolver(o.zk, discovery.WithRoot(o.root), discovery.WithMode(o.mode))
	if err != nil {
		return fail(exitCode(err), err)
	}
	defer r.Close()

	if cmd == "watch" {
		return watch(ctx, r, o, stdout, stderr)
	}

	wctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	snap, err := r.Wait(wctx)
	if err != nil {
		return fail(exitCode(err), err)
	}
	var out []byte
	switch cmd {
	case "thrift", "jdbc-url":
		srv, err := snap.Active()
		if err != nil {
			return fail(exitCode(err), err)
		}
		if srv.Thrift == "" {
			return fail(exitNotFound, fmt.Errorf("active server %d publishes no Thrift endpoint", srv.ID))
		}
		out = formatThrift(o.format, cmd, srv)
	case "active", "session":
		var srv discovery.Server
		if cmd == "active" {
			srv, err = snap.Active()
		} else {
			srv, err = snap.Owner(discovery.Interactive, sessionID)
		}
		if err != nil {
			return fail(exitCode(err), err)
		}
		out = format(o.format, srv)
	case "servers":
		for _, p := range snap.Problems {
			fmt.Fprintf(stderr, "livy-find: skipped %s: %s\n", p.Path, oneLine(errors.New(p.Reason)))
		}
		if len(snap.Servers) == 0 {
			return fail(exitNotFound, discovery.ErrNoServers)
		}
		out = formatList(o.format, snap.Servers)
	}
	if _, err := stdout.Write(out); err != nil {
		return fail(exitNotFound, fmt.Errorf("write: %w", err))
	}
	return exitOK
}

// watch prints the active server each time it changes until ctx ends.
func watch(ctx context.Context, r *discovery.Resolver, o options, stdout, stderr io.Writer) int {
	wctx, cancel := context.WithTimeout(ctx, o.timeout)
	_, err := r.Wait(wctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return exitOK // interrupted before the first read
		}
		fmt.Fprintln(stderr, "livy-find: "+oneLine(err))
		return exitCode(err)
	}
	var (
		last   string // what was printed last: "out:<line>" or "err:<msg>"
		lastID = -1   // multi-active without a latch: stick to this server
	)
	for s := range r.Subscribe(ctx) {
		srv, err := s.Active()
		if err == nil && o.mode == discovery.MultiActive && !s.HasLatch() && lastID >= 0 {
			// Active picks at random; do not flap to another live server
			// while the one printed last is still registered.
			if prev, ok := s.ServerByID(lastID); ok {
				srv = prev
			}
		}
		var key string
		if err != nil {
			key = "err:" + oneLine(err)
			lastID = -1
		} else {
			key = "out:" + string(format(o.format, srv))
			lastID = srv.ID
		}
		if key == last {
			continue
		}
		last = key
		if err != nil {
			fmt.Fprintln(stderr, "livy-find: no active server: "+oneLine(err))
			continue
		}
		if _, err := io.WriteString(stdout, key[len("out:"):]); err != nil {
			fmt.Fprintln(stderr, "livy-find: write: "+oneLine(err))
			return exitNotFound
		}
	}
	return exitOK
}

// jsonServer is the JSON shape of a server: always exactly these keys.
type jsonServer struct {
	ID      int    `json:"id"`
	URL     string `json:"url"`
	Thrift  string `json:"thrift"`
	Version string `json:"version"`
	Leader  bool   `json:"leader"`
}

func toJSON(s discovery.Server) jsonServer {
	return jsonServer{ID: s.ID, URL: s.URL, Thrift: s.Thrift, Version: s.Version, Leader: s.Leader}
}

// jdbcURL is the Hive JDBC URL of a server's Thrift endpoint with its
// published transport settings.
func jdbcURL(s discovery.Server) string {
	u := "jdbc:hive2://" + s.Thrift + "/default"
	if s.ThriftTransport == "http" {
		path := strings.TrimPrefix(s.ThriftHTTPPath, "/")
		if path == "" {
			path = "cliservice"
		}
		u += ";transportMode=http;httpPath=" + path
	}
	return u
}

// formatThrift renders the thrift and jdbc-url answers.
func formatThrift(f, cmd string, s discovery.Server) []byte {
	line := s.Thrift
	if cmd == "jdbc-url" {
		line = jdbcURL(s)
	}
	if f != "json" {
		return []byte(line + "\n")
	}
	b, _ := json.Marshal(struct {
		ID        int    `json:"id"`
		Thrift    string `json:"thrift"`
		Transport string `json:"transport"`
		HTTPPath  string `json:"http_path"`
		JDBCURL   string `json:"jdbc_url"`
		Leader    bool   `json:"leader"`
	}{s.ID, s.Thrift, transportOf(s), s.ThriftHTTPPath, jdbcURL(s), s.Leader})
	return append(b, '\n')
}

func transportOf(s discovery.Server) string {
	if s.ThriftTransport == "" {
		return "binary"
	}
	return s.ThriftTransport
}

// format renders one server, newline included.
func format(f string, s discovery.Server) []byte {
	switch f {
	case "hostport":
		return []byte(s.HostPort + "\n")
	case "json":
		b, _ := json.Marshal(toJSON(s)) // cannot fail: plain strings, ints, bools
		return append(b, '\n')
	}
	return []byte(s.URL + "\n")
}

func formatList(f string, servers []discovery.Server) []byte {
	if f == "json" {
		js := make([]jsonServer, len(servers))
		for i, s := range servers {
			js[i] = toJSON(s)
		}
		b, _ := json.Marshal(js)
		return append(b, '\n')
	}
	var out []byte
	for _, s := range servers {
		out = append(out, format(f, s)...)
	}
	return out
}

// exitCode maps an error to the documented exit status.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case errors.As(err, &ue),
		errors.Is(err, discovery.ErrBadConnectString),
		errors.Is(err, discovery.ErrBadPath):
		return exitUsage
	case errors.Is(err, discovery.ErrNoServers),
		errors.Is(err, discovery.ErrNoLeader),
		errors.Is(err, discovery.ErrNoOwner):
		return exitNotFound
	}
	// ErrUnavailable, deadlines and anything unexpected about ZooKeeper.
	return exitUnavailable
}

var newlines = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// oneLine renders err as a single line without the "discovery: " prefixes.
func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), ": discovery: ", ": ")
	return newlines.Replace(strings.TrimPrefix(s, "discovery: "))
}
