package cli

import (
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
)

// The environment variables of the target flags.
const (
	EnvTarget    = "LIVY_TARGET"    // --target
	EnvZK        = "LIVY_ZK"        // --zk
	EnvRoot      = "LIVY_ZK_ROOT"   // --root
	EnvLivyConf  = "LIVY_CONF"      // --livy-conf
	EnvEndpoints = "LIVY_ENDPOINTS" // --endpoints
)

// TargetFlags are --target and the shorthands that build a target string.
//
// For a reader (NewTargetFlags with canonicalOnly false):
//
//	--target T           any target string (discovery.ParseTarget)      env LIVY_TARGET
//	--zk CONNECT         a ZooKeeper connect string: the canonical layout,
//	                     or --layout's, or --hive-namespace's             env LIVY_ZK
//	--root PATH          the canonical layout's root                     env LIVY_ZK_ROOT
//	--mode MODE          the canonical layout's mode
//	--layout L           the layout under --zk (pr212 only with --livy-conf)
//	--livy-conf PATH     livy-conf://PATH (with --zk: ?zk=CONNECT)        env LIVY_CONF
//	--endpoints LIST     static://host:port,...[/base][?scheme=https]     env LIVY_ENDPOINTS
//	--hive-namespace NS  zk://CONNECT?layout=hive&namespace=NS (or hive-ha with --layout)
//
// A registrar (canonicalOnly true) has only --target, --zk and --root,
// and its target must be the canonical layout without mode=.
//
// The rules:
//
//   - Flags over environment: a variable is read only when its flag is not
//     given (a blank flag counts as not given). When any of --target, --zk,
//     --livy-conf or --endpoints is given as a flag, none of LIVY_TARGET,
//     LIVY_ZK, LIVY_CONF and LIVY_ENDPOINTS is read.
//   - One target: --target excludes --zk, --livy-conf, --endpoints,
//     --layout and --hive-namespace; --endpoints excludes every ZooKeeper
//     flag. Each conflict is a usage error naming both (variables for
//     variables: "$LIVY_TARGET and $LIVY_ZK are both set"). --zk with
//     --livy-conf is livy-conf://PATH?zk=CONNECT; --zk with --layout or
//     --hive-namespace names that layout.
//   - --root and --mode apply to the canonical layout only; with another
//     layout they are usage errors. With --target they override the
//     target's root= and mode=, unless the target sets a different one
//     (a usage error naming both). LIVY_ZK_ROOT is a default: it is not
//     read for a target that is not canonical or sets root= itself.
//   - --endpoints entries are host[:port] or http(s)://host[:port], with
//     one optional /base shared by all; entries without a scheme take the
//     others' (default http), and mixing http:// and https:// is a usage
//     error (a static list has one scheme). The port defaults to 8998.
//   - A relative --livy-conf path is made absolute.
type TargetFlags struct {
	fs            *flag.FlagSet
	canonicalOnly bool
	target, zk    *string
	root, mode    *string
	layout        *string
	livyConf      *string
	endpoints     *string
	hiveNS        *string
}

// NewTargetFlags defines the target flags on fs: all of them, or with
// canonicalOnly only --target, --zk and --root (a registrar's).
func NewTargetFlags(fs *flag.FlagSet, canonicalOnly bool) *TargetFlags {
	f := &TargetFlags{fs: fs, canonicalOnly: canonicalOnly}
	f.target = fs.String("target", "", "target `T` (env "+EnvTarget+")")
	f.zk = fs.String("zk", "", "ZooKeeper connect string `CONNECT` (env "+EnvZK+")")
	f.root = fs.String("root", "", "canonical layout root `PATH` (env "+EnvRoot+"; default /livy)")
	if canonicalOnly {
		return f
	}
	f.mode = fs.String("mode", "", "canonical layout `MODE`")
	f.layout = fs.String("layout", "", "the `layout` under --zk")
	f.livyConf = fs.String("livy-conf", "", "livy.conf `PATH` of a PR #212 cluster (env "+EnvLivyConf+")")
	f.endpoints = fs.String("endpoints", "", "static list of Livy servers `URL,URL` (env "+EnvEndpoints+")")
	f.hiveNS = fs.String("hive-namespace", "", "HiveServer2/Kyuubi `namespace` under --zk")
	return f
}

// Usage returns the target flags' lines for a command's usage text.
func (f *TargetFlags) Usage() string {
	if f.canonicalOnly {
		return `target (flags over environment):
  --target T           the livyha canonical layout (env LIVY_TARGET): a ZooKeeper connect string
                       host:port[,host:port...][/chroot] or zk://host:port[,...][/chroot]?root=PATH
  --zk CONNECT         ZooKeeper connect string host:port[,host:port...][/chroot] (env LIVY_ZK)
  --root PATH          layout root (env LIVY_ZK_ROOT; default /livy; for a --target without root=)
`
	}
	return `target (one of; flags over environment):
  --target T           a target string (env LIVY_TARGET):
                         host:port[,host:port...][/chroot]      ZooKeeper, the livyha canonical layout
                         zk://hosts[/chroot]?layout=canonical|pr212|pr189|pr276|hive|hive-ha
                              [&root=&mode=&path=&namespace=&sasl=&conf=&ids=&hosts=&port=&scheme=]
                         livy-conf:///path/to/livy.conf[?zk=CONNECT]   a PR #212 cluster
                         static://host[:port],...[/base][?scheme=https]  a static list of Livy servers
  --zk CONNECT         ZooKeeper connect string host:port[,host:port...][/chroot] (env LIVY_ZK):
                       the canonical layout, or --layout's, or --hive-namespace's
  --root PATH          canonical layout root (env LIVY_ZK_ROOT; default /livy)
  --mode MODE          canonical layout mode: active-passive (default), multi-active, session-ha,
                       active-active
  --layout L           the layout under --zk: canonical (default), pr189, pr276, hive, hive-ha,
                       pr212 (with --livy-conf)
  --livy-conf PATH     a PR #212 cluster's livy.conf (env LIVY_CONF): livy-conf://PATH; ZooKeeper
                       from the file, or --zk
  --endpoints LIST     static list of Livy servers host[:port] or http(s)://host[:port][/base],
                       comma-separated (env LIVY_ENDPOINTS): one scheme for all, port 8998 by default
  --hive-namespace NS  HiveServer2/Kyuubi namespace NS under --zk (zk://…?layout=hive&namespace=NS;
                       with --layout hive-ha: zooKeeperHA mode)
  --target excludes the other target flags; --root and --mode apply to the canonical layout only.
`
}

// EnvVars returns the environment variables the flags read.
func (f *TargetFlags) EnvVars() []string {
	if f.canonicalOnly {
		return []string{EnvTarget, EnvZK, EnvRoot}
	}
	return []string{EnvTarget, EnvZK, EnvRoot, EnvLivyConf, EnvEndpoints}
}

// Target is a resolved target.
type Target struct {
	// String is the target string to give discovery.NewResolver or
	// discovery.Register: the --target as given, or one built from the
	// shorthands.
	String string
	// Parsed is String parsed.
	Parsed discovery.Target
	// From names the flags and variables it came from, e.g. "--zk and --layout".
	From string
}

// setting is one flag or environment value.
type setting struct {
	name  string // "--zk" or "$LIVY_ZK"
	value string
	flag  bool
}

func (s *setting) given() bool { return s != nil }

// Resolve builds the target from the parsed flags and, where flags are not
// given, getenv. Call it after the FlagSet has parsed the arguments.
func (f *TargetFlags) Resolve(getenv func(string) string) (Target, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	get := func(name string, p *string, env string, envOK bool) *setting {
		if p == nil {
			return nil
		}
		if v := strings.TrimSpace(*p); set[name] && v != "" {
			return &setting{name: "--" + name, value: v, flag: true}
		}
		if env != "" && envOK {
			if v := strings.TrimSpace(getenv(env)); v != "" {
				return &setting{name: "$" + env, value: v}
			}
		}
		return nil
	}
	selFlag := false
	for _, n := range []string{"target", "zk", "livy-conf", "endpoints"} {
		if fl := f.fs.Lookup(n); fl != nil && set[n] && strings.TrimSpace(fl.Value.String()) != "" {
			selFlag = true
		}
	}
	envSel := !selFlag
	var (
		target    = get("target", f.target, EnvTarget, envSel)
		zkc       = get("zk", f.zk, EnvZK, envSel)
		livyConf  = get("livy-conf", f.livyConf, EnvLivyConf, envSel)
		endpoints = get("endpoints", f.endpoints, EnvEndpoints, envSel)
		root      = get("root", f.root, EnvRoot, true)
		mode      = get("mode", f.mode, "", false)
		lay       = get("layout", f.layout, "", false)
		hiveNS    = get("hive-namespace", f.hiveNS, "", false)
	)

	// Validate the values that do not depend on the rest.
	var m discovery.Mode
	if mode.given() {
		var err error
		if m, err = discovery.ParseMode(mode.value); err != nil {
			return Target{}, Usagef("bad --mode %q (want active-passive, multi-active, session-ha or active-active)", mode.value)
		}
	}
	var layoutName discovery.Layout
	if lay.given() {
		layoutName = discovery.Layout(lay.value)
		if !slices.Contains(knownLayouts, layoutName) {
			return Target{}, Usagef("bad --layout %q (want canonical, pr212, pr189, pr276, hive or hive-ha)", lay.value)
		}
	}

	// One target.
	if target.given() {
		for _, o := range []*setting{zkc, livyConf, endpoints} {
			if o.given() {
				return Target{}, conflict(target, o, "give one target")
			}
		}
		for _, o := range []*setting{lay, hiveNS} {
			if o.given() {
				return Target{}, conflict(target, o, "put layout= (and namespace=) in the target string")
			}
		}
	}
	if endpoints.given() {
		for _, s := range []*setting{zkc, livyConf, lay, hiveNS} {
			if s.given() {
				return Target{}, conflict(endpoints, s, "a static list has no ZooKeeper layout")
			}
		}
	}

	var (
		s    string
		from []string
	)
	used := func(ss ...*setting) {
		for _, x := range ss {
			if x.given() {
				from = append(from, x.name)
			}
		}
	}
	// notCanonical rejects --root and --mode for a target that is not the
	// canonical layout; an environment root is simply not read.
	notCanonical := func(what string) error {
		for _, x := range []*setting{root, mode} {
			if x.given() && x.flag {
				return Usagef("%s applies only to the canonical layout, not to %s", x.name, what)
			}
		}
		return nil
	}
	switch {
	case target.given():
		used(target)
		t, err := discovery.ParseTarget(target.value)
		if err != nil {
			return Target{}, fmt.Errorf("%s: %w", target.name, err)
		}
		s = target.value
		if t.Kind != "zk" || t.Layout != discovery.LayoutCanonical {
			if err := notCanonical(target.name + " " + describe(t)); err != nil {
				return Target{}, err
			}
			break
		}
		params := rawParams(target.value)
		newRoot, newMode := "", ""
		if params.Has("root") {
			newRoot = t.Root
		}
		if params.Has("mode") {
			newMode = t.Mode.String()
		}
		changed := false
		if root.given() && (root.flag || !params.Has("root")) {
			r, err := cleanRoot(root)
			if err != nil {
				return Target{}, err
			}
			if params.Has("root") && r != t.Root {
				return Target{}, conflict(root, target, fmt.Sprintf("%s says root=%s and %s %s: give one", target.name, t.Root, root.name, r))
			}
			if !params.Has("root") {
				newRoot, changed = r, true
				used(root)
			}
		}
		if mode.given() {
			if params.Has("mode") && m != t.Mode {
				return Target{}, conflict(mode, target, fmt.Sprintf("%s says mode=%s and --mode %s: give one", target.name, t.Mode, m))
			}
			if !params.Has("mode") {
				newMode, changed = m.String(), true
				used(mode)
			}
		}
		if changed {
			s = canonicalTarget(t.ZK, newRoot, newMode)
		}
	case endpoints.given():
		used(endpoints)
		if err := notCanonical("a static list (" + endpoints.name + ")"); err != nil {
			return Target{}, err
		}
		var err error
		if s, err = staticTarget(endpoints); err != nil {
			return Target{}, err
		}
	case livyConf.given():
		used(livyConf, zkc, lay)
		if lay.given() && layoutName != discovery.LayoutPR212 {
			return Target{}, conflict(lay, livyConf, "a livy.conf describes a PR #212 cluster (layout pr212)")
		}
		if hiveNS.given() {
			return Target{}, conflict(hiveNS, livyConf, "a livy.conf describes a PR #212 cluster, not a Hive namespace")
		}
		if err := notCanonical("a PR #212 cluster (" + livyConf.name + ")"); err != nil {
			return Target{}, err
		}
		p := livyConf.value
		if !filepath.IsAbs(p) {
			abs, err := filepath.Abs(p)
			if err != nil {
				return Target{}, Usagef("%s %q: %v", livyConf.name, p, err)
			}
			p = abs
		}
		if strings.ContainsAny(p, "?#") {
			return Target{}, Usagef("%s %q: the path must not contain '?' or '#'", livyConf.name, p)
		}
		s = "livy-conf://" + filepath.ToSlash(p)
		if zkc.given() {
			if err := plainConnect(zkc); err != nil {
				return Target{}, err
			}
			s += "?zk=" + queryEscape(zkc.value)
		}
	case zkc.given():
		used(zkc, lay, hiveNS)
		if err := plainConnect(zkc); err != nil {
			return Target{}, err
		}
		l := discovery.LayoutCanonical
		if hiveNS.given() {
			l = discovery.LayoutHive
		}
		if lay.given() {
			l = layoutName
		}
		if hiveNS.given() && l != discovery.LayoutHive && l != discovery.LayoutHiveHA {
			return Target{}, conflict(hiveNS, lay, "a Hive namespace is read with layout hive or hive-ha")
		}
		switch l {
		case discovery.LayoutCanonical:
			r := ""
			if root.given() {
				var err error
				if r, err = cleanRoot(root); err != nil {
					return Target{}, err
				}
				used(root)
			}
			ms := ""
			if mode.given() {
				ms = m.String()
				used(mode)
			}
			cs, err := discovery.ParseConnectString(zkc.value)
			if err != nil {
				return Target{}, fmt.Errorf("%s: %w", zkc.name, err)
			}
			if r == "" && ms == "" {
				s = zkc.value
			} else {
				s = canonicalTarget(cs, r, ms)
			}
		case discovery.LayoutPR212:
			return Target{}, Usagef("--layout pr212 needs --livy-conf PATH (the latch holds only server ids; the hosts are in livy.conf), " +
				"or --target 'zk://…?layout=pr212&ids=…&hosts=…'")
		default:
			if err := notCanonical("layout " + string(l)); err != nil {
				return Target{}, err
			}
			cs, err := discovery.ParseConnectString(zkc.value)
			if err != nil {
				return Target{}, fmt.Errorf("%s: %w", zkc.name, err)
			}
			s = "zk://" + cs.String() + "?layout=" + string(l)
			if hiveNS.given() {
				s += "&namespace=" + queryEscape(hiveNS.value)
			}
		}
	default:
		for _, x := range []*setting{lay, hiveNS} {
			if x.given() {
				return Target{}, Usagef("%s needs --zk CONNECT (or $%s)", x.name, EnvZK)
			}
		}
		return Target{}, f.missing()
	}

	t, err := discovery.ParseTarget(s)
	if err != nil {
		return Target{}, fmt.Errorf("%s: %w", strings.Join(from, " and "), err)
	}
	if f.canonicalOnly {
		if t.Kind != "zk" || t.Layout != discovery.LayoutCanonical {
			return Target{}, Usagef("%s names %s, but a registrar publishes the livyha canonical layout "+
				"(give a ZooKeeper connect string or zk://host:port[,...][/chroot]?root=PATH)", strings.Join(from, " and "), describe(t))
		}
		if rawParams(s).Has("mode") {
			return Target{}, Usagef("%s sets mode=, which says how clients read a cluster; a registrar takes only root= "+
				"(run it with --elect in an active-passive cluster, without in the others)", strings.Join(from, " and "))
		}
	}
	return Target{String: s, Parsed: t, From: strings.Join(from, " and ")}, nil
}

var knownLayouts = []discovery.Layout{discovery.LayoutCanonical, discovery.LayoutPR212, discovery.LayoutPR189,
	discovery.LayoutPR276, discovery.LayoutHive, discovery.LayoutHiveHA}

// missing is the error for no target at all.
func (f *TargetFlags) missing() error {
	if f.canonicalOnly {
		return Usagef("missing --zk CONNECT or --target T (or $%s, $%s)", EnvZK, EnvTarget)
	}
	return Usagef("missing --zk CONNECT, --target T, --livy-conf PATH or --endpoints LIST (or $%s, $%s, $%s, $%s)",
		EnvZK, EnvTarget, EnvLivyConf, EnvEndpoints)
}

// conflict is the usage error for two settings that exclude each other.
func conflict(a, b *setting, why string) error {
	if !a.flag && !b.flag {
		return Usagef("%s and %s are both set: %s", a.name, b.name, why)
	}
	if !a.flag {
		a, b = b, a // the flag first
	}
	return Usagef("%s and %s are mutually exclusive: %s", a.name, b.name, why)
}

// plainConnect rejects a target string given where a connect string is
// expected.
func plainConnect(s *setting) error {
	if strings.Contains(s.value, "://") || strings.Contains(s.value, "?") {
		return Usagef("%s takes a ZooKeeper connect string host:port[,host:port...][/chroot], not %q (a target string goes in --target)", s.name, s.value)
	}
	return nil
}

func cleanRoot(root *setting) (string, error) {
	r, err := layout.CleanPath(root.value)
	if err != nil {
		return "", fmt.Errorf("%s: %w", root.name, err)
	}
	return r, nil
}

// rawParams returns the query parameters of a target string as written.
func rawParams(s string) url.Values {
	_, q, ok := strings.Cut(s, "?")
	if !ok || !strings.Contains(s, "://") {
		return url.Values{}
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return url.Values{}
	}
	return v
}

// canonicalTarget is the canonical target for cs with root and mode ("":
// the default).
func canonicalTarget(cs discovery.ConnectString, root, mode string) string {
	var ps []string
	if root != "" {
		ps = append(ps, "root="+queryEscape(root))
	}
	if mode != "" {
		ps = append(ps, "mode="+mode)
	}
	if len(ps) == 0 {
		return cs.String()
	}
	return "zk://" + cs.String() + "?" + strings.Join(ps, "&")
}

// queryEscape escapes a query value, keeping slashes, colons and commas
// (paths and connect strings) readable.
var unescape = strings.NewReplacer("%2F", "/", "%3A", ":", "%2C", ",")

func queryEscape(s string) string { return unescape.Replace(url.QueryEscape(s)) }

// describe names what a parsed target reads, for messages.
func describe(t discovery.Target) string {
	switch t.Kind {
	case "static":
		return "a static list"
	case "livy-conf":
		return "a PR #212 cluster (livy-conf)"
	}
	return "layout " + string(t.Layout)
}

// staticTarget builds the static:// target of an --endpoints list.
func staticTarget(s *setting) (string, error) {
	var hosts []string
	scheme, base, baseSet := "", "", false
	for _, e := range strings.Split(s.value, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		rest := e
		if sch, r, ok := strings.Cut(e, "://"); ok {
			sch = strings.ToLower(sch)
			if sch != "http" && sch != "https" {
				return "", Usagef("%s: entry %q: scheme %q (want http or https)", s.name, e, sch)
			}
			if scheme != "" && sch != scheme {
				return "", Usagef("%s mixes %s:// and %s:// entries: a static list has one scheme for all", s.name, scheme, sch)
			}
			scheme, rest = sch, r
		}
		if strings.ContainsAny(rest, "?#@") {
			return "", Usagef("%s: entry %q: want host[:port] or http(s)://host[:port][/base], without user, query or fragment", s.name, e)
		}
		hp, b := rest, ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			hp, b = rest[:i], strings.TrimRight(rest[i:], "/")
		}
		if hp == "" {
			return "", Usagef("%s: entry %q has no host", s.name, e)
		}
		if baseSet && b != base {
			return "", Usagef("%s: entries with base paths %q and %q: a static list has one base path for all", s.name, base, b)
		}
		base, baseSet = b, true
		hosts = append(hosts, hp)
	}
	if len(hosts) == 0 {
		return "", Usagef("%s is empty (want host[:port] or http(s)://host[:port], comma-separated)", s.name)
	}
	out := "static://" + strings.Join(hosts, ",") + base
	if scheme == "https" {
		out += "?scheme=https"
	}
	return out, nil
}

// ZooKeeperOf returns the ZooKeeper connect string a target reads (for a
// livy-conf target without zk=, the livy.conf's). A static list is a usage
// error.
func ZooKeeperOf(t Target) (string, error) {
	switch t.Parsed.Kind {
	case "zk":
		return t.Parsed.ZK.String(), nil
	case "livy-conf":
		if len(t.Parsed.ZK.Servers) > 0 {
			return t.Parsed.ZK.String(), nil
		}
		conf, err := layout.ReadLivyConf(t.Parsed.Conf)
		if err != nil {
			return "", fmt.Errorf("%w: %w", discovery.ErrBadTarget, err)
		}
		pc, err := layout.PR212ConfigFrom(conf)
		if err != nil {
			return "", fmt.Errorf("%w: %w", discovery.ErrBadTarget, err)
		}
		cs, err := discovery.ParseConnectString(pc.ZooKeeper)
		if err != nil {
			return "", fmt.Errorf("%s in %s: %w", layout.PR212KeyZooKeeperURL, t.Parsed.Conf, err)
		}
		return cs.String(), nil
	}
	return "", Usagef("%s names %s, which has no ZooKeeper (give --zk CONNECT or a zk:// target)", t.From, describe(t.Parsed))
}
