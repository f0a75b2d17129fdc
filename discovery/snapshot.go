package discovery

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors of resolution.
var (
	// ErrNoLeader: no leader is known (no latch participant maps to a
	// usable server, or the latch is empty).
	ErrNoLeader = errors.New("discovery: no leader")
	// ErrNoServers: no usable server is registered.
	ErrNoServers = errors.New("discovery: no servers registered")
	// ErrNoOwner: the server owning the session is not registered.
	ErrNoOwner = errors.New("discovery: no server owns the session")
)

// Server is one Livy server as seen in a Snapshot.
type Server struct {
	ServerRecord
	// Name is the server's name in its layout: the decimal id in the
	// canonical layout, the participant id of a PR #212 latch, the node
	// name of a PR #276 service or a Hive registration, the host:port of
	// a static endpoint.
	Name string `json:"name"`
	// HostPort is the host:port of URL (the scheme's port when the URL
	// has none), or the Thrift address for servers known only by it
	// (Hive namespaces), for scripts and membership checks.
	HostPort string `json:"-"`
	// ThriftAuth is the Thrift authentication a Hive registration
	// publishes (NONE, NOSASL, KERBEROS, …), if any.
	ThriftAuth string `json:"thrift_auth,omitempty"`
	// Node is the name of the znode the server was read from, if any.
	Node string `json:"-"`
	// Sequence is the record's ZooKeeper sequence number (registration
	// order), -1 when unknown.
	Sequence int64 `json:"-"`
	// Leader is true for the leader.
	Leader bool `json:"leader"`
}

// Problem is a znode (or endpoint) that discovery skipped, and why.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// State is one view of a cluster as a Source reads it; the Resolver turns
// each published State into an immutable Snapshot.
type State struct {
	// Mode is how sessions map to servers in this cluster.
	Mode Mode
	// Servers holds every usable server in registration order. Names must
	// be unique; Leader flags are ignored (see Leader).
	Servers []Server
	// Leader is the Name of the leader, "" when there is none.
	Leader string
	// NoLeader explains why there is no leader (nil: ErrNoLeader). It
	// should wrap ErrNoLeader.
	NoLeader error
	// Elected reports whether the cluster elects a leader at all (a latch
	// exists and has participants); without one, MultiActive and
	// SessionHA clusters answer Active with any live server.
	Elected bool
	// Empty explains why Servers is empty (nil: ErrNoServers); it should
	// wrap ErrNoServers and say what was read and what else is there.
	Empty error
	// Problems lists what was skipped, with the reason.
	Problems []Problem
	// Owners answers per-session ownership (SessionHA); nil otherwise.
	Owners Owners
	// Source says what was read, e.g. "zk 127.0.0.1:2181 /livy (canonical)".
	Source string
	// Revision must change when something the other fields do not show
	// changed (a session's owner), so that the Resolver publishes a new
	// snapshot; 0 otherwise.
	Revision uint64
}

// Owners tells which server owns a session when ownership is stored per
// session (SessionHA). Implementations must be safe for concurrent use
// and must not allocate on a cache hit.
type Owners interface {
	// Owner returns the id of the server owning the session. known is
	// false when no record exists (the id prefix then decides) or, with
	// fetch false, when the record is not cached yet. With fetch true it
	// may block (bounded by ctx) to read the record and then keeps it
	// cached and up to date.
	Owner(ctx context.Context, kind SessionKind, id int, fetch bool) (serverID int, known bool, err error)
}

// Snapshot is an immutable view of the cluster. Consumers pick from it;
// they never talk to ZooKeeper.
type Snapshot struct {
	// Mode is the cluster's mode; Active and Owner follow it.
	Mode Mode
	// Servers holds every usable server, the leader first, then in
	// registration order.
	Servers []Server
	// Problems lists what was skipped, with the reason.
	Problems []Problem
	// Source says what was read.
	Source string
	// Version increases by one with each published snapshot.
	Version uint64
	// Time is when the snapshot was built.
	Time time.Time

	ready    bool
	leader   int // index into Servers, -1 for none
	elected  bool
	byID     map[int]int
	byName   map[string]int
	members  map[string]struct{}
	owners   Owners
	changed  chan struct{}
	noLeader error // allocated once per snapshot so warm lookups do not allocate
	empty    error
	noneErr  error // no leader because no servers: wraps both
	revision uint64
}

func emptySnapshot(mode Mode) *Snapshot {
	return &Snapshot{Mode: mode, leader: -1, changed: make(chan struct{}), noLeader: ErrNoLeader, empty: ErrNoServers, noneErr: ErrNoLeader}
}

// Ready reports whether the snapshot was built from a source's reading
// (the zero snapshot a Resolver holds before its first read is not ready).
func (s *Snapshot) Ready() bool { return s.ready }

// Changed returns a channel that is closed when a newer snapshot replaces
// this one.
func (s *Snapshot) Changed() <-chan struct{} { return s.changed }

// Leader returns the leader.
func (s *Snapshot) Leader() (Server, bool) {
	if s.leader < 0 {
		return Server{}, false
	}
	return s.Servers[s.leader], true
}

// HasLatch reports whether the cluster elects a leader (a latch with
// participants).
func (s *Snapshot) HasLatch() bool { return s.elected }

// ServerByID returns the server registered with numeric id.
func (s *Snapshot) ServerByID(id int) (Server, bool) {
	i, ok := s.byID[id]
	if !ok {
		return Server{}, false
	}
	return s.Servers[i], true
}

// ServerByName returns the server with Name name.
func (s *Snapshot) ServerByName(name string) (Server, bool) {
	i, ok := s.byName[name]
	if !ok {
		return Server{}, false
	}
	return s.Servers[i], true
}

// IsMember reports whether hostport ("host:port") is the REST or Thrift
// address of a known server.
func (s *Snapshot) IsMember(hostport string) bool {
	_, ok := s.members[hostport]
	return ok
}

// Err returns why the snapshot has no usable server, or nil.
func (s *Snapshot) Err() error {
	if len(s.Servers) == 0 {
		return s.empty
	}
	return nil
}

// Active returns the server to send work that is not session-scoped to:
// the leader. Without leader election (ActiveActive; MultiActive and
// SessionHA without a latch) it is a random live server.
func (s *Snapshot) Active() (Server, error) {
	if s.leader >= 0 {
		return s.Servers[s.leader], nil
	}
	if len(s.Servers) == 0 {
		if s.Mode == ActivePassive {
			return Server{}, s.noneErr
		}
		return Server{}, s.empty
	}
	if s.Mode == ActiveActive || (s.Mode != ActivePassive && !s.elected) {
		return s.Servers[rand.IntN(len(s.Servers))], nil
	}
	return Server{}, s.noLeader
}

// Owner returns the server owning session id of kind, from the snapshot
// alone (a SessionHA record not cached yet counts as absent; Resolver.Owner
// reads it).
func (s *Snapshot) Owner(kind SessionKind, id int) (Server, error) {
	return s.owner(context.Background(), kind, id, false)
}

func (s *Snapshot) owner(ctx context.Context, kind SessionKind, id int, fetch bool) (Server, error) {
	switch s.Mode {
	case MultiActive, SessionHA:
	default:
		return s.Active()
	}
	if id < 0 {
		return Server{}, errNegativeSession
	}
	sid := id / SessionIDBlock
	if s.Mode == SessionHA && s.owners != nil {
		owner, known, err := s.owners.Owner(ctx, kind, id, fetch)
		if err != nil {
			return Server{}, err
		}
		if known {
			sid = owner
		}
	}
	if i, ok := s.byID[sid]; ok {
		return s.Servers[i], nil
	}
	return Server{}, &ownerError{session: id, server: sid}
}

var errNegativeSession = &ownerError{session: -1}

type ownerError struct{ session, server int }

func (e *ownerError) Error() string {
	if e.session < 0 {
		return "discovery: negative session id has no owner"
	}
	return "discovery: server " + strconv.Itoa(e.server) +
		" (owner of session " + strconv.Itoa(e.session) + ") is not registered"
}

func (e *ownerError) Is(target error) bool { return target == ErrNoOwner }

// buildSnapshot turns a source's State into a snapshot: the leader first,
// the rest in the given order; servers whose name repeats are skipped.
func buildSnapshot(st State) *Snapshot {
	s := &Snapshot{Mode: st.Mode, Source: st.Source, leader: -1, elected: st.Elected, ready: true,
		Time: time.Now(), owners: st.Owners, revision: st.Revision, Problems: capProblems(st.Problems),
		byID: make(map[int]int), byName: make(map[string]int), members: make(map[string]struct{})}
	s.Servers = make([]Server, 0, len(st.Servers))
	seen := make(map[string]bool, len(st.Servers))
	for _, srv := range st.Servers {
		if seen[srv.Name] {
			s.Problems = append(s.Problems, Problem{Path: srv.Node, Reason: "server name " + strconv.Quote(srv.Name) + " listed twice; skipped"})
			continue
		}
		seen[srv.Name] = true
		srv.Leader = false
		s.Servers = append(s.Servers, srv)
	}
	if st.Leader != "" {
		if i := slices.IndexFunc(s.Servers, func(x Server) bool { return x.Name == st.Leader }); i >= 0 {
			ld := s.Servers[i]
			ld.Leader = true
			copy(s.Servers[1:i+1], s.Servers[:i])
			s.Servers[0] = ld
			s.leader = 0
			s.elected = true
		}
	}
	s.noLeader = st.NoLeader
	if s.noLeader == nil {
		s.noLeader = ErrNoLeader
	}
	s.empty = st.Empty
	if s.empty == nil {
		s.empty = ErrNoServers
	}
	why := strings.TrimPrefix(s.empty.Error(), "discovery: ")
	if st.Elected && st.NoLeader != nil {
		// The latch says more (an unreadable id, an unknown one) than the
		// missing records.
		why = strings.TrimPrefix(strings.TrimPrefix(st.NoLeader.Error(), "discovery: "), "no leader: ") + "; " + why
	}
	s.noneErr = &bothErr{msg: "discovery: no leader: " + why, errs: []error{s.noLeader, s.empty}}
	for i, srv := range s.Servers {
		if srv.ID >= 0 {
			if _, dup := s.byID[srv.ID]; !dup {
				s.byID[srv.ID] = i
			}
		}
		s.byName[srv.Name] = i
		if srv.HostPort != "" {
			s.members[srv.HostPort] = struct{}{}
		}
		if srv.Thrift != "" {
			s.members[srv.Thrift] = struct{}{}
		}
	}
	return s
}

// MaxProblems bounds the problems a snapshot lists; beyond it, the last
// entry counts the rest (a namespace full of garbage must not cost every
// client megabytes).
const MaxProblems = 1000

func capProblems(ps []Problem) []Problem {
	if len(ps) <= MaxProblems {
		return slices.Clone(ps)
	}
	out := slices.Clone(ps[:MaxProblems-1])
	return append(out, Problem{Path: "…", Reason: strconv.Itoa(len(ps)-MaxProblems+1) + " more problems (" + strconv.Itoa(len(ps)) + " in all) not listed"})
}

// sameContent reports whether two snapshots describe the same cluster.
func sameContent(a, b *Snapshot) bool {
	return a.ready == b.ready && a.Mode == b.Mode && a.leader == b.leader && a.elected == b.elected &&
		a.Source == b.Source && a.revision == b.revision && slices.Equal(a.Servers, b.Servers) && slices.Equal(a.Problems, b.Problems) &&
		a.noLeader.Error() == b.noLeader.Error() && a.empty.Error() == b.empty.Error()
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

type bothErr struct {
	msg  string
	errs []error
}

func (b *bothErr) Error() string   { return b.msg }
func (b *bothErr) Unwrap() []error { return b.errs }

func wrapf(sentinel error, msg string) error { return &wrapped{msg: msg, err: sentinel} }

// wrapOnce returns an error that matches both sentinel and err, whose text
// names sentinel once: "discovery: <sentinel>: <context>: <err without its
// own "discovery: " prefix>", so no message reads "discovery: …: discovery: …".
func wrapOnce(sentinel error, context string, err error) error {
	msg := sentinel.Error()
	if context != "" {
		msg += ": " + context
	}
	msg += ": " + strings.TrimPrefix(err.Error(), "discovery: ")
	return &bothErr{msg: msg, errs: []error{sentinel, err}}
}
