package discovery

import (
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/livyha/livyha/discovery/layout"
)

// Sentinel errors of resolution.
var (
	// ErrNoLeader: no latch participant maps to a usable server record.
	ErrNoLeader = errors.New("discovery: no leader")
	// ErrNoServers: no usable server record is registered.
	ErrNoServers = errors.New("discovery: no servers registered")
	// ErrNoOwner: the server owning the session is not registered.
	ErrNoOwner = errors.New("discovery: no server owns the session")
)

// Server is one registered Livy server as seen in a Snapshot.
type Server struct {
	ServerRecord
	// HostPort is the host:port of URL (the scheme's port when the URL
	// has none), for scripts and membership checks.
	HostPort string `json:"-"`
	// Node is the name of the server's record znode.
	Node string `json:"-"`
	// Sequence is the record's ZooKeeper sequence number (registration order).
	Sequence int64 `json:"-"`
	// Leader is true for the latch leader.
	Leader bool `json:"leader"`
}

// Problem is a znode that discovery skipped, and why.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// Snapshot is an immutable view of the cluster. Consumers pick from it;
// they never talk to ZooKeeper.
type Snapshot struct {
	// Servers holds every usable server, the leader first, then in
	// registration order.
	Servers []Server
	// Problems lists znodes that were skipped, with the reason.
	Problems []Problem
	// Version increases by one with each published snapshot.
	Version uint64
	// Time is when the snapshot was built.
	Time time.Time

	ready   bool
	leader  int // index into Servers, -1 for none
	latched bool
	byID    map[int]int
	members map[string]struct{}
	changed chan struct{}
	// noLeaderErr explains why there is no leader; allocated once per
	// snapshot so warm lookups do not allocate.
	noLeaderErr error
}

func emptySnapshot() *Snapshot {
	return &Snapshot{leader: -1, changed: make(chan struct{}), noLeaderErr: ErrNoLeader}
}

// Ready reports whether the snapshot was built from ZooKeeper (the zero
// snapshot a Resolver holds before its first read is not ready).
func (s *Snapshot) Ready() bool { return s.ready }

// Changed returns a channel that is closed when a newer snapshot replaces
// this one.
func (s *Snapshot) Changed() <-chan struct{} { return s.changed }

// Leader returns the latch leader's server.
func (s *Snapshot) Leader() (Server, bool) {
	if s.leader < 0 {
		return Server{}, false
	}
	return s.Servers[s.leader], true
}

// HasLatch reports whether the leader latch has participants.
func (s *Snapshot) HasLatch() bool { return s.latched }

// ServerByID returns the server registered with id.
func (s *Snapshot) ServerByID(id int) (Server, bool) {
	i, ok := s.byID[id]
	if !ok {
		return Server{}, false
	}
	return s.Servers[i], true
}

// IsMember reports whether hostport ("host:port") is the REST or Thrift
// address of a registered server.
func (s *Snapshot) IsMember(hostport string) bool {
	_, ok := s.members[hostport]
	return ok
}

// Active returns the active server for mode: the leader; in MultiActive
// mode without a latch, a random live server.
func (s *Snapshot) Active(mode Mode) (Server, error) {
	if s.leader >= 0 {
		return s.Servers[s.leader], nil
	}
	if mode == MultiActive && !s.latched {
		if len(s.Servers) == 0 {
			return Server{}, ErrNoServers
		}
		return s.Servers[rand.IntN(len(s.Servers))], nil
	}
	return Server{}, s.noLeaderErr
}

// Owner returns the server owning session sessionID under mode.
func (s *Snapshot) Owner(mode Mode, sessionID int) (Server, error) {
	if mode != MultiActive {
		return s.Active(mode)
	}
	if sessionID < 0 {
		return Server{}, errNegativeSession
	}
	if i, ok := s.byID[sessionID/SessionIDBlock]; ok {
		return s.Servers[i], nil
	}
	return Server{}, &ownerError{session: sessionID}
}

var errNegativeSession = &ownerError{session: -1}

type ownerError struct{ session int }

func (e *ownerError) Error() string {
	if e.session < 0 {
		return "discovery: negative session id has no owner"
	}
	return "discovery: server " + strconv.Itoa(e.session/SessionIDBlock) +
		" (owner of session " + strconv.Itoa(e.session) + ") is not registered"
}

func (e *ownerError) Is(target error) bool { return target == ErrNoOwner }

// record entries as the builder sees them.
type builtRecord struct {
	name string
	rec  ServerRecord
	seq  int64
	err  error
}

// buildSnapshot assembles a snapshot from parsed records and the latch
// state. leaderData is the data of the first readable latch child
// (nil when the latch has no readable participant).
func buildSnapshot(serversPath string, recs []builtRecord, latchPath string, latched bool, leaderNode string, leaderData []byte) *Snapshot {
	s := &Snapshot{leader: -1, latched: latched, ready: true, Time: time.Now(),
		byID: make(map[int]int), members: make(map[string]struct{})}
	// Records in registration order.
	slices.SortStableFunc(recs, func(a, b builtRecord) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	claims := make(map[int][]string)
	for _, r := range recs {
		if r.err == nil {
			claims[r.rec.ID] = append(claims[r.rec.ID], r.name)
		}
	}
	for _, r := range recs {
		path := layout.JoinPath(serversPath, r.name)
		if r.err != nil {
			s.Problems = append(s.Problems, Problem{Path: path, Reason: r.err.Error()})
			continue
		}
		if c := claims[r.rec.ID]; len(c) > 1 {
			s.Problems = append(s.Problems, Problem{Path: path,
				Reason: "server id " + strconv.Itoa(r.rec.ID) + " is claimed by " + strconv.Itoa(len(c)) + " records; all are skipped"})
			continue
		}
		host, port, _ := layout.URLHostPort(r.rec.URL) // validated by the parser
		s.Servers = append(s.Servers, Server{
			ServerRecord: r.rec,
			HostPort:     net.JoinHostPort(host, strconv.Itoa(port)),
			Node:         r.name,
			Sequence:     r.seq,
		})
	}
	s.noLeaderErr = ErrNoLeader
	if leaderData != nil {
		lpath := layout.JoinPath(latchPath, leaderNode)
		id, err := layout.ParseLatchData(leaderData)
		leaderIdx := -1
		if err == nil {
			for i := range s.Servers {
				if s.Servers[i].ID == id {
					leaderIdx = i
				}
			}
		}
		switch {
		case err != nil:
			s.Problems = append(s.Problems, Problem{Path: lpath, Reason: "latch leader: " + err.Error()})
			s.noLeaderErr = &wrapped{msg: "discovery: no leader: latch leader " + lpath + " has an unreadable id", err: ErrNoLeader}
		case leaderIdx < 0:
			s.Problems = append(s.Problems, Problem{Path: lpath, Reason: "latch leader id " + strconv.Itoa(id) + " has no usable server record"})
			s.noLeaderErr = &wrapped{msg: "discovery: no leader: latch leader id " + strconv.Itoa(id) + " has no usable server record", err: ErrNoLeader}
		default:
			// Leader first, the rest in registration order.
			ld := s.Servers[leaderIdx]
			ld.Leader = true
			copy(s.Servers[1:leaderIdx+1], s.Servers[:leaderIdx])
			s.Servers[0] = ld
			s.leader = 0
		}
	} else if latched {
		s.noLeaderErr = &wrapped{msg: "discovery: no leader: no latch participant is readable", err: ErrNoLeader}
	}
	for i, srv := range s.Servers {
		s.byID[srv.ID] = i
		s.members[srv.HostPort] = struct{}{}
		if srv.Thrift != "" {
			s.members[srv.Thrift] = struct{}{}
		}
	}
	return s
}

// sameContent reports whether two snapshots describe the same cluster.
func sameContent(a, b *Snapshot) bool {
	return a.ready == b.ready && a.leader == b.leader && a.latched == b.latched &&
		slices.Equal(a.Servers, b.Servers) && slices.Equal(a.Problems, b.Problems) &&
		a.noLeaderErr.Error() == b.noLeaderErr.Error()
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
