package discovery

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/livyha/livyha/discovery/layout"
)

// The layouts of Livy's HA proposals (formats in package layout: pr212.go,
// pr189.go, pr276.go).

// pr212Layout reads a PR #212 (LIVY-11) cluster: a Curator LeaderLatch at
// /<key prefix>/leader whose participant ids are strings; every configured
// server (livy.server.ha.server-ids / server-hostnames) is a member.
type pr212Layout struct {
	conf layout.PR212Config
	from string // where the configuration came from, for messages
}

func (p *pr212Layout) mode() Mode { return ActivePassive }
func (p *pr212Layout) name() string {
	return "PR #212 latch " + p.conf.LatchPath + " (servers from " + p.from + ")"
}

func (p *pr212Layout) specs() []zkSpec {
	return []zkSpec{{path: p.conf.LatchPath, kind: specLatch}}
}

func (p *pr212Layout) build(reads []zkRead) State {
	st := State{Mode: ActivePassive}
	for i, s := range p.conf.Servers() {
		srv := Server{ServerRecord: ServerRecord{ID: -1, URL: s.URL, Thrift: s.Thrift}, Name: s.ID, Sequence: int64(i)}
		if t := p.conf.Thrift; t != nil && s.Thrift != "" {
			srv.ThriftTransport, srv.ThriftHTTPPath = t.Transport, t.HTTPPath
		}
		if host, port, err := layout.URLHostPort(s.URL); err == nil {
			srv.HostPort = net.JoinHostPort(host, strconv.Itoa(port))
		}
		st.Servers = append(st.Servers, srv)
	}
	latch := reads[0]
	st.Elected = latch.latched
	switch {
	case latch.leaderData != nil:
		lpath := layout.JoinPath(p.conf.LatchPath, latch.leaderNode)
		id, err := layout.ParsePR212Participant(latch.leaderData)
		switch {
		case err != nil:
			st.Problems = append(st.Problems, Problem{Path: lpath, Reason: "latch leader: " + err.Error()})
			st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: latch leader "+lpath+" has an unusable participant id")
		case !slices.Contains(p.conf.IDs, id):
			st.Problems = append(st.Problems, Problem{Path: lpath, Reason: "latch leader id " + strconv.Quote(id) + " is not in " + layout.PR212KeyServerIDs})
			st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: latch leader id "+strconv.Quote(id)+" is not one of "+
				layout.PR212KeyServerIDs+" ("+strings.Join(p.conf.IDs, ", ")+") in "+p.from)
		default:
			st.Leader = id
		}
	case latch.latched:
		st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: no participant of the latch "+p.conf.LatchPath+" is readable")
	default:
		st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: the PR #212 latch "+p.conf.LatchPath+" has no participants")
	}
	return st
}

// pr189Layout reads a PR #189 (LIVY-616) cluster: one persistent node
// whose data is the active server's URL. The node outlives its server, so
// a stale URL stays until another server overwrites it.
type pr189Layout struct{ path string }

func (p *pr189Layout) mode() Mode   { return ActivePassive }
func (p *pr189Layout) name() string { return "PR #189 node " + p.path }

func (p *pr189Layout) specs() []zkSpec {
	return []zkSpec{{path: p.path, kind: specNode,
		parse: func(_ string, data []byte) (any, error) { return layout.ParsePR189URI(data) }}}
}

func (p *pr189Layout) build(reads []zkRead) State {
	st := State{Mode: ActivePassive, Elected: true}
	r := reads[0]
	switch {
	case !r.present:
		st.Empty = wrapf(ErrNoServers, "discovery: no servers registered: "+p.path+" does not exist")
	case r.err != nil:
		st.Problems = append(st.Problems, Problem{Path: p.path, Reason: r.err.Error()})
		st.Empty = wrapf(ErrNoServers, "discovery: no servers registered: "+p.path+" does not hold a server URL")
	default:
		u := r.val.(string)
		host, port, _ := layout.URLHostPort(u) // validated by the parser
		hp := net.JoinHostPort(host, strconv.Itoa(port))
		st.Servers = []Server{{ServerRecord: ServerRecord{ID: -1, URL: u}, Name: hp, HostPort: hp, Node: p.path, Sequence: -1}}
		st.Leader = hp
	}
	return st
}

// pr276Layout reads a PR #276 (LIVY-723) cluster: an ephemeral node per
// server; no leader, every server serves.
type pr276Layout struct {
	dir    string
	scheme string
}

func (p *pr276Layout) mode() Mode   { return ActiveActive }
func (p *pr276Layout) name() string { return "PR #276 services " + p.dir }

func (p *pr276Layout) specs() []zkSpec {
	return []zkSpec{{path: p.dir, kind: specDir,
		parse: func(name string, data []byte) (any, error) { return layout.ParsePR276Service(name, data) }}}
}

func (p *pr276Layout) build(reads []zkRead) State {
	st := State{Mode: ActiveActive}
	entries := slices.Clone(reads[0].entries)
	slices.SortFunc(entries, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	for _, e := range entries {
		if e.err != nil {
			st.Problems = append(st.Problems, Problem{Path: layout.JoinPath(p.dir, e.name), Reason: e.err.Error()})
			continue
		}
		svc := e.val.(layout.PR276Service)
		u := svc.BaseURL(p.scheme)
		hp := net.JoinHostPort(layout.Unbracket(svc.Host), strconv.Itoa(svc.Port))
		st.Servers = append(st.Servers, Server{ServerRecord: ServerRecord{ID: -1, URL: u}, Name: e.name, HostPort: hp, Node: e.name, Sequence: -1})
	}
	if len(st.Servers) == 0 {
		st.Empty = wrapf(ErrNoServers, "discovery: no servers registered under "+p.dir)
	}
	return st
}

func (p *pr212Layout) home() string { return p.conf.LatchPath }
func (p *pr189Layout) home() string { return p.path }
func (p *pr276Layout) home() string { return p.dir }
