// Command livy-find finds the servers of a highly-available Livy cluster —
// in ZooKeeper (livyha's canonical layout, the Livy HA proposals PR #212,
// PR #189 and PR #276, HiveServer2/Kyuubi namespaces) or in a static list
// of Livy URLs — for shell scripts and operators.
//
// Usage:
//
//	livy-find [flags] active
//	livy-find [flags] session ID
//	livy-find [flags] batch ID
//	livy-find [flags] thrift
//	livy-find [flags] jdbc-url
//	livy-find [flags] servers
//	livy-find [flags] watch
//	livy-find [flags] probe
//
// Subcommands:
//
//	active      print the active server's REST URL: the leader; without
//	            leader election (multi-active or session-ha without a latch,
//	            active-active, Hive zooKeeper mode) a live server chosen at
//	            random. A server without a REST URL (a Hive registration) is
//	            exit 1: use thrift or jdbc-url for those
//	session ID  print the server owning interactive session ID: the active
//	            server in active-passive mode, server ID/10000000 in
//	            multi-active mode, the ownership record (else ID/10000000)
//	            in session-ha mode
//	batch ID    the same for batch ID (batches and interactive sessions have
//	            their own ids and, in session-ha mode, their own records)
//	thrift      print host:port of the Thrift (JDBC) endpoint of the leader
//	            or, in Hive zooKeeper mode, of the first registration (else
//	            of the server active picks)
//	jdbc-url    print a Hive JDBC URL for that endpoint with its published
//	            settings: jdbc:hive2://host:port/default[;transportMode=http;httpPath=P][;auth=noSasl]
//	servers     print every server, the leader first, one per line (a JSON
//	            array with --format json); skipped znodes are reported on
//	            stderr as "livy-find: skipped <path>: <reason>", the first 10,
//	            then "livy-find: skipped N more znodes (M in all)"
//	watch       print the active server, then again each time it changes,
//	            until SIGINT or SIGTERM; while there is none, say so on stderr
//	probe       list every known layout under the target's ZooKeeper (its
//	            chroot), with the target string that reads it, as
//	            "<layout> <path> <detail>" and "  <target>" lines, or a JSON
//	            array with --format json; a static list is a usage error
//	help        print the usage text on stdout
//
// Target flags (one target; flags over environment; see internal/cli for
// the rules):
//
//	--target T           a target string (env LIVY_TARGET): a ZooKeeper connect string
//	                     host:port[,host:port...][/chroot] (the canonical layout),
//	                     zk://hosts[/chroot]?layout=canonical|pr212|pr189|pr276|hive|hive-ha&…,
//	                     livy-conf:///path/to/livy.conf[?zk=CONNECT] or
//	                     static://host[:port],...[/base][?scheme=https]
//	--zk CONNECT         ZooKeeper connect string (env LIVY_ZK): the canonical layout,
//	                     or --layout's, or --hive-namespace's
//	--root PATH          canonical layout root (env LIVY_ZK_ROOT; default /livy)
//	--mode MODE          canonical layout mode: active-passive (default), multi-active,
//	                     session-ha or active-active
//	--layout L           the layout under --zk: canonical (default), pr189, pr276, hive,
//	                     hive-ha, pr212 (with --livy-conf)
//	--livy-conf PATH     a PR #212 cluster's livy.conf (env LIVY_CONF)
//	--endpoints LIST     a static list host[:port] or http(s)://host[:port][/base], comma-
//	                     separated (env LIVY_ENDPOINTS); one scheme for all, port 8998 by default
//	--hive-namespace NS  a HiveServer2/Kyuubi namespace under --zk (with --layout hive-ha:
//	                     zooKeeperHA mode)
//	--zk-auth SCHEME:AUTH  ZooKeeper credentials, e.g. digest:user:password (env
//	                     LIVY_ZK_AUTH; never printed)
//	--ca-file PATH       PEM CA bundle for the Livy servers' https certificates when
//	                     probing a static list, instead of the system roots (env LIVY_CA_FILE)
//	--zk-tls             talk to ZooKeeper over TLS: the connect string names its
//	                     secureClientPorts (env LIVY_ZK_TLS=true)
//	--zk-ca-file PATH    PEM CA bundle for ZooKeeper's certificates; implies --zk-tls
//	                     (env LIVY_ZK_CA_FILE)
//
// Other flags (before or after the subcommand):
//
//	--timeout D    how long to wait for ZooKeeper or the static list (default
//	               10s); in watch mode it bounds only the first read
//	--format F     url (default): the server's base URL; hostport: its
//	               host:port (a Hive registration's Thrift address); json.
//	               thrift and jdbc-url print their line unless json; probe
//	               prints text unless json (url and hostport are usage errors)
//
// JSON output (--format json) has exactly these keys, every one always
// present ("" or -1 when unknown; id is -1 for layouts without numeric ids):
//
//	active, session, batch, watch  {"name","id","url","thrift","version","leader"}
//	servers                        [ the same objects ]
//	thrift, jdbc-url               {"name","id","thrift","transport","http_path","auth","jdbc_url","leader"}
//	probe                          [ {"layout","path","detail","target"} ]
//
// name is the server's name in its layout (the decimal id in the canonical
// layout, a PR #212 participant id, a znode name, a host:port); transport
// is binary or http, auth the published hive.server2.authentication.
//
// Exit status (internal/cli): 0 found; 1 nothing found (no servers, no
// leader, no owner, no endpoint of the kind asked for); 2 usage error
// (unknown subcommand, bad flag, target, connect string or path, missing
// target); 3 ZooKeeper or the static list unreachable or timed out; 4 not
// authorized (ZooKeeper denied access). Errors are printed on stderr as one
// line starting with "livy-find: ". -h, --help and "help" print the usage
// text on stdout and exit 0.
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
	"github.com/livyha/livyha/internal/cli"
)

const name = "livy-find"

const usageHead = `usage: livy-find [flags] active|session ID|batch ID|thrift|jdbc-url|servers|watch|probe|help

  active      the active server's REST URL (without election: a random live server)
  session ID  the server owning interactive session ID
  batch ID    the server owning batch ID
  thrift      host:port of the Thrift (JDBC) endpoint: the leader's, in Hive zooKeeper
              mode the first registration's
  jdbc-url    a Hive JDBC URL for that endpoint, with its published transport settings
  servers     every server, the leader first
  watch       the active server, printed again on every change, until interrupted
  probe       every known layout under the target's ZooKeeper, with the target to use
  help        this text

`

const usageTail = `
other flags (before or after the subcommand):
  --timeout D          wait at most D for ZooKeeper or the static list (default 10s; watch: first read only)
  --format F           url (default) | hostport | json (thrift, jdbc-url: their line unless json;
                       probe: text unless json)

json keys (always all of them; "" or -1 when unknown):
  active, session, batch, watch  {"name","id","url","thrift","version","leader"}
  servers                        [ the same objects ]
  thrift, jdbc-url               {"name","id","thrift","transport","http_path","auth","jdbc_url","leader"}
  probe                          [ {"layout","path","detail","target"} ]

`

// usageText is the -h output.
var usageText = func() string {
	o, _ := newFlags()
	return usageHead + o.targets.Usage() + cli.ZKAuthUsage + cli.TLSUsage(true) + usageTail + cli.ExitCodesHelp
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

// getenv is os.Getenv; a variable so that tests can replace it.
var getenv = os.Getenv

type options struct {
	targets *cli.TargetFlags
	zkAuth  *cli.ZKAuthFlag
	tls     *cli.TLSFlags
	timeout time.Duration
	format  string // "" until parsed: the command's default
}

// newFlags defines every flag.
func newFlags() (*options, *flag.FlagSet) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o := &options{targets: cli.NewTargetFlags(fs, false)}
	o.zkAuth = cli.NewZKAuthFlag(fs)
	o.tls = cli.NewTLSFlags(fs, true)
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for ZooKeeper or the static list")
	fs.StringVar(&o.format, "format", "", "url, hostport or json")
	return o, fs
}

// parseArgs parses flags placed anywhere around the subcommand and its
// arguments. It returns the subcommand and its positional arguments; the
// target is resolved later (o.targets.Resolve), so that a bad subcommand is
// reported first.
func parseArgs(args []string) (*options, string, []string, error) {
	o, fs := newFlags()
	// Parse, take the first non-flag argument, parse the rest again, and so
	// on: flags may come before or after the subcommand and its arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, "", nil, err
			}
			return o, "", nil, cli.Usagef("%s", err.Error())
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
	switch o.format {
	case "", "url", "hostport", "json":
	default:
		return o, "", nil, cli.Usagef("bad --format %q (want url, hostport or json)", o.format)
	}
	if o.timeout <= 0 {
		return o, "", nil, cli.Usagef("bad --timeout %s (must be positive)", o.timeout)
	}
	if len(pos) == 0 {
		return o, "", nil, cli.Usagef("missing subcommand (active, session ID, batch ID, thrift, jdbc-url, servers, watch, probe or help)")
	}
	return o, pos[0], pos[1:], nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int { return cli.Fail(stderr, name, err) }
	o, cmd, cmdArgs, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText)
		return cli.ExitOK
	}
	if err != nil {
		return fail(err)
	}

	id := -1
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usageText)
		return cli.ExitOK
	case "active", "servers", "watch", "thrift", "jdbc-url", "probe":
		if len(cmdArgs) > 0 {
			return fail(cli.Usagef("%s takes no arguments, got %q", cmd, cmdArgs))
		}
	case "session", "batch":
		if len(cmdArgs) != 1 {
			return fail(cli.Usagef("usage: livy-find %s ID", cmd))
		}
		n, err := strconv.Atoi(cmdArgs[0])
		if err != nil || n < 0 {
			return fail(cli.Usagef("bad %s id %q (want a non-negative integer)", cmd, cmdArgs[0]))
		}
		id = n
	default:
		return fail(cli.Usagef("unknown subcommand %q (want active, session, batch, thrift, jdbc-url, servers, watch, probe or help)", cmd))
	}
	switch {
	case cmd == "probe" && (o.format == "url" || o.format == "hostport"):
		return fail(cli.Usagef("probe prints text or --format json, not --format %s", o.format))
	case o.format == "":
		o.format = "url"
	}
	tgt, err := o.targets.Resolve(getenv)
	if err != nil {
		return fail(err)
	}
	ropts, err := cli.ResolverOptions(o.zkAuth, o.tls, getenv)
	if err != nil {
		return fail(err)
	}
	if cmd == "probe" {
		return probe(ctx, tgt, ropts, o, stdout, stderr)
	}

	r, err := discovery.NewResolver(tgt.String, ropts...)
	if err != nil {
		return fail(err)
	}
	defer r.Close()

	if cmd == "watch" {
		return watch(ctx, r, o, stdout, stderr)
	}

	wctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	snap, err := r.Wait(wctx)
	if err != nil {
		return fail(err)
	}
	var out []byte
	switch cmd {
	case "thrift", "jdbc-url":
		srv, err := thriftServer(snap, tgt)
		if err != nil {
			return fail(err)
		}
		if srv.Thrift == "" {
			return fail(cli.NotFoundf("active server %s publishes no Thrift endpoint", srv.Name))
		}
		out = formatThrift(o.format, cmd, srv)
	case "active", "session", "batch":
		var srv discovery.Server
		switch cmd {
		case "active":
			srv, err = snap.Active()
		case "session":
			srv, err = r.Owner(wctx, discovery.Interactive, id) // reads a session-ha record
		case "batch":
			srv, err = r.Owner(wctx, discovery.Batch, id)
		}
		if err != nil {
			return fail(err)
		}
		if out, err = format(o.format, srv); err != nil {
			return fail(err)
		}
	case "servers":
		for i, p := range snap.Problems {
			if i == maxProblemLines {
				// Garbage at scale (thousands of bad children) is
				// summarised, not printed line by line.
				fmt.Fprintf(stderr, "%s: skipped %d more znodes (%d in all)\n", name, len(snap.Problems)-i, len(snap.Problems))
				break
			}
			fmt.Fprintf(stderr, "%s: skipped %s: %s\n", name, p.Path, cli.OneLine(p.Reason))
		}
		if err := snap.Err(); err != nil {
			return fail(err)
		}
		if out, err = formatList(o.format, snap.Servers); err != nil {
			return fail(err)
		}
	}
	if _, err := stdout.Write(out); err != nil {
		return fail(&cli.ExitError{Code: cli.ExitNotFound, Err: fmt.Errorf("write: %w", err)})
	}
	return cli.ExitOK
}

// thriftServer is the server whose Thrift endpoint thrift and jdbc-url
// print: the leader; in Hive zooKeeper mode, which elects none, the first
// registration; else the server Active picks.
func thriftServer(snap *discovery.Snapshot, tgt cli.Target) (discovery.Server, error) {
	if ld, ok := snap.Leader(); ok {
		return ld, nil
	}
	if tgt.Parsed.Kind == "zk" && tgt.Parsed.Layout == discovery.LayoutHive && len(snap.Servers) > 0 {
		return snap.Servers[0], nil
	}
	return snap.Active()
}

// watch prints the active server each time it changes until ctx ends.
func watch(ctx context.Context, r *discovery.Resolver, o *options, stdout, stderr io.Writer) int {
	wctx, cancel := context.WithTimeout(ctx, o.timeout)
	_, err := r.Wait(wctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return cli.ExitOK // interrupted before the first read
		}
		return cli.Fail(stderr, name, err)
	}
	var (
		last     string // what was printed last: "out:<line>" or "err:<msg>"
		lastName string // without election: stick to this server
	)
	for s := range r.Subscribe(ctx) {
		srv, err := s.Active()
		if err == nil && s.Mode != discovery.ActivePassive && !s.HasLatch() && lastName != "" {
			// Active picks at random; do not flap to another live server
			// while the one printed last is still registered.
			if prev, ok := s.ServerByName(lastName); ok {
				srv = prev
			}
		}
		var key string
		if err != nil {
			key = "err:" + cli.OneLine(err.Error())
			lastName = ""
		} else {
			line, ferr := format(o.format, srv)
			if ferr != nil {
				return cli.Fail(stderr, name, ferr) // no REST URL: it will not get one
			}
			key = "out:" + string(line)
			lastName = srv.Name
		}
		if key == last {
			continue
		}
		last = key
		if err != nil {
			fmt.Fprintln(stderr, name+": no active server: "+cli.OneLine(err.Error()))
			continue
		}
		if _, err := io.WriteString(stdout, key[len("out:"):]); err != nil {
			return cli.Fail(stderr, name, &cli.ExitError{Code: cli.ExitNotFound, Err: fmt.Errorf("write: %w", err)})
		}
	}
	return cli.ExitOK
}

// probe lists the known layouts under the target's ZooKeeper.
// maxProblemLines bounds the skipped-znode lines livy-find servers prints.
const maxProblemLines = 10

func probe(ctx context.Context, tgt cli.Target, popts []discovery.ResolverOption, o *options, stdout, stderr io.Writer) int {
	zkc, err := cli.ZooKeeperOf(tgt)
	if err != nil {
		return cli.Fail(stderr, name, fmt.Errorf("probe: %w", err))
	}
	pctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	found, err := discovery.Probe(pctx, zkc, popts...)
	if err != nil {
		return cli.Fail(stderr, name, err)
	}
	var out []byte
	if o.format == "json" {
		js := make([]jsonFinding, len(found))
		for i, f := range found {
			js[i] = jsonFinding{Layout: string(f.Layout), Path: f.Path, Detail: f.Detail, Target: f.Target}
		}
		b, _ := json.Marshal(js)
		out = append(b, '\n')
	} else {
		for _, f := range found {
			out = fmt.Appendf(out, "%s %s %s\n  %s\n", f.Layout, f.Path, cli.OneLine(f.Detail), f.Target)
		}
	}
	if _, err := stdout.Write(out); err != nil {
		return cli.Fail(stderr, name, &cli.ExitError{Code: cli.ExitNotFound, Err: fmt.Errorf("write: %w", err)})
	}
	if len(found) == 0 {
		return cli.Fail(stderr, name, cli.NotFoundf("probe: no known Livy or Hive layout found in ZooKeeper %s", zkc))
	}
	return cli.ExitOK
}

// jsonServer is the JSON shape of a server: always exactly these keys.
type jsonServer struct {
	Name    string `json:"name"`
	ID      int    `json:"id"`
	URL     string `json:"url"`
	Thrift  string `json:"thrift"`
	Version string `json:"version"`
	Leader  bool   `json:"leader"`
}

func toJSON(s discovery.Server) jsonServer {
	return jsonServer{Name: s.Name, ID: s.ID, URL: s.URL, Thrift: s.Thrift, Version: s.Version, Leader: s.Leader}
}

// jsonThrift is the JSON shape of thrift and jdbc-url: the server's name,
// id, thrift and leader keys, and the Thrift settings.
type jsonThrift struct {
	Name      string `json:"name"`
	ID        int    `json:"id"`
	Thrift    string `json:"thrift"`
	Transport string `json:"transport"`
	HTTPPath  string `json:"http_path"`
	Auth      string `json:"auth"`
	JDBCURL   string `json:"jdbc_url"`
	Leader    bool   `json:"leader"`
}

// jsonFinding is the JSON shape of one probe finding.
type jsonFinding struct {
	Layout string `json:"layout"`
	Path   string `json:"path"`
	Detail string `json:"detail"`
	Target string `json:"target"`
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
	if strings.EqualFold(s.ThriftAuth, "NOSASL") {
		u += ";auth=noSasl" // a NOSASL HiveServer2 refuses the driver's default SASL handshake
	}
	return u
}

func transportOf(s discovery.Server) string {
	if s.ThriftTransport == "" {
		return "binary"
	}
	return s.ThriftTransport
}

// formatThrift renders the thrift and jdbc-url answers.
func formatThrift(f, cmd string, s discovery.Server) []byte {
	if f != "json" {
		line := s.Thrift
		if cmd == "jdbc-url" {
			line = jdbcURL(s)
		}
		return []byte(line + "\n")
	}
	b, _ := json.Marshal(jsonThrift{Name: s.Name, ID: s.ID, Thrift: s.Thrift, Transport: transportOf(s),
		HTTPPath: s.ThriftHTTPPath, Auth: s.ThriftAuth, JDBCURL: jdbcURL(s), Leader: s.Leader})
	return append(b, '\n')
}

// noURL is the error for a server known only by its Thrift endpoint.
func noURL(s discovery.Server) error {
	return cli.NotFoundf("server %s has no REST URL (a Hive registration publishes only Thrift): use livy-find thrift or jdbc-url", s.Name)
}

// format renders one server, newline included. active, session and batch
// want a REST server: one without a URL is an error in every format.
func format(f string, s discovery.Server) ([]byte, error) {
	if s.URL == "" {
		return nil, noURL(s)
	}
	switch f {
	case "hostport":
		return []byte(s.HostPort + "\n"), nil
	case "json":
		b, _ := json.Marshal(toJSON(s)) // cannot fail: plain strings, ints, bools
		return append(b, '\n'), nil
	}
	return []byte(s.URL + "\n"), nil
}

// formatList renders servers: every format lists Hive registrations
// (hostport: their Thrift address) except url, which they lack.
func formatList(f string, servers []discovery.Server) ([]byte, error) {
	switch f {
	case "json":
		js := make([]jsonServer, len(servers))
		for i, s := range servers {
			js[i] = toJSON(s)
		}
		b, _ := json.Marshal(js)
		return append(b, '\n'), nil
	case "hostport":
		var out []byte
		for _, s := range servers {
			out = append(out, s.HostPort+"\n"...)
		}
		return out, nil
	}
	var out []byte
	for _, s := range servers {
		if s.URL == "" {
			return nil, cli.NotFoundf("server %s has no REST URL (a Hive registration publishes only Thrift): use --format hostport or json, or livy-find thrift", s.Name)
		}
		out = append(out, s.URL+"\n"...)
	}
	return out, nil
}
