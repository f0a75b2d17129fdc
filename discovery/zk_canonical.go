package discovery

import (
	"net"
	"slices"
	"strconv"

	"github.com/livyha/livyha/discovery/layout"
)

// canonicalLayout reads livyha's own layout (package layout, canonical.go):
// <root>/servers records and the <root>/leader Curator latch.
type canonicalLayout struct {
	root        string
	md          Mode
	serversPath string
	latchPath   string
	// parsed shares one parse among records with the same data (a flood
	// of copies costs one record, not one each). Used by the source's
	// one goroutine; bounded by maxParsed distinct data.
	parsed map[string]*parsedRecord
}

type parsedRecord struct {
	rec ServerRecord
	err error
}

const (
	maxParsed     = 1024
	maxParsedSize = 1024 // bytes of data; a record is ~100
)

func newCanonicalLayout(root string, mode Mode) *canonicalLayout {
	return &canonicalLayout{root: root, md: mode,
		serversPath: layout.JoinPath(root, layout.ServersDir), latchPath: layout.JoinPath(root, layout.LeaderDir)}
}

func (c *canonicalLayout) mode() Mode   { return c.md }
func (c *canonicalLayout) name() string { return "canonical layout under " + c.root }

// canonicalEntry is a parsed server record (shared by records with the
// same data; never changed).
type canonicalEntry struct {
	rec *ServerRecord
	seq int64
}

// parse parses a record's data, once per distinct data.
func (c *canonicalLayout) parse(data []byte) (*ServerRecord, error) {
	if p, ok := c.parsed[string(data)]; ok {
		return &p.rec, p.err
	}
	rec, err := layout.ParseServerData(data)
	if len(data) > maxParsedSize {
		return &rec, err
	}
	if c.parsed == nil || len(c.parsed) >= maxParsed {
		c.parsed = make(map[string]*parsedRecord)
	}
	p := &parsedRecord{rec: rec, err: err}
	c.parsed[string(data)] = p
	return &p.rec, err
}

func (c *canonicalLayout) specs() []zkSpec {
	return []zkSpec{
		{path: c.serversPath, kind: specDir,
			accept: func(name string) (bool, string) {
				if _, err := layout.ParseServerNodeName(name); err != nil {
					return false, "not a server record node (want serverUri=<host>:<port>;version=<v>;sequence=<n>)"
				}
				return true, ""
			},
			parse: func(name string, data []byte) (any, error) {
				nn, _ := layout.ParseServerNodeName(name) // accepted above
				rec, err := c.parse(data)
				return canonicalEntry{rec: rec, seq: nn.Sequence}, err
			}},
		{path: c.latchPath, kind: specLatch},
	}
}

func (c *canonicalLayout) build(reads []zkRead) State {
	st := State{Mode: c.md}
	type rec struct {
		name  string
		e     canonicalEntry
		err   error
		owner int64
	}
	recs := make([]rec, 0, len(reads[0].entries))
	for _, e := range reads[0].entries {
		ce, _ := e.val.(canonicalEntry)
		if e.val == nil {
			ce.seq = 1 << 40
		}
		recs = append(recs, rec{name: e.name, e: ce, err: e.err, owner: e.owner})
	}
	// Records in registration order.
	slices.SortStableFunc(recs, func(a, b rec) int {
		switch {
		case a.e.seq < b.e.seq:
			return -1
		case a.e.seq > b.e.seq:
			return 1
		}
		return 0
	})
	claims := make(map[int]int)
	for _, r := range recs {
		if r.err == nil {
			claims[r.e.rec.ID]++
		}
	}
	// An id claimed twice is resolved for the leader: the record whose
	// ZooKeeper session also holds the leader's latch node is the leader's
	// (a stale record, or a second server started with the same id, is
	// not). Other duplicates are all skipped: nothing tells them apart.
	latch := reads[1]
	leaderID, leaderIDErr := -1, error(nil)
	if latch.leaderData != nil {
		leaderID, leaderIDErr = layout.ParseLatchData(latch.leaderData)
	}
	keep := ""
	if leaderIDErr == nil && leaderID >= 0 && claims[leaderID] > 1 && latch.leaderOwner != 0 {
		n := 0
		for _, r := range recs {
			if r.err == nil && r.e.rec.ID == leaderID && r.owner == latch.leaderOwner {
				keep = r.name
				n++
			}
		}
		if n != 1 {
			keep = ""
		}
	}
	for _, r := range recs {
		path := layout.JoinPath(c.serversPath, r.name)
		if r.err != nil {
			st.Problems = append(st.Problems, Problem{Path: path, Reason: r.err.Error()})
			continue
		}
		if n := claims[r.e.rec.ID]; n > 1 && keep != r.name {
			reason := "server id " + strconv.Itoa(r.e.rec.ID) + " is claimed by " + strconv.Itoa(n) + " records; all are skipped"
			if keep != "" && r.e.rec.ID == leaderID {
				reason = "server id " + strconv.Itoa(r.e.rec.ID) + " is also claimed by " + keep +
					", whose session holds the leader latch; this record is skipped (a stale record or a second server with the same id)"
			}
			st.Problems = append(st.Problems, Problem{Path: path, Reason: reason})
			continue
		}
		host, port, _ := layout.URLHostPort(r.e.rec.URL) // validated by the parser
		st.Servers = append(st.Servers, Server{
			ServerRecord: *r.e.rec,
			Name:         strconv.Itoa(r.e.rec.ID),
			HostPort:     net.JoinHostPort(host, strconv.Itoa(port)),
			Node:         r.name,
			Sequence:     r.e.seq,
		})
	}
	st.Elected = latch.latched
	if latch.leaderData != nil {
		lpath := layout.JoinPath(c.latchPath, latch.leaderNode)
		id, err := layout.ParseLatchData(latch.leaderData)
		switch {
		case err != nil:
			st.Problems = append(st.Problems, Problem{Path: lpath, Reason: "latch leader: " + err.Error()})
			st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: latch leader "+lpath+" has an unreadable id"+latchIDHint(latch.leaderData))
		case slices.IndexFunc(st.Servers, func(s Server) bool { return s.ID == id }) < 0:
			st.Problems = append(st.Problems, Problem{Path: lpath, Reason: "latch leader id " + strconv.Itoa(id) + " has no usable server record"})
			st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: latch leader id "+strconv.Itoa(id)+" has no usable server record under "+c.serversPath)
		default:
			st.Leader = strconv.Itoa(id)
		}
	} else if latch.latched {
		st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: no participant of the latch "+c.latchPath+" is readable")
	} else if len(st.Servers) > 0 && c.md == ActivePassive {
		st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: the latch "+c.latchPath+" has no participants, but "+
			strconv.Itoa(len(st.Servers))+" servers are registered under "+c.serversPath+": a multi-active cluster? use mode=multi-active (or session-ha)")
	} else {
		st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: the latch "+c.latchPath+" has no participants")
	}
	if len(st.Servers) == 0 {
		st.Empty = wrapf(ErrNoServers, "discovery: no servers registered under "+c.serversPath)
	}
	return st
}

// latchIDHint explains a latch id that is not a number: PR #212's latch
// holds free-form participant ids.
func latchIDHint(data []byte) string {
	if len(data) == 0 || len(data) > 64 {
		return ""
	}
	return " (" + strconv.Quote(string(data)) + " is not a number: a PR #212 latch? use layout=pr212 or a livy-conf: target)"
}

func (c *canonicalLayout) home() string { return c.root }
