package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/livyha/livyha/internal/cli"
)

// options are every flag of every verb; parse checks that a verb is given
// only its own and the common ones.
type options struct {
	targets *cli.TargetFlags
	zkAuth  *cli.ZKAuthFlag
	tls     *cli.TLSFlags
	auth    *cli.AuthFlags

	timeout time.Duration
	poll    time.Duration
	verbose bool

	output  string
	from    int
	size    int
	follow  bool
	wait    bool
	session string

	req reqFlags
}

// commonFlags are accepted by every verb.
var commonFlags = []string{
	"target", "zk", "root", "mode", "layout", "livy-conf", "endpoints", "hive-namespace",
	"zk-auth", "ca-file", "zk-tls", "zk-ca-file",
	"user", "password-file", "bearer-token-file", "token-file", "spnego", "ccache", "keytab", "principal", "krb5-conf",
	"timeout", "poll", "verbose",
}

// The request flags of batches and sessions.
var (
	jobFlags = []string{"f", "name", "proxy-user", "jars", "py-files", "files", "archives",
		"driver-memory", "driver-cores", "executor-memory", "executor-cores", "num-executors", "queue", "conf"}
	batchReqFlags   = append([]string{"file", "class-name", "args"}, jobFlags...)
	sessionReqFlags = append([]string{"kind", "heartbeat-timeout", "ttl", "idle-timeout"}, jobFlags...)
)

func newFlags() (*options, *flag.FlagSet) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o := &options{targets: cli.NewTargetFlags(fs, false)}
	o.zkAuth = cli.NewZKAuthFlag(fs)
	o.tls = cli.NewTLSFlags(fs, true)
	o.auth = cli.NewAuthFlags(fs)
	fs.DurationVar(&o.timeout, "timeout", 0, "give up after `D` for the whole command (default: no limit)")
	fs.DurationVar(&o.poll, "poll", time.Second, "poll states and logs every `D` while waiting")
	fs.BoolVar(&o.verbose, "verbose", false, "log state changes and the client's failovers on stderr even when it is not a terminal")

	fs.StringVar(&o.output, "o", "table", "output `format`: table, json or yaml")
	fs.IntVar(&o.from, "from", -1, "first `N` (log: line, from 0; list: entry)")
	fs.IntVar(&o.size, "size", -1, "at most `M` (log: lines; list: entries, Livy's default 100)")
	fs.BoolVar(&o.follow, "follow", false, "follow the log until the batch finishes; exit with its final state")
	fs.BoolVar(&o.wait, "wait", false, "wait until the session is idle (exit 6 if it ends dead or error)")
	fs.StringVar(&o.session, "session", "", "the session `ID|NAME` to run the code in")
	o.req.define(fs)
	return o, fs
}

// verb is one command.
type verb struct {
	group, name string // "batch" and "submit"; "" and "run"
	synopsis    string // the positional arguments
	summary     string
	flags       []string // its own flags, beyond commonFlags
	run         func(e *cmdEnv, args []string) error
}

func (v *verb) title() string {
	if v.group == "" {
		return v.name
	}
	return v.group + " " + v.name
}

var verbs []*verb

func init() {
	verbs = []*verb{
		{"batch", "submit", "[request flags] [-- ARG...]", "create a batch, follow its log to the end, exit with its final state (0 success, 6 failed)", batchReqFlags, batchSubmit},
		{"batch", "create", "[request flags] [-- ARG...]", "create a batch and print it", append([]string{"o"}, batchReqFlags...), batchCreate},
		{"batch", "get", "ID|NAME", "print a batch", []string{"o"}, batches.getVerb},
		{"batch", "list", "", "print the batches", []string{"o", "from", "size"}, batches.listVerb},
		{"batch", "log", "ID|NAME", "print the batch's log (--follow: until it finishes)", []string{"follow", "from", "size"}, batchLog},
		{"batch", "delete", "ID|NAME", "kill and delete a batch", nil, batches.deleteVerb},
		{"session", "create", "[request flags]", "create an interactive session and print it", append([]string{"o", "wait"}, sessionReqFlags...), sessionCreate},
		{"session", "get", "ID|NAME", "print a session", []string{"o"}, sessions.getVerb},
		{"session", "list", "", "print the sessions", []string{"o", "from", "size"}, sessions.listVerb},
		{"session", "delete", "ID|NAME", "stop and delete a session", nil, sessions.deleteVerb},
		{"", "run", "--session ID|NAME CODE|-", "run CODE (\"-\": stdin) in a session and print its output", []string{"session", "kind", "o"}, runStatement},
	}
}

func findVerb(group, verbName string) *verb {
	for _, v := range verbs {
		if v.group == group && v.name == verbName {
			return v
		}
	}
	return nil
}

func groupVerbs(group string) []string {
	var ns []string
	for _, v := range verbs {
		if v.group == group {
			ns = append(ns, v.name)
		}
	}
	return ns
}

// invocation is a parsed command line.
type invocation struct {
	opts *options
	fs   *flag.FlagSet
	verb *verb // nil: the whole command
	args []string
	help bool
	// group is "batch" or "session" when only the group was named (help).
	group string
}

// parse parses flags placed anywhere around the verb and its arguments.
func parse(args []string) (*invocation, error) {
	o, fs := newFlags()
	inv := &invocation{opts: o, fs: fs}
	// -h anywhere before "--" asks for help with whatever verb is named.
	var rest []string
	for i, a := range args {
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		switch a {
		case "-h", "-help", "--help":
			inv.help = true
			continue
		}
		rest = append(rest, a)
	}
	args = rest
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				inv.help = true
				return inv, nil
			}
			return inv, cli.Usagef("%s", err.Error())
		}
		r := fs.Args()
		if len(r) == 0 {
			break
		}
		if consumed := len(args) - len(r); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, "--")
			pos = append(pos, r...) // everything after "--" is positional
			break
		}
		pos = append(pos, r[0])
		args = r[1:]
	}
	if len(pos) > 0 && pos[0] == "help" {
		inv.help = true
		pos = pos[1:]
	}
	if len(pos) == 0 || pos[0] == "--" {
		if inv.help {
			return inv, nil
		}
		return inv, cli.Usagef("missing verb (batch submit|create|get|list|log|delete, session create|get|list|delete, run, help)")
	}
	group, vname := "", pos[0]
	switch pos[0] {
	case "batch", "session":
		group, vname = pos[0], ""
		if len(pos) > 1 && pos[1] != "--" {
			vname = pos[1]
		}
		if vname == "" {
			if inv.help {
				inv.group = group
				return inv, nil
			}
			return inv, cli.Usagef("missing %s verb (want %s)", group, strings.Join(groupVerbs(group), ", "))
		}
		pos = pos[2:]
	default:
		pos = pos[1:]
	}
	v := findVerb(group, vname)
	if v == nil {
		if group != "" {
			return inv, cli.Usagef("unknown verb %q for %s (want %s)", vname, group, strings.Join(groupVerbs(group), ", "))
		}
		return inv, cli.Usagef("unknown verb %q (want batch, session, run or help)", vname)
	}
	inv.verb = v
	if inv.help {
		return inv, nil
	}
	// The verb's own flags only.
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(commonFlags, f.Name) && !slices.Contains(v.flags, f.Name) {
			bad = append(bad, flagName(f.Name))
		}
	})
	if len(bad) > 0 {
		return inv, cli.Usagef("%s does not take %s", v.title(), strings.Join(bad, ", "))
	}
	// "--" is kept only where it means something (the batch's args).
	if i := slices.Index(pos, "--"); i >= 0 && !slices.Contains(v.flags, "args") {
		pos = slices.Delete(pos, i, i+1)
	}
	inv.args = pos
	switch o.output {
	case "table", "json", "yaml":
	default:
		return inv, cli.Usagef("bad -o %q (want table, json or yaml)", o.output)
	}
	if o.timeout < 0 {
		return inv, cli.Usagef("bad --timeout %s (must not be negative)", o.timeout)
	}
	if o.poll <= 0 {
		return inv, cli.Usagef("bad --poll %s (must be positive)", o.poll)
	}
	if o.size < -1 || o.size == 0 {
		return inv, cli.Usagef("bad --size %d (must be positive)", o.size)
	}
	if o.from < -1 {
		return inv, cli.Usagef("bad --from %d (must not be negative)", o.from)
	}
	return inv, nil
}

func flagName(n string) string {
	if len(n) == 1 {
		return "-" + n
	}
	return "--" + n
}

// flagLines renders the flags' usage lines.
func flagLines(names []string) string {
	_, fs := newFlags()
	var b strings.Builder
	for _, n := range names {
		f := fs.Lookup(n)
		if f == nil {
			continue
		}
		arg, usage := flag.UnquoteUsage(f)
		left := "  " + flagName(n)
		if arg != "" {
			left += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "-1" && f.DefValue != "0s" {
			usage += " (default " + f.DefValue + ")"
		}
		if len(left) < 26 {
			left += strings.Repeat(" ", 26-len(left))
		} else {
			left += "\n" + strings.Repeat(" ", 26)
		}
		b.WriteString(left + usage + "\n")
	}
	return b.String()
}

func commonUsage() string {
	o, _ := newFlags()
	return o.targets.Usage() + cli.ZKAuthUsage + cli.TLSUsage(true) + "\n" + cli.AuthUsage +
		"\nwaiting:\n" + flagLines([]string{"timeout", "poll", "verbose"})
}

const overview = `usage: livyctl [flags] VERB [flags] [ARGS]

verbs:
`

// helpText is the usage text of v, or of the whole command (v nil).
func helpText(v *verb) string {
	var b strings.Builder
	if v == nil {
		b.WriteString(overview)
		for _, v := range verbs {
			fmt.Fprintf(&b, "  %-16s %s\n", v.title(), v.summary)
		}
		b.WriteString("  help [VERB]      this text, or a verb's\n\nverb flags:\n")
		seen := map[string]bool{}
		var own []string
		for _, v := range verbs {
			for _, f := range v.flags {
				if !seen[f] {
					seen[f] = true
					own = append(own, f)
				}
			}
		}
		sort.Strings(own)
		b.WriteString(flagLines(own))
		b.WriteString("\n" + requestHelp + "\n" + commonUsage() + "\n" + cli.JobExitCodesHelp)
		return b.String()
	}
	fmt.Fprintf(&b, "usage: livyctl [flags] %s %s\n\n%s\n", v.title(), v.synopsis, v.summary)
	if len(v.flags) > 0 {
		b.WriteString("\nflags:\n" + flagLines(v.flags))
	}
	if slices.Contains(v.flags, "f") {
		b.WriteString("\n" + requestHelp)
	}
	b.WriteString("\n" + commonUsage() + "\n" + cli.JobExitCodesHelp)
	return b.String()
}

const requestHelp = `request: from flags, or a JSON or YAML file (-f PATH, - for stdin) with Livy's field names;
  flags override the file's fields, --conf entries are merged over its conf; a field Livy does
  not know is an error. Without a name, a unique one (livyctl-<hex>) is generated, so that a
  create cut by a failover is looked up, never made twice.
`
