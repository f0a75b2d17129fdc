package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
)

// Mode says how sessions map to servers. Every Snapshot carries the mode
// of its source, so lookups cannot be asked with the wrong one.
type Mode int

const (
	// ActivePassive: one active server (the leader) owns everything;
	// passives answer 307 (LIVY-11 / PR #212, Cloudera). The default.
	ActivePassive Mode = iota
	// MultiActive: every server is active and owns the sessions whose id
	// divided by SessionIDBlock equals its server id (LIVY-698).
	MultiActive
	// SessionHA: as MultiActive, but the owner of a session is stored per
	// session (<root>/session/<kind>/<id>, LIVY-698's session HA; also
	// LENS-658's "owner stored with the handle") and moves to another
	// server when its owner dies; without a record, the id prefix decides.
	SessionHA
	// ActiveActive: no leader; any live server serves any session over a
	// shared state store (PR #276, the "Multi node HA for batch sessions"
	// design).
	ActiveActive
)

// SessionIDBlock is the LIVY-698 session-id block size: session N is owned
// by server N / SessionIDBlock.
const SessionIDBlock = 10_000_000

var modeNames = [...]string{ActivePassive: "active-passive", MultiActive: "multi-active",
	SessionHA: "session-ha", ActiveActive: "active-active"}

func (m Mode) String() string { return enumName(modeNames[:], m, "Mode") }

// ParseMode parses "active-passive", "multi-active", "session-ha" or
// "active-active".
func ParseMode(s string) (Mode, error) { return parseEnum[Mode](modeNames[:], s, "mode") }

// enumName returns the name of v, or typ(v) for a value without one.
func enumName[T ~int](names []string, v T, typ string) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, int(v))
}

// parseEnum returns the value named s ("" is the zero value); what says
// what it is in the error.
func parseEnum[T ~int](names []string, s, what string) (T, error) {
	if s == "" {
		return 0, nil
	}
	for v, n := range names {
		if s == n {
			return T(v), nil
		}
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	return 0, fmt.Errorf("%w: unknown %s %q (want %s)", ErrBadOption, what, s, want)
}

// SessionKind is a Livy session type: ids are per type (batch 5 and
// interactive session 5 both exist), so ownership is per type too.
type SessionKind uint8

const (
	// Interactive sessions (/sessions/{id}).
	Interactive SessionKind = iota
	// Batch sessions (/batches/{id}).
	Batch
)

func (k SessionKind) String() string {
	if k == Batch {
		return "batch"
	}
	return "interactive"
}

// ErrBadOption is wrapped by errors about invalid options.
var ErrBadOption = errors.New("discovery: bad option")

// Option configures both a Resolver and a Registrar (ZooKeeper session
// settings, logging, the root).
type Option func(*config)

// ResolverOption configures a Resolver. Options that apply only to a
// Registrar do not implement it, so passing one is a compile error.
type ResolverOption interface{ applyResolver(*config) }

// RegistrarOption configures a Registrar.
type RegistrarOption interface{ applyRegistrar(*config) }

func (o Option) applyResolver(c *config)  { o(c) }
func (o Option) applyRegistrar(c *config) { o(c) }

type resolverOnly func(*config)

func (o resolverOnly) applyResolver(c *config) { o(c) }

type registrarOnly func(*config)

func (o registrarOnly) applyRegistrar(c *config) { o(c) }

type config struct {
	root           string
	rootSet        bool
	sessionTimeout time.Duration
	log            *slog.Logger
	dialer         Dialer
	mode           Mode
	modeSet        bool
	elect          bool
	onLeadership   func(bool)
	leadership     LeadershipPolicy
	closeTimeout   time.Duration
	httpClient     *http.Client
	ownerCache     int
	auth           []ZKAuth
	acl            []zk.ACL
	takeover       bool

	// Registrar: the leader-only Hive record
	hiveRec   *HiveRecord
	hiveRecNS string

	// Registrar health check
	health         func(context.Context) error
	healthInterval time.Duration
	healthFailures int
}

func resolverConfig(opts []ResolverOption) (config, error) {
	return newConfig(func(c *config) {
		for _, o := range opts {
			if o != nil {
				o.applyResolver(c)
			}
		}
	})
}

func registrarConfig(opts []RegistrarOption) (config, error) {
	return newConfig(func(c *config) {
		for _, o := range opts {
			if o != nil {
				o.applyRegistrar(c)
			}
		}
	})
}

func newConfig(apply func(*config)) (config, error) {
	c := config{
		root:           layout.DefaultRoot,
		sessionTimeout: DefaultSessionTimeout,
		log:            discardLogger(),
		closeTimeout:   3 * time.Second,
		ownerCache:     DefaultOwnerCacheSize,
	}
	apply(&c)
	root, err := layout.CleanPath(c.root)
	if err != nil {
		return c, wrapOnce(ErrBadOption, "root", err)
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

// WithRoot sets the root path of the layout (default "/livy"; for a
// Resolver it overrides the target's root= parameter). It is relative to the connect string's chroot, if any.
func WithRoot(root string) Option { return func(c *config) { c.root, c.rootSet = root, true } }

// WithSessionTimeout sets the ZooKeeper session timeout (default 10s). For a
// Registrar it bounds how long a crashed server stays registered.
func WithSessionTimeout(d time.Duration) Option {
	return func(c *config) { c.sessionTimeout = d }
}

// WithLogger sets the logger; discovery is silent by default.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithDialer sets the function used to dial ZooKeeper servers (e.g. TLS).
func WithDialer(d Dialer) Option { return func(c *config) { c.dialer = d } }

// WithMode sets the Resolver's mode, overriding the target's mode=
// parameter (default: the layout's own, ActivePassive for the canonical one).
func WithMode(m Mode) ResolverOption {
	return resolverOnly(func(c *config) { c.mode, c.modeSet = m, true })
}

// WithElection makes a Registrar join the leader latch.
func WithElection(elect bool) RegistrarOption {
	return registrarOnly(func(c *config) { c.elect = elect })
}

// WithLeadershipHandler registers a function the Registrar calls, from its
// own goroutine, each time this server gains (true) or loses (false)
// leadership. It must not block for long. The first call (gaining
// leadership) can come before Register returns.
func WithLeadershipHandler(f func(isLeader bool)) RegistrarOption {
	return registrarOnly(func(c *config) { c.onLeadership = f })
}

// LeadershipPolicy says when a Registrar whose latch node sorts first
// counts as the leader while its ZooKeeper connection is in trouble (see
// Registrar).
type LeadershipPolicy int

const (
	// LeadWhileSession keeps leadership while the ZooKeeper session may
	// still be alive: through a disconnection, until the lease the
	// registrar measures for its session ends — a margin before the
	// earliest moment ZooKeeper could expire the session, which must
	// happen before any other participant can win. Curator's
	// SessionConnectionStateErrorPolicy, with the session's end measured
	// on the client. The default.
	LeadWhileSession LeadershipPolicy = iota
	// LeadOnConnection gives leadership up at the first disconnection
	// and takes it back on reconnecting within the session: Curator's
	// default (standard) connection-state error policy.
	LeadOnConnection
)

var leadershipNames = [...]string{LeadWhileSession: "session", LeadOnConnection: "connection"}

// String returns "session" or "connection".
func (p LeadershipPolicy) String() string {
	return enumName(leadershipNames[:], p, "LeadershipPolicy")
}

// ParseLeadershipPolicy parses "session" (LeadWhileSession; also "") or
// "connection" (LeadOnConnection).
func ParseLeadershipPolicy(s string) (LeadershipPolicy, error) {
	return parseEnum[LeadershipPolicy](leadershipNames[:], s, "leadership policy")
}

// WithLeadershipPolicy sets when a Registrar with election gives
// leadership up on ZooKeeper trouble (default LeadWhileSession; see
// Registrar).
func WithLeadershipPolicy(p LeadershipPolicy) RegistrarOption {
	return registrarOnly(func(c *config) { c.leadership = p })
}

// WithCloseTimeout bounds how long Registrar.Close spends deleting its nodes
// (default 3s).
func WithCloseTimeout(d time.Duration) RegistrarOption {
	return registrarOnly(func(c *config) { c.closeTimeout = d })
}

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
func WithHiveRecord(ns string, rec HiveRecord) RegistrarOption {
	return registrarOnly(func(c *config) {
		r := rec
		r.Settings = maps.Clone(rec.Settings)
		c.hiveRec, c.hiveRecNS = &r, ns
	})
}

// WithHealthCheck makes a Registrar publish its server only while check
// succeeds: check runs every interval (bounded by interval as its
// timeout); after failures consecutive failures (at least 1) the registrar
// withdraws its nodes — giving up leadership, so clients fail over at
// once although the sidecar and its ZooKeeper session live on — and it
// publishes them again after the next success. Register returns once the
// server is healthy and published.
func WithHealthCheck(check func(ctx context.Context) error, interval time.Duration, failures int) RegistrarOption {
	return registrarOnly(func(c *config) {
		c.health, c.healthInterval, c.healthFailures = check, interval, max(failures, 1)
	})
}

// WithHTTPClient sets the client a static-list source probes servers with
// (default: a client with a 2s timeout that follows no redirects; its
// CheckRedirect is always replaced so that 307s are seen).
func WithHTTPClient(hc *http.Client) ResolverOption {
	return resolverOnly(func(c *config) { c.httpClient = hc })
}

// DefaultOwnerCacheSize bounds how many session-ownership records a
// SessionHA resolver caches and watches.
const DefaultOwnerCacheSize = 10_000

// WithOwnerCacheSize bounds the session-ownership records a SessionHA
// resolver caches and watches (default DefaultOwnerCacheSize).
func WithOwnerCacheSize(n int) ResolverOption {
	return resolverOnly(func(c *config) { c.ownerCache = n })
}

// ZKAuth is ZooKeeper authentication data (scheme "digest", auth
// "user:password"), sent on every (re)connection.
type ZKAuth struct {
	Scheme string
	Auth   []byte
}

// WithTakeover lets a Registrar register a server id that a record of
// another live session already claims (by default Register fails with
// ErrIDTaken): for a server restarted after a crash, whose old session has
// not expired yet. Resolvers then prefer, for the leader's id, the record
// whose session holds the latch.
func WithTakeover(on bool) RegistrarOption {
	return registrarOnly(func(c *config) { c.takeover = on })
}

// WithACL sets the ACL of the nodes a Registrar creates (its records,
// latch nodes and any missing directories). Default: with WithZKAuth,
// creator-all plus world-read, so anyone can read the records but only
// their writer can change or delete them; without credentials, world-all.
func WithACL(acl []zk.ACL) RegistrarOption {
	return registrarOnly(func(c *config) { c.acl = append([]zk.ACL(nil), acl...) })
}

// WithZKAuth adds ZooKeeper authentication sent on every connection (for
// example digest "user:password" for nodes behind digest ACLs).
func WithZKAuth(scheme string, auth []byte) Option {
	return func(c *config) { c.auth = append(c.auth, ZKAuth{Scheme: scheme, Auth: auth}) }
}
