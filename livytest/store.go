package livytest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
)

// kv is the minimal versioned key-value interface the state store needs:
// ZooKeeper in HA mode, a map in standalone mode. Errors are go-zookeeper's
// sentinels (zk.ErrNoNode, zk.ErrNodeExists, zk.ErrBadVersion) in both.
type kv interface {
	Get(p string) ([]byte, int32, error)
	// Children returns the child names of p (nil when p does not exist).
	Children(p string) ([]string, error)
	// Create creates p (and missing parents) with data.
	Create(p string, data []byte) error
	// Set replaces p's data if its version is version (-1: any).
	Set(p string, data []byte, version int32) error
	Delete(p string, version int32) error
	// Sync makes the following reads see every write committed before it
	// (ZooKeeper's sync: the store session may be served by a lagging
	// follower; Livy's Curator client shares one session with its latch).
	Sync() error
	Close()
}

// zkKV is a kv on its own ZooKeeper session. go-zookeeper has no chroot
// support, so the connect string's chroot is prefixed here.
type zkKV struct {
	conn   *zk.Conn
	chroot string
	acl    []zk.ACL // of the nodes it creates
}

// ZKAuth is a ZooKeeper credential (AddAuth's scheme and auth).
type ZKAuth struct {
	Scheme string // e.g. "digest"
	Auth   []byte // e.g. "user:password"
}

// zkOptions are the discovery options of cfg's ZooKeeper credentials and
// TLS.
func (cfg *Config) zkOptions() []discovery.Option {
	var opts []discovery.Option
	if cfg.ZKAuth != nil {
		opts = append(opts, discovery.WithZKAuth(cfg.ZKAuth.Scheme, cfg.ZKAuth.Auth))
	}
	if cfg.ZKTLS != nil {
		opts = append(opts, discovery.WithZKTLS(cfg.ZKTLS))
	}
	return opts
}

// dialKV opens the state store's own session, with cfg's credentials and
// TLS. With credentials, its nodes are creator-all + world-read, as the
// registrar's are.
func dialKV(cs discovery.ConnectString, cfg *Config, log *slog.Logger) (*zkKV, error) {
	dial := net.DialTimeout
	if cfg.ZKTLS != nil {
		tc := cfg.ZKTLS.Clone()
		dial = func(network, address string, timeout time.Duration) (net.Conn, error) {
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: tc}
			return d.Dial(network, address)
		}
	}
	conn, _, err := zk.Connect(cs.Servers, cfg.SessionTimeout,
		zk.WithLogInfo(false), zk.WithLogger(zkLogger{log}), zk.WithDialer(dial))
	if err != nil {
		return nil, fmt.Errorf("%w: state store: %w", discovery.ErrUnavailable, err)
	}
	kv := &zkKV{conn: conn, chroot: cs.Chroot, acl: zk.WorldACL(zk.PermAll)}
	if a := cfg.ZKAuth; a != nil {
		// go-zookeeper sends it again on every reconnection.
		if err := conn.AddAuth(a.Scheme, a.Auth); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w: state store: ZooKeeper credentials: %w", discovery.ErrUnavailable, err)
		}
		kv.acl = append([]zk.ACL{{Perms: zk.PermAll, Scheme: "auth"}}, zk.WorldACL(zk.PermRead)...)
	}
	return kv, nil
}

func (z *zkKV) abs(p string) string { return z.chroot + p }

func (z *zkKV) Get(p string) ([]byte, int32, error) {
	d, st, err := z.conn.Get(z.abs(p))
	if err != nil {
		return nil, 0, err
	}
	return d, st.Version, nil
}

func (z *zkKV) Children(p string) ([]string, error) {
	kids, _, err := z.conn.Children(z.abs(p))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	return kids, err
}

func (z *zkKV) Create(p string, data []byte) error {
	_, err := z.conn.Create(z.abs(p), data, 0, z.acl)
	if !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	// Parents missing: create them (creatingParentsIfNeeded, as Livy).
	full := z.abs(path.Dir(p))
	for i := 1; i <= len(full); i++ {
		if i != len(full) && full[i] != '/' {
			continue
		}
		if _, err := z.conn.Create(full[:i], nil, 0, z.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	_, err = z.conn.Create(z.abs(p), data, 0, z.acl)
	return err
}

func (z *zkKV) Set(p string, data []byte, version int32) error {
	_, err := z.conn.Set(z.abs(p), data, version)
	return err
}

func (z *zkKV) Delete(p string, version int32) error { return z.conn.Delete(z.abs(p), version) }

func (z *zkKV) Sync() error {
	_, err := z.conn.Sync("/")
	return err
}

func (z *zkKV) Close() { z.conn.Close() }

// GetW is Get with a data watch: the channel receives one event when p's
// data changes or p is deleted (or EventNotWatching when the session ends).
// Only the ZooKeeper kv has it: the modes that watch need ZooKeeper.
func (z *zkKV) GetW(p string) ([]byte, int32, <-chan zk.Event, error) {
	d, st, ch, err := z.conn.GetW(z.abs(p))
	if err != nil {
		return nil, 0, nil, err
	}
	return d, st.Version, ch, nil
}

// zkLogger adapts go-zookeeper's Printf logger to slog (debug level).
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	if z.l.Enabled(context.Background(), slog.LevelDebug) {
		z.l.Debug(fmt.Sprintf("zk: "+format, args...))
	}
}

// memKV is the standalone kv: a map with ZooKeeper-like versions.
type memKV struct {
	mu    sync.Mutex
	nodes map[string]*memNode
}

type memNode struct {
	data    []byte
	version int32
}

func newMemKV() *memKV { return &memKV{nodes: make(map[string]*memNode)} }

func (m *memKV) Get(p string) ([]byte, int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[p]
	if !ok {
		return nil, 0, zk.ErrNoNode
	}
	return slices.Clone(n.data), n.version, nil
}

func (m *memKV) Children(p string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var kids []string
	for k := range m.nodes {
		if path.Dir(k) == p {
			kids = append(kids, path.Base(k))
		}
	}
	return kids, nil
}

func (m *memKV) Create(p string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.nodes[p]; ok {
		return zk.ErrNodeExists
	}
	m.nodes[p] = &memNode{data: slices.Clone(data)}
	return nil
}

func (m *memKV) Set(p string, data []byte, version int32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[p]
	switch {
	case !ok:
		return zk.ErrNoNode
	case version != -1 && version != n.version:
		return zk.ErrBadVersion
	}
	n.data = slices.Clone(data)
	n.version++
	return nil
}

func (m *memKV) Delete(p string, version int32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[p]
	switch {
	case !ok:
		return zk.ErrNoNode
	case version != -1 && version != n.version:
		return zk.ErrBadVersion
	}
	delete(m.nodes, p)
	return nil
}

func (m *memKV) Sync() error { return nil }

func (m *memKV) Close() {}

// store is Livy's SessionStore layout on a kv:
//
//	<base>/batch/state        {"nextSessionId":N}   (multi-active, session HA: state-<server id>)
//	<base>/batch/<id>         BatchRecoveryMetadata + "livytest" extras
//	<base>/interactive/...    the same for interactive sessions
//
// where base is "/<state prefix>/v1". In active-active mode livytest adds
// a name index of its own (Livy has none; see namePath):
//
//	<base>/batch-name/<base64url(name)>         data: the session id
//	<base>/interactive-name/<base64url(name)>
type store struct {
	kv    kv
	base  string
	multi bool // multi-active: per-server counters, ids prefixed with the server id
	id    int

	// livy: Livy's own counter (the Livy profiles): in memory, seeded from
	// <base>/<type>/state at recovery, and written back blindly after
	// each allocation (see livyNextID).
	livy bool
	cmu  sync.Mutex
	next map[string]int
}

func (st *store) dir(kind string) string          { return st.base + "/" + kind }
func (st *store) path(kind string, id int) string { return st.dir(kind) + "/" + strconv.Itoa(id) }

// namePath is the active-active name claim of a session called name: a
// node whose atomic creation makes names unique cluster-wide. Livy's
// SessionStore has no such key (each Livy checks names against its own
// memory, SessionManager.scala:102-120); base64url keeps any name a valid
// znode name (never "." or "..", no "/").
func (st *store) namePath(kind, name string) string {
	return st.base + "/" + kind + "-name/" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func (st *store) counterPath(kind string) string {
	if st.multi {
		return st.dir(kind) + "/state-" + strconv.Itoa(st.id)
	}
	return st.dir(kind) + "/state"
}

type managerState struct {
	NextSessionID int `json:"nextSessionId"`
}

// nextID is Livy's SessionManager.nextId: it returns the counter and stores
// counter+1, with a version check so that two servers never hand out the
// same id.
func (st *store) nextID(kind string) (int, error) {
	if st.livy {
		return st.livyNextID(kind)
	}
	p := st.counterPath(kind)
	for {
		data, version, err := st.kv.Get(p)
		n := 0
		switch {
		case errors.Is(err, zk.ErrNoNode):
			b, _ := json.Marshal(managerState{NextSessionID: 1})
			err = st.kv.Create(p, b)
			if errors.Is(err, zk.ErrNodeExists) {
				continue
			}
		case err != nil:
			return 0, err
		default:
			var ms managerState
			if err := json.Unmarshal(data, &ms); err != nil {
				return 0, fmt.Errorf("state store: %s: %w", p, err)
			}
			n = ms.NextSessionID
			if n < 0 || (st.multi && n >= discovery.SessionIDBlock) {
				return 0, fmt.Errorf("state store: %s: session counter %d out of range", p, n)
			}
			b, _ := json.Marshal(managerState{NextSessionID: n + 1})
			err = st.kv.Set(p, b, version)
			if errors.Is(err, zk.ErrBadVersion) {
				continue
			}
		}
		if err != nil {
			return 0, err
		}
		if st.multi {
			return st.id*discovery.SessionIDBlock + n, nil
		}
		return n, nil
	}
}

// livyNextID is SessionManager.nextId as Livy has it: the id comes from an
// in-memory counter (seeded at recovery, SessionManager.scala@0.9:75,
// 212-214), which is then stored with an unconditional write
// (SessionStore.saveNextSessionId → ZooKeeperManager.set: exists ?
// setData : create, ZooKeeperManager.scala@0.9:86-93). Two servers that
// both believe they are active therefore hand out the same ids and
// overwrite each other's counter and records.
func (st *store) livyNextID(kind string) (int, error) {
	st.cmu.Lock()
	defer st.cmu.Unlock()
	if st.next == nil {
		st.next = make(map[string]int)
	}
	id := st.next[kind]
	st.next[kind] = id + 1
	b, _ := json.Marshal(managerState{NextSessionID: id + 1})
	if err := st.setBlind(st.counterPath(kind), b); err != nil {
		return 0, err
	}
	return id, nil
}

// seed sets the in-memory counter of the Livy profiles from the store, as
// recovery does: SessionStore.getNextSessionId, 0 when the node is
// missing (SessionStore.scala@0.9:76-79).
func (st *store) seed(kind string) error {
	n := 0
	data, _, err := st.kv.Get(st.counterPath(kind))
	switch {
	case errors.Is(err, zk.ErrNoNode):
	case err != nil:
		return err
	default:
		var ms managerState
		if err := json.Unmarshal(data, &ms); err != nil {
			return fmt.Errorf("state store: %s: %w", st.counterPath(kind), err)
		}
		n = ms.NextSessionID
	}
	st.cmu.Lock()
	if st.next == nil {
		st.next = make(map[string]int)
	}
	st.next[kind] = n
	st.cmu.Unlock()
	return nil
}

// setBlind is ZooKeeperManager.set: set the data whatever the version, or
// create the node (and its parents) when it does not exist.
func (st *store) setBlind(p string, data []byte) error {
	for {
		err := st.kv.Set(p, data, -1)
		if !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		err = st.kv.Create(p, data)
		if !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
}

// ids lists the numeric children of kind's directory, in ascending order
// (Livy ignores non-numeric children such as "state").
func (st *store) ids(kind string) ([]int, error) {
	kids, err := st.kv.Children(st.dir(kind))
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, k := range kids {
		if k == "" || strings.TrimLeft(k, "0123456789") != "" {
			continue
		}
		if id, err := strconv.Atoi(k); err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
