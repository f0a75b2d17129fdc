package discovery

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/livyha/livyha/discovery/layout"
)

// ErrBadTarget is wrapped by every target-string parsing error.
var ErrBadTarget = errors.New("discovery: bad target")

// Layout names a ZooKeeper layout a target can read.
type Layout string

// The layouts a zk:// target can name (layout=…).
const (
	// LayoutCanonical: livyha's own records and latch (the default).
	LayoutCanonical Layout = "canonical"
	// LayoutPR212: LIVY-11 / PR #212: only a Curator latch at
	// /<key prefix, default livy_ha>/leader with string participant ids;
	// hosts come from livy.conf (conf=) or ids=/hosts=.
	LayoutPR212 Layout = "pr212"
	// LayoutPR189: LIVY-616 / PR #189: a persistent node (path=, default
	// /livy/server.uri) holding the active server's URL.
	LayoutPR189 Layout = "pr189"
	// LayoutPR276: LIVY-723 / PR #276: ephemeral <path, default
	// /livy/zk/services>/<ip>:<port> nodes; every server serves
	// (active-active).
	LayoutPR276 Layout = "pr276"
	// LayoutHive: HiveServer2 / Kyuubi zooKeeper mode: serverUri= nodes in
	// /<namespace, default hiveserver2>.
	LayoutHive Layout = "hive"
	// LayoutHiveHA: HiveServer2 zooKeeperHA mode: ServiceRecords in
	// /<namespace, default hs2ActivePassiveHA>-unsecure|-sasl/instances.
	LayoutHiveHA Layout = "hive-ha"
)

var layouts = []Layout{LayoutCanonical, LayoutPR212, LayoutPR189, LayoutPR276, LayoutHive, LayoutHiveHA}

// Target is a parsed target string: where and how to find a cluster.
//
// The grammar, in the manner of gRPC targets and Hive JDBC URLs:
//
//	host:port[,host:port...][/chroot]                  ZooKeeper, canonical layout (a plain connect string)
//	zk://host:port[,host:port...][/chroot][?params]    ZooKeeper, any layout
//	livy-conf:///path/to/livy.conf[?zk=connect]        a PR #212 cluster described by its livy.conf
//	static://host[:port][,host[:port]...][/base][?scheme=https]   a static list of Livy servers (port 8998 by default)
//
// zk:// parameters (each at most once):
//
//	layout=canonical|pr212|pr189|pr276|hive|hive-ha   default canonical
//	root=/path        canonical (default /livy)
//	mode=active-passive|multi-active|session-ha|active-active   canonical only (default active-passive)
//	path=/path        pr189: the node (default /livy/server.uri); pr276: the services directory (default /livy/zk/services)
//	namespace=NS      hive (default hiveserver2), hive-ha (default hs2ActivePassiveHA), pr212 (the key prefix, default livy_ha)
//	sasl=true         hive-ha: the "-sasl" namespace instead of "-unsecure"
//	conf=/path        pr212: the livy.conf with the server ids and hosts
//	ids=a,b&hosts=h1,h2[&port=8998]   pr212 without a livy.conf
//	scheme=https      pr212 (without conf=) and pr276: the servers' scheme (default http)
//
// Paths are relative to the chroot. Unknown parameters, and parameters the
// layout does not use, are errors.
type Target struct {
	// Kind is "zk", "livy-conf" or "static".
	Kind string
	// ZK is the ZooKeeper connect string (zk and livy-conf kinds).
	ZK ConnectString
	// Layout is the ZooKeeper layout (zk and livy-conf kinds).
	Layout Layout
	// Root is the canonical layout's root.
	Root string
	// Path is the PR #189 node or the PR #276 services directory.
	Path string
	// Mode is the canonical layout's mode.
	Mode Mode
	// Namespace is the Hive namespace or the PR #212 key prefix ("": default).
	Namespace string
	// SASL selects the "-sasl" Hive HA namespace.
	SASL bool
	// Conf is the livy.conf path (livy-conf kind; pr212 conf=).
	Conf string
	// IDs, Hosts, Port and Scheme describe PR #212 servers without a livy.conf.
	IDs, Hosts []string
	Port       int
	Scheme     string
	// Endpoints are the static kind's base URLs.
	Endpoints []string

	raw string
}

// String returns the target as given.
func (t Target) String() string { return t.raw }

// ParseTarget parses a target string (see Target for the grammar).
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	t := Target{raw: s, Layout: LayoutCanonical, Root: layout.DefaultRoot}
	bad := func(format string, args ...any) (Target, error) {
		return Target{}, fmt.Errorf("%w %q: %s", ErrBadTarget, s, fmt.Sprintf(format, args...))
	}
	scheme, rest, hasScheme := strings.Cut(s, "://")
	if !hasScheme {
		if strings.Contains(s, "?") {
			return bad("parameters need a zk:// target (zk://%s)", s)
		}
		cs, err := ParseConnectString(s)
		if err != nil {
			return Target{}, wrapOnce(ErrBadTarget, "", err)
		}
		t.Kind, t.ZK = "zk", cs
		return t, nil
	}
	body, query, _ := strings.Cut(rest, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return bad("parameters: %v", err)
	}
	for k, v := range params {
		if len(v) != 1 {
			return bad("parameter %s given %d times", k, len(v))
		}
	}
	take := func(k string) (string, bool) {
		v, ok := params[k]
		delete(params, k)
		if !ok {
			return "", false
		}
		return v[0], true
	}
	leftover := func(allowed string) error {
		if len(params) == 0 {
			return nil
		}
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		_, err := bad("parameter %s does not apply here (allowed: %s)", strings.Join(keys, ", "), allowed)
		return err
	}
	switch scheme {
	case "zk":
		t.Kind = "zk"
		cs, err := ParseConnectString(body)
		if err != nil {
			return Target{}, wrapOnce(ErrBadTarget, "", err)
		}
		t.ZK = cs
		if v, ok := take("layout"); ok {
			t.Layout = Layout(v)
			if !slices.Contains(layouts, t.Layout) {
				return bad("unknown layout %q (want canonical, pr212, pr189, pr276, hive or hive-ha)", v)
			}
		}
		allowed := map[Layout]string{
			LayoutCanonical: "layout, root, mode",
			LayoutPR212:     "layout, namespace, conf, ids, hosts, port, scheme",
			LayoutPR189:     "layout, path",
			LayoutPR276:     "layout, path, scheme",
			LayoutHive:      "layout, namespace",
			LayoutHiveHA:    "layout, namespace, sasl",
		}[t.Layout]
		for _, k := range strings.Split(allowed, ", ") {
			v, ok := take(k)
			if !ok || k == "layout" {
				continue
			}
			switch k {
			case "root":
				if t.Root, err = layout.CleanPath(v); err != nil {
					return bad("root: %v", err)
				}
			case "path":
				if t.Path, err = layout.CleanPath(v); err != nil || t.Path == "/" {
					return bad("path=%q is not a ZooKeeper node path", v)
				}
			case "mode":
				if t.Mode, err = ParseMode(v); err != nil {
					return bad("%v", err)
				}
			case "namespace":
				if strings.TrimSpace(v) == "" {
					return bad("empty namespace")
				}
				t.Namespace = v
			case "sasl":
				if t.SASL, err = strconv.ParseBool(v); err != nil {
					return bad("sasl=%q (want true or false)", v)
				}
			case "conf":
				t.Conf = v
			case "ids":
				t.IDs = splitList(v)
			case "hosts":
				t.Hosts = splitList(v)
			case "port":
				if t.Port, err = strconv.Atoi(v); err != nil || t.Port < 1 || t.Port > 65535 {
					return bad("port=%q", v)
				}
			case "scheme":
				if v != "http" && v != "https" {
					return bad("scheme=%q (want http or https)", v)
				}
				t.Scheme = v
			}
		}
		if err := leftover(allowed); err != nil {
			return Target{}, err
		}
		if t.Layout == LayoutPR212 && t.Conf == "" && len(t.IDs) == 0 {
			return bad("layout=pr212 needs conf=/path/to/livy.conf or ids=…&hosts=… (the latch holds only server ids)")
		}
		if t.Conf != "" && (len(t.IDs) > 0 || t.Port != 0 || t.Scheme != "") {
			return bad("give conf= or ids=/hosts=/port=/scheme=, not both (the livy.conf says them)")
		}
		if t.Conf != "" && !strings.HasPrefix(t.Conf, "/") {
			return bad("conf=%q: want an absolute path", t.Conf)
		}
		if len(t.IDs) != len(t.Hosts) {
			return bad("ids= has %d entries and hosts= %d (same order, same length)", len(t.IDs), len(t.Hosts))
		}
	case "livy-conf":
		t.Kind, t.Layout = "livy-conf", LayoutPR212
		if !strings.HasPrefix(body, "/") {
			return bad("want livy-conf:///absolute/path/to/livy.conf")
		}
		t.Conf = body
		if v, ok := take("zk"); ok {
			cs, err := ParseConnectString(v)
			if err != nil {
				return Target{}, wrapOnce(ErrBadTarget, "zk=", err)
			}
			t.ZK = cs
		}
		if err := leftover("zk"); err != nil {
			return Target{}, err
		}
	case "static":
		t.Kind = "static"
		t.Layout = ""
		sch := "http"
		if v, ok := take("scheme"); ok {
			if v != "http" && v != "https" {
				return bad("scheme=%q (want http or https)", v)
			}
			sch = v
		}
		if err := leftover("scheme"); err != nil {
			return Target{}, err
		}
		hosts, base := body, ""
		if i := strings.IndexByte(body, '/'); i >= 0 {
			hosts, base = body[:i], strings.TrimSuffix(body[i:], "/")
		}
		for _, h := range strings.Split(hosts, ",") {
			hp, err := normalizeHostPort(strings.TrimSpace(h), 8998)
			if err != nil {
				return bad("%v", err)
			}
			t.Endpoints = append(t.Endpoints, sch+"://"+hp+base)
		}
	default:
		return bad("unknown scheme %q (want zk://, livy-conf:// or static://, or a plain ZooKeeper connect string)", scheme)
	}
	return t, nil
}

func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// source builds the Source the target names.
func (t Target) source(cfg config) (Source, error) {
	root := t.Root
	if cfg.rootSet {
		root = cfg.root
	}
	mode := t.Mode
	if cfg.modeSet {
		mode = cfg.mode
	}
	switch t.Kind {
	case "zk", "livy-conf":
	case "static":
		return newStaticSource(t.Endpoints, cfg)
	default:
		return nil, fmt.Errorf("%w: empty target", ErrBadTarget)
	}
	var lay zkLayout
	zkcs := t.ZK
	switch t.Layout {
	case LayoutCanonical:
		lay = newCanonicalLayout(root, mode)
	case LayoutHive, LayoutHiveHA:
		h, err := newHiveLayout(t.Namespace, t.Layout == LayoutHiveHA, t.SASL)
		if err != nil {
			return nil, err
		}
		lay = h
	case LayoutPR212:
		p, cs, err := t.pr212()
		if err != nil {
			return nil, err
		}
		zkcs = cs
		lay = p
	case LayoutPR189:
		path := t.Path
		if path == "" {
			path = layout.PR189DefaultPath
		}
		lay = &pr189Layout{path: path}
	case LayoutPR276:
		path, scheme := t.Path, t.Scheme
		if path == "" {
			path = layout.PR276DefaultServicesDir
		}
		if scheme == "" {
			scheme = "http"
		}
		lay = &pr276Layout{dir: path, scheme: scheme}
	default:
		return nil, fmt.Errorf("%w: unknown layout %q", ErrBadTarget, t.Layout)
	}
	src, err := newZKSource(zkcs, lay, cfg)
	if err != nil {
		return nil, err
	}
	if lay.mode() == SessionHA {
		owners := newOwnerTable(src.sess, root, cfg.ownerCache, src.republish)
		src.closers = append(src.closers, owners.close)
		src.onExpiry = append(src.onExpiry, owners.reset)
		src.extra = func(st State) State {
			st.Owners, st.Revision = owners, owners.revision()
			return st
		}
	}
	return src, nil
}

// pr212 builds the PR #212 layout from the target's livy.conf or its
// ids=/hosts= lists, and the ZooKeeper connect string (the target's, else
// livy.server.ha.zookeeper-url).
func (t Target) pr212() (*pr212Layout, ConnectString, error) {
	var conf layout.LivyConf
	from := "the target's ids= and hosts="
	if t.Conf != "" {
		c, err := layout.ReadLivyConf(t.Conf)
		if err != nil {
			return nil, ConnectString{}, wrapOnce(ErrBadTarget, "", err)
		}
		conf, from = c, t.Conf
	} else {
		conf = layout.LivyConf{
			layout.PR212KeyMode:         layout.PR212ModeOn,
			layout.PR212KeyZooKeeperURL: t.ZK.String(),
			layout.PR212KeyServerIDs:    strings.Join(t.IDs, ","),
			layout.PR212KeyHostnames:    strings.Join(t.Hosts, ","),
		}
		if t.Port != 0 {
			conf["livy.server.port"] = strconv.Itoa(t.Port)
		}
		if t.Scheme == "https" {
			conf["livy.keystore"] = "(set)"
		}
	}
	if t.Namespace != "" {
		conf[layout.PR212KeyKeyPrefix] = t.Namespace
	}
	pc, err := layout.PR212ConfigFrom(conf)
	if err != nil {
		return nil, ConnectString{}, wrapOnce(ErrBadTarget, "", err)
	}
	cs := t.ZK
	if len(cs.Servers) == 0 {
		if cs, err = ParseConnectString(pc.ZooKeeper); err != nil {
			return nil, ConnectString{}, wrapOnce(ErrBadTarget, layout.PR212KeyZooKeeperURL+" in "+from, err)
		}
	}
	return &pr212Layout{conf: pc, from: from}, cs, nil
}
