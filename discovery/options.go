package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/livyha/livyha/discovery/layout"
)

// Mode selects how sessions map to servers.
type Mode int

const (
	// ActivePassive: one active server (the latch leader) owns everything;
	// passives answer 307. This is the default.
	ActivePassive Mode = iota
	// MultiActive: every server is active and owns the sessions whose id
	// divided by SessionIDBlock equals its server id (LIVY-698).
	MultiActive
)

// SessionIDBlock is the LIVY-698 session-id block size: session N is owned
// by server N / SessionIDBlock.
const SessionIDBlock = 10_000_000

func (m Mode) String() string {
	switch m {
	case ActivePassive:
		return "active-passive"
	case MultiActive:
		return "multi-active"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "active-passive" or "multi-active".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "active-passive", "":
		return ActivePassive, nil
	case "multi-active":
		return MultiActive, nil
	}
	return 0, fmt.Errorf("discovery: unknown mode %q (want active-passive or multi-active)", s)
}

// ErrBadOption is wrapped by errors about invalid options.
var ErrBadOption = errors.New("discovery: bad option")

// Option configures a Resolver or a Registrar. Options that do not apply to
// the thing being built are ignored.
type Option func(*config)

type config struct {
	root           string
	sessionTimeout time.Duration
	log            *slog.Logger
	dialer         Dialer
	mode           Mode
	elect          bool
	onLeadership   func(bool)
	closeTimeout   time.Duration

	// ReadHive
	hiveNS   string
	hiveMode HiveMode
	hiveSASL bool
	// Registrar: the leader-only Hive record
	hiveRec   *HiveRecord
	hiveRecNS string

	// Registrar health check
	health         func(context.Context) error
	healthInterval time.Duration
	healthFailures int
}

func newConfig(opts []Option) (config, error) {
	c := config{
		root:           layout.DefaultRoot,
		sessionTimeout: DefaultSessionTimeout,
		log:            discardLogger(),
		closeTimeout:   3 * time.Second,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	root, err := layout.CleanPath(c.root)
	if err != nil {
		return c, fmt.Errorf("%w: root: %w", ErrBadOption, err)
	}
	c.root = root
	if c.sessionTimeout <= 0 {
		return c, fmt.Errorf("%w: session timeout must be positive, got %s", ErrBadOption, c.sessionTimeout)
	}
	if c.log == nil {
		c.log = discardLogger()
	}
	return c, nil
}

// WithRoot sets the root path of the canonical layout (default "/livy").
// It is relative to the connect string's chroot, if any.
func WithRoot(root string) Option { return func(c *config) { c.root = root } }

// WithSessionTimeout sets the ZooKeeper session timeout (default 10s). For a
// Registrar it bounds how long a crashed server stays registered.
func WithSessionTimeout(d time.Duration) Option {
	return func(c *config) { c.sessionTimeout = d }
}

// WithLogger sets the logger; discovery is silent by default.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithDialer sets the function used to dial ZooKeeper servers (e.g. TLS).
func WithDialer(d Dialer) Option { return func(c *config) { c.dialer = d } }

// WithMode sets the Resolver's mode (default ActivePassive).
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// WithElection makes a Registrar join the leader latch.
func WithElection(elect bool) Option { return func(c *config) { c.elect = elect } }

// WithLeadershipHandler registers a function the Registrar calls, from its
// own goroutine, each time this server gains (true) or loses (false)
// leadership. It must not block for long. The first call (gaining
// leadership) can come before Register returns.
func WithLeadershipHandler(f func(isLeader bool)) Option {
	return func(c *config) { c.onLeadership = f }
}

// WithCloseTimeout bounds how long Registrar.Close spends deleting its nodes
// (default 3s).
func WithCloseTimeout(d time.Duration) Option { return func(c *config) { c.closeTimeout = d } }

// WithHiveNamespace sets the Hive namespace ReadHive reads (Hive's
// zooKeeperNamespace): default "hiveserver2" in HiveZooKeeper mode and
// "hs2ActivePassiveHA" in HiveZooKeeperHA mode, where "-unsecure" or "-sasl"
// is appended as Hive does. It is relative to the connect string's chroot.
func WithHiveNamespace(ns string) Option { return func(c *config) { c.hiveNS = ns } }

// WithHiveMode sets how ReadHive reads the namespace (Hive's
// serviceDiscoveryMode): HiveZooKeeper (default) or HiveZooKeeperHA.
func WithHiveMode(m HiveMode) Option { return func(c *config) { c.hiveMode = m } }

// WithHiveSASL selects the "-sasl" namespace suffix instead of "-unsecure"
// in HiveZooKeeperHA mode (Hive uses "-sasl" when Kerberos is enabled).
func WithHiveSASL(sasl bool) Option { return func(c *config) { c.hiveSASL = sasl } }

// WithHiveRecord makes a Registrar with election publish a Hive-compatible
// Thrift record in the Hive namespace ns (default "hiveserver2") while, and
// only while, it is the leader:
//
//	/<ns>/serverUri=<thrift host>:<thrift port>;version=<v>;sequence=<10 digits>   data: Hive config string
//
// so that unmodified Hive JDBC drivers and gohive, which pick any child of
// the namespace, find only the active server. Zero fields of rec take their
// defaults from the ServerRecord (see HiveRecord). Register fails with
// ErrBadOption without WithElection(true) or without a Thrift endpoint.
func WithHiveRecord(ns string, rec HiveRecord) Option {
	return func(c *config) {
		r := rec
		r.Settings = maps.Clone(rec.Settings)
		c.hiveRec, c.hiveRecNS = &r, ns
	}
}

// WithHealthCheck makes a Registrar publish its server only while check
// succeeds: check runs every interval (bounded by interval as its
// timeout); after failures consecutive failures (at least 1) the registrar
// withdraws its nodes — giving up leadership, so clients fail over at
// once although the sidecar and its ZooKeeper session live on — and it
// publishes them again after the next success. Register returns once the
// server is healthy and published.
func WithHealthCheck(check func(ctx context.Context) error, interval time.Duration, failures int) Option {
	return func(c *config) {
		c.health, c.healthInterval, c.healthFailures = check, interval, max(failures, 1)
	}
}
