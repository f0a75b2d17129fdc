package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
)

// HiveRecord is what a Registrar publishes in a Hive namespace while it
// leads (WithHiveRecord). Zero fields take defaults from the ServerRecord.
type HiveRecord struct {
	// Host and Port of the Thrift endpoint; default: ServerRecord.Thrift.
	Host string
	Port int
	// TransportMode is "binary" or "http"; default:
	// ServerRecord.ThriftTransport, else "binary".
	TransportMode string
	// HTTPPath is published in http mode; default:
	// ServerRecord.ThriftHTTPPath, else Hive's default "cliservice".
	HTTPPath string
	// Auth is hive.server2.authentication; default "NONE".
	Auth      string
	UseSSL    bool
	SASLQoP   string
	Principal string
	// Version goes into the node name; default: ServerRecord.Version.
	Version string
	// Settings are further keys to publish.
	Settings map[string]string
}

// instance applies the defaults from rec and returns what to publish.
func (h HiveRecord) instance(rec ServerRecord) (HiveInstance, error) {
	host, port := layout.Unbracket(h.Host), h.Port
	if host == "" || port == 0 {
		if rec.Thrift == "" {
			return HiveInstance{}, fmt.Errorf("%w: hive record: no Thrift endpoint (set HiveRecord.Host and Port or ServerRecord.Thrift)", ErrBadOption)
		}
		th, tp, err := layout.ParseHiveAddr(rec.Thrift)
		if err != nil {
			return HiveInstance{}, fmt.Errorf("%w: hive record: thrift address %q: %v", ErrBadOption, rec.Thrift, err)
		}
		if host == "" {
			host = th
		}
		if port == 0 {
			port = tp
		}
	}
	mode := h.TransportMode
	if mode == "" {
		mode = rec.ThriftTransport
	}
	if mode == "" {
		mode = "binary"
	}
	if mode != "binary" && mode != "http" {
		return HiveInstance{}, fmt.Errorf("%w: hive record: transport mode %q (want binary or http)", ErrBadOption, mode)
	}
	inst := HiveInstance{
		Host: host, Port: port, TransportMode: mode,
		Auth: h.Auth, UseSSL: h.UseSSL, SASLQoP: h.SASLQoP, Principal: h.Principal,
		Version: h.Version, Settings: h.Settings,
	}
	if inst.Version == "" {
		inst.Version = rec.Version
	}
	if inst.Auth == "" {
		inst.Auth = "NONE"
	}
	if mode == "http" {
		inst.HTTPPath = h.HTTPPath
		if inst.HTTPPath == "" {
			inst.HTTPPath = rec.ThriftHTTPPath
		}
		if inst.HTTPPath == "" {
			inst.HTTPPath = "cliservice"
		}
	}
	return inst, nil
}

// HiveMode is Hive's serviceDiscoveryMode.
type HiveMode int

const (
	// HiveZooKeeper: every server registers a serverUri= node in
	// /<namespace> (default hiveserver2).
	HiveZooKeeper HiveMode = iota
	// HiveZooKeeperHA: Hive 3+ active/passive; ServiceRecord JSON in
	// /<namespace>-unsecure|-sasl/instances (default hs2ActivePassiveHA).
	HiveZooKeeperHA
)

func (m HiveMode) String() string {
	switch m {
	case HiveZooKeeper:
		return "zooKeeper"
	case HiveZooKeeperHA:
		return "zooKeeperHA"
	}
	return fmt.Sprintf("HiveMode(%d)", int(m))
}

// ParseHiveMode parses Hive's serviceDiscoveryMode values "zooKeeper" and
// "zooKeeperHA" (case-insensitive, as the JDBC driver compares them).
func ParseHiveMode(s string) (HiveMode, error) {
	switch {
	case s == "" || strings.EqualFold(s, "zooKeeper"):
		return HiveZooKeeper, nil
	case strings.EqualFold(s, "zooKeeperHA"):
		return HiveZooKeeperHA, nil
	}
	return 0, fmt.Errorf("%w: unknown Hive service discovery mode %q (want zooKeeper or zooKeeperHA)", ErrBadOption, s)
}

// hiveNamespacePath turns a Hive namespace ("hiveserver2", "/a/b") into a
// path.
func hiveNamespacePath(ns string) (string, error) {
	p, err := layout.CleanPath("/" + strings.TrimPrefix(ns, "/"))
	if err != nil {
		return "", fmt.Errorf("%w: hive namespace: %w", ErrBadOption, err)
	}
	if p == "/" {
		return "", fmt.Errorf("%w: hive namespace must not be the root", ErrBadOption)
	}
	return p, nil
}

// hiveDir is the directory ReadHive lists.
func (c config) hiveDir() (string, error) {
	ns := c.hiveNS
	switch c.hiveMode {
	case HiveZooKeeper:
		if ns == "" {
			ns = layout.DefaultHiveNamespace
		}
		return hiveNamespacePath(ns)
	case HiveZooKeeperHA:
		if ns == "" {
			ns = layout.DefaultHiveHANamespace
		}
		suffix := "-unsecure"
		if c.hiveSASL {
			suffix = "-sasl"
		}
		p, err := hiveNamespacePath(strings.TrimSuffix(ns, "/") + suffix)
		if err != nil {
			return "", err
		}
		return layout.JoinPath(p, layout.HiveHAInstancesDir), nil
	}
	return "", fmt.Errorf("%w: unknown Hive mode %d", ErrBadOption, int(c.hiveMode))
}

// HiveView is one reading of a Hive namespace.
type HiveView struct {
	// Path is the directory that was listed (relative to the chroot).
	Path string `json:"path"`
	// Instances holds every usable registration: in HiveZooKeeperHA mode
	// the active one(s) first, then in registration order.
	Instances []HiveInstance `json:"instances"`
	// Problems lists registrations that were skipped, with the reason.
	Problems []Problem `json:"problems,omitempty"`
}

// ReadHive lists a Hive namespace once, as Hive clients do before a
// connection attempt (no watches), and parses every registration in it:
// serverUri= nodes in HiveZooKeeper mode (other children, such as a leader
// latch, are ignored), instance- ServiceRecords in HiveZooKeeperHA mode.
// Registrations that vanish, cannot be read or do not parse are skipped and
// listed in Problems; a missing namespace gives an empty view.
//
// Options: WithHiveMode, WithHiveNamespace, WithHiveSASL, and
// WithSessionTimeout, WithDialer, WithLogger; others are ignored. The call
// is bounded by ctx: when ZooKeeper cannot be reached or read in time it
// returns an error wrapping ErrUnavailable and ctx's error. Its ZooKeeper
// session is closed before it returns.
func ReadHive(ctx context.Context, connect string, opts ...Option) (HiveView, error) {
	cs, err := ParseConnectString(connect)
	if err != nil {
		return HiveView{}, err
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return HiveView{}, err
	}
	dir, err := cfg.hiveDir()
	if err != nil {
		return HiveView{}, err
	}
	if err := ctx.Err(); err != nil {
		return HiveView{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// go-zookeeper requests take no context: dial through a tracker whose
	// connections are cut when ctx ends, so pending requests fail at once.
	conns := &connTracker{base: cfg.dialer}
	sess, err := dialSession(cs, sessionConfig{timeout: cfg.sessionTimeout, dialer: conns.dial(ctx), log: cfg.log})
	if err != nil {
		return HiveView{}, err
	}
	defer sess.Close()
	type result struct {
		view HiveView
		err  error
	}
	ch := make(chan result, 1)
	stop := make(chan struct{})
	go func() {
		v, err := readHiveDir(sess, dir, cfg.hiveMode, stop)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.view, r.err
	case <-ctx.Done():
		close(stop)
		conns.closeAll()
		sess.Close()
		<-ch
		return HiveView{}, fmt.Errorf("%w: reading %s (session %s): %w", ErrUnavailable, dir, sess.State(), ctx.Err())
	}
}

func readHiveDir(sess *zkSession, dir string, mode HiveMode, stop <-chan struct{}) (HiveView, error) {
	for sess.State() != zk.StateHasSession {
		select {
		case <-sess.notify:
		case <-stop:
			return HiveView{}, errors.New("stopped")
		}
	}
	view := HiveView{Path: dir}
	// Catch up with the ZooKeeper leader, so the listing is not older than
	// what another client already saw.
	if err := sess.Sync(dir); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return view, fmt.Errorf("%w: sync %s: %w", ErrUnavailable, dir, err)
	}
	kids, err := sess.Children(dir)
	if errors.Is(err, zk.ErrNoNode) {
		return view, nil
	}
	if err != nil {
		return view, fmt.Errorf("%w: list %s: %w", ErrUnavailable, dir, err)
	}
	sort.Strings(kids)
	for _, name := range kids {
		var inst HiveInstance
		switch mode {
		case HiveZooKeeperHA:
			if !strings.HasPrefix(name, layout.HiveHAInstancePrefix) {
				continue
			}
		default:
			if !strings.HasPrefix(name, layout.ServerNamePrefix) {
				continue // e.g. a leader latch directory
			}
		}
		p := layout.JoinPath(dir, name)
		data, _, err := sess.Get(p)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			view.Problems = append(view.Problems, Problem{Path: p, Reason: "vanished while being read"})
			continue
		case err != nil && isDefinite(err):
			view.Problems = append(view.Problems, Problem{Path: p, Reason: "unreadable: " + err.Error()})
			continue
		case err != nil:
			return HiveView{Path: dir}, fmt.Errorf("%w: read %s: %w", ErrUnavailable, p, err)
		}
		if mode == HiveZooKeeperHA {
			inst, err = layout.ParseServiceRecord(data)
			inst.Node = name
			inst.Sequence = -1
			if n, serr := layout.ParseSequence(name[len(layout.HiveHAInstancePrefix):]); serr == nil {
				inst.Sequence = n
			}
		} else {
			inst, err = layout.ParseHiveNode(name, data)
		}
		if err != nil {
			view.Problems = append(view.Problems, Problem{Path: p, Reason: err.Error()})
			continue
		}
		view.Instances = append(view.Instances, inst)
	}
	slices.SortStableFunc(view.Instances, func(a, b HiveInstance) int {
		switch {
		case a.Active != b.Active:
			if a.Active {
				return -1
			}
			return 1
		case (a.Sequence < 0) != (b.Sequence < 0):
			if a.Sequence < 0 {
				return 1
			}
			return -1
		case a.Sequence != b.Sequence:
			if a.Sequence < b.Sequence {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Node, b.Node)
	})
	return view, nil
}

// connTracker dials ZooKeeper for a call bounded by a context: dials are
// cancelled with it, and closeAll cuts the connections it made.
type connTracker struct {
	base   Dialer
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func (t *connTracker) dial(ctx context.Context) Dialer {
	return func(dctx context.Context, network, address string) (net.Conn, error) {
		dctx, cancel := context.WithCancel(dctx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		var c net.Conn
		var err error
		if t.base != nil {
			c, err = t.base(dctx, network, address)
		} else {
			var d net.Dialer
			c, err = d.DialContext(dctx, network, address)
		}
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.closed {
			c.Close()
			return nil, net.ErrClosed
		}
		t.conns = append(t.conns, c)
		return c, nil
	}
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, c := range t.conns {
		c.Close()
	}
	t.conns = nil
}
